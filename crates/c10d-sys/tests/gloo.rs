//! Gloo over loopback with 2 and 3 ranks (one thread per rank, each its own process group):
//! all-reduce and broadcast values, barrier, and failures that come back as errors.

use std::thread;
use std::time::{Duration, Instant};

use c10d_sys::{free_port, ProcessGroup};
use tch::Tensor;

const TIMEOUT: Duration = Duration::from_secs(20);

/// One test at a time: each picks a free port and then binds it, and tests running side by side
/// could pick the same one in between.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn run_ranks<T: Send + 'static>(world: usize, f: impl Fn(ProcessGroup) -> T + Send + Sync + Clone + 'static) -> Vec<T> {
    let port = free_port().unwrap();
    let handles: Vec<_> = (0..world)
        .map(|rank| {
            let f = f.clone();
            thread::spawn(move || f(ProcessGroup::gloo("127.0.0.1", port, rank, world, TIMEOUT).unwrap()))
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn all_reduce_broadcast_and_barrier_with_2_and_3_ranks() {
    let _serial = serial();
    for world in [2usize, 3] {
        let out = run_ranks(world, move |pg| {
            let r = pg.rank() as f32;
            // rank r holds [r+1, 2(r+1), 10]: the sum is [Σ(r+1), 2Σ(r+1), 10·world].
            let mut t = Tensor::from_slice(&[r + 1.0, 2.0 * (r + 1.0), 10.0]);
            pg.all_reduce_sum(&mut t).unwrap();
            let mut m = Tensor::from_slice(&[r, 1.0]);
            pg.all_reduce_mean(&mut m).unwrap();
            // broadcast from the last rank: everyone ends with its values.
            let mut b = Tensor::from_slice(&[r * 100.0, r]).view([1, 2]);
            pg.broadcast(&mut b, pg.world_size() - 1).unwrap();
            pg.barrier().unwrap();
            (Vec::<f32>::try_from(t).unwrap(), Vec::<f32>::try_from(m).unwrap(), Vec::<f32>::try_from(b.view([-1])).unwrap())
        });
        let s: f32 = (1..=world).map(|x| x as f32).sum();
        let last = (world - 1) as f32;
        let mean_rank = (0..world).map(|x| x as f32).sum::<f32>() / world as f32;
        for (sum, mean, b) in out {
            assert_eq!(sum, vec![s, 2.0 * s, 10.0 * world as f32], "world {world}");
            assert_eq!(mean, vec![mean_rank, 1.0], "world {world}");
            assert_eq!(b, vec![last * 100.0, last], "world {world}");
        }
    }
}

#[test]
fn the_differentiable_sum_sends_every_ranks_gradient_to_every_rank() {
    let _serial = serial();
    for world in [2usize, 3] {
        let out = run_ranks(world, move |pg| {
            let r = pg.rank() as f64;
            // x_r = [r+1, -r]; y = Σ_r x_r; rank r's loss (r+1)·Σ y², so dL_r/dy = 2(r+1)·y and the
            // gradient reaching x_r is Σ_r' 2(r'+1)·y: the same on every rank.
            let x = Tensor::from_slice(&[r + 1.0, -r]).set_requires_grad(true);
            let y = pg.all_reduce_sum_differentiable(&x).unwrap();
            (y.square().sum(tch::Kind::Double) * (r + 1.0)).backward();
            (Vec::<f64>::try_from(y.detach()).unwrap(), Vec::<f64>::try_from(x.grad()).unwrap())
        });
        let w = world as f64;
        let y = [w * (w + 1.0) / 2.0, -w * (w - 1.0) / 2.0];
        let coef: f64 = (1..=world).map(|k| 2.0 * k as f64).sum();
        for (got_y, got_g) in out {
            assert_eq!(got_y, y.to_vec(), "world {world}");
            assert_eq!(got_g, vec![coef * y[0], coef * y[1]], "world {world}");
        }
    }
}

#[test]
fn mismatched_sizes_are_an_error_on_every_rank() {
    let _serial = serial();
    let out = run_ranks(2, |pg| {
        let mut t = Tensor::zeros([3 + pg.rank() as i64], (tch::Kind::Float, tch::Device::Cpu));
        pg.all_reduce_sum(&mut t).map_err(|e| e.to_string())
    });
    for r in out {
        let e = r.unwrap_err();
        assert!(e.contains("different sizes"), "{e}");
    }
}

#[test]
fn a_missing_rank_times_out_with_an_error() {
    let _serial = serial();
    let port = free_port().unwrap();
    let t0 = Instant::now();
    // World of 2, only rank 0 comes: the rendezvous fails after the timeout, as a value.
    let e = ProcessGroup::gloo("127.0.0.1", port, 0, 2, Duration::from_secs(2)).err().expect("must fail");
    assert!(t0.elapsed() < Duration::from_secs(30), "took {:?}", t0.elapsed());
    assert!(!e.0.is_empty(), "{e}");
    let e = ProcessGroup::gloo("127.0.0.1", port, 2, 2, TIMEOUT).err().unwrap();
    assert!(e.0.contains("not in a world of 2"), "{e}");
}

#[test]
fn a_peer_that_leaves_makes_the_next_collective_fail() {
    let _serial = serial();
    let port = free_port().unwrap();
    let peer = thread::spawn(move || {
        let pg = ProcessGroup::gloo("127.0.0.1", port, 1, 2, TIMEOUT).unwrap();
        pg.barrier().unwrap();
        drop(pg); // leaves
    });
    let pg = ProcessGroup::gloo("127.0.0.1", port, 0, 2, TIMEOUT).unwrap();
    pg.barrier().unwrap();
    peer.join().unwrap();
    let t0 = Instant::now();
    let mut t = Tensor::from_slice(&[1.0f32]);
    let e = pg.all_reduce_sum(&mut t).unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(30), "took {:?}", t0.elapsed());
    assert!(!e.0.is_empty(), "{e}");
}

/// Without the `nccl` feature, asking for NCCL is an error that says how to get it, not a crash.
#[cfg(not(feature = "nccl"))]
#[test]
fn nccl_without_the_feature_is_an_error_value() {
    assert!(!c10d_sys::NCCL_BUILT);
    let e = ProcessGroup::nccl("127.0.0.1", 1, 0, 1, Duration::from_secs(1)).err().expect("must fail");
    assert!(e.0.contains("without NCCL") && e.0.contains("cuda"), "{e}");
}
