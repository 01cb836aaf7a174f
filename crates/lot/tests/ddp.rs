//! Data-parallel LoT over c10d Gloo (loopback, one thread per rank): 2 ranks, each with half of
//! every teacher and student batch, end with the weights of one process that sees the whole
//! batches (gradients averaged before clipping and stepping), within 1e-5; and ranks that start
//! from different weights agree after the broadcast from rank 0.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use lot::dist::{broadcast_weights, DataParallel};
use lot::engine::{Engine, LossMode, LotLoss, LotModels, Stream};
use lot::optim::{named_trainable, Optimizer, Sgd, SgdConfig};
use tch::nn::{self, Init};
use tch::{Device, Kind, Tensor};

const D: i64 = 6;
const C: i64 = 4;
const B: i64 = 8;
const N: usize = 3;
const STEPS: usize = 4;

/// Teacher and one student, both linear classifiers.
struct Toy {
    stores: Vec<nn::VarStore>,
    params: Vec<(Tensor, Tensor)>,
}

impl Toy {
    fn new(seed: i64) -> Self {
        let (mut stores, mut params) = (Vec::new(), Vec::new());
        for m in 0..2 {
            tch::manual_seed(seed + m);
            let vs = nn::VarStore::new(Device::Cpu);
            let w = vs.root().var("w", &[D, C], Init::Randn { mean: 0.0, stdev: 0.5 });
            let b = vs.root().var("b", &[C], Init::Randn { mean: 0.0, stdev: 0.1 });
            stores.push(vs);
            params.push((w, b));
        }
        Self { stores, params }
    }
    fn logits(&self, m: usize, x: &Tensor) -> Tensor {
        x.matmul(&self.params[m].0) + &self.params[m].1
    }
    fn weights(&self) -> Vec<Tensor> {
        self.params.iter().flat_map(|(w, b)| [w.detach().copy(), b.detach().copy()]).collect()
    }
}

impl LotModels for Toy {
    type Batch = (Tensor, Tensor);
    type Stats = ();
    fn forward(&mut self, m: usize, (x, y): &Self::Batch, _s: Stream) -> (Tensor, Tensor, ()) {
        let l = self.logits(m, x);
        let ce = l.cross_entropy_for_logits(y);
        (l, ce, ())
    }
    fn forward_ce(&mut self, m: usize, (x, y): &Self::Batch, _s: Stream) -> Option<(Tensor, Tensor)> {
        Some((self.logits(m, x), y.shallow_clone()))
    }
}

fn engine(toy: &Toy) -> Engine {
    let optims: Vec<Box<dyn Optimizer>> = toy
        .stores
        .iter()
        .map(|vs| Box::new(Sgd::new(named_trainable(vs), SgdConfig { lr: 0.3, momentum: 0.9, nesterov: true, weight_decay: 1e-3 })) as Box<dyn Optimizer>)
        .collect();
    let loss = LotLoss { mode: LossMode::KlCe, alpha: 0.5, temperature: 1.5, detach: true };
    Engine::new(loss, N, optims, Some(1.0))
}

/// A teacher batch and its N−1 student batches.
type Step = ((Tensor, Tensor), Vec<(Tensor, Tensor)>);

/// Teacher batch per step, and N−1 student batches per step (whole batches of B rows).
fn data() -> Vec<Step> {
    tch::manual_seed(42);
    let batch = || (Tensor::randn([B, D], (Kind::Float, Device::Cpu)), Tensor::randint(C, [B], (Kind::Int64, Device::Cpu)));
    (0..STEPS).map(|_| (batch(), (1..N).map(|_| batch()).collect())).collect()
}

fn shard((x, y): &(Tensor, Tensor), rank: i64, world: i64) -> (Tensor, Tensor) {
    let n = B / world;
    (x.narrow(0, rank * n, n), y.narrow(0, rank * n, n))
}

fn train(toy: &mut Toy, e: &mut Engine, data: &[Step], rank: i64, world: i64) {
    for (teacher, students) in data {
        let batch = shard(teacher, rank, world);
        let mut next = students.iter().map(|b| shard(b, rank, world));
        e.lot_step(toy, &batch, || Ok(next.next().unwrap())).unwrap();
    }
}

#[test]
fn two_ranks_with_half_batches_match_one_process_with_whole_batches() {
    let data = data();
    let copy = |d: &[Step]| -> Vec<Step> {
        d.iter().map(|((x, y), s)| ((x.copy(), y.copy()), s.iter().map(|(a, b)| (a.copy(), b.copy())).collect())).collect()
    };
    let mut single = Toy::new(7);
    let mut e = engine(&single);
    train(&mut single, &mut e, &data, 0, 1);
    let want = single.weights();

    let port = c10d_sys::free_port().unwrap();
    // Models are made here, one after the other: libtorch's generator is global, and threads
    // seeding it at once would race. Rank 1 starts from other weights; the broadcast makes them
    // rank 0's.
    let toys = vec![Toy::new(7), Toy::new(99)];
    let ranks: Vec<_> = toys
        .into_iter()
        .enumerate()
        .map(|(rank, mut toy)| {
            let rank = rank as i64;
            let data = copy(&data); // tensors are Send, not Sync: each rank gets its own copy
            thread::spawn(move || {
                let pg = Arc::new(c10d_sys::ProcessGroup::gloo("127.0.0.1", port, rank as usize, 2, Duration::from_secs(30)).unwrap());
                broadcast_weights(&pg, &toy.stores).unwrap();
                let mut e = engine(&toy);
                e.sync = Some(Box::new(DataParallel::new(pg.clone())));
                train(&mut toy, &mut e, &data, rank, 2);
                toy.weights()
            })
        })
        .collect();
    for (rank, h) in ranks.into_iter().enumerate() {
        let got = h.join().unwrap();
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            let d = (a - b).abs().max().double_value(&[]);
            assert!(d < 1e-5, "rank {rank}, tensor {i}: differs from the single process by {d}");
        }
    }
    // The training moved the weights (the comparison is not of the initial values).
    assert!((&want[0] - &Toy::new(7).weights()[0]).abs().max().double_value(&[]) > 1e-3);
}
