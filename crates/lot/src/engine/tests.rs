//! Engine tests: losses against values computed independently in f64, gradients against closed
//! forms, and the step schedule's optimizer-step counts.

use super::*;
use crate::optim::{named_trainable, Optimizer, Sgd, SgdConfig};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

fn softmax(x: &[f64], temp: f64) -> Vec<f64> {
    let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| ((v - m) / temp).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// KL(softmax(q/T) ‖ softmax(p/T))·T², averaged over rows — by hand.
fn kl_hand(p: &[Vec<f64>], q: &[Vec<f64>], temp: f64) -> f64 {
    let mut total = 0.0;
    for (pr, qr) in p.iter().zip(q) {
        let (ps, qs) = (softmax(pr, temp), softmax(qr, temp));
        total += qs.iter().zip(&ps).map(|(a, b)| a * (a / b).ln()).sum::<f64>();
    }
    total / p.len() as f64 * temp * temp
}

fn tensor(rows: &[Vec<f64>]) -> Tensor {
    let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
    Tensor::from_slice(&flat).view([rows.len() as i64, rows[0].len() as i64])
}

fn p_rows() -> Vec<Vec<f64>> {
    vec![vec![1.0, 2.0, 3.0, -1.0], vec![0.5, -0.5, 0.0, 2.0]]
}
fn q_rows() -> Vec<Vec<f64>> {
    vec![vec![0.0, 0.0, 1.0, 0.3], vec![2.0, 1.0, -1.0, 0.0]]
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
}

#[test]
fn kl_div_logits_matches_hand_computation() {
    for temp in [1.0, 1.5, 4.0] {
        let got = kl_div_logits(&tensor(&p_rows()), &tensor(&q_rows()), temp).double_value(&[]);
        close(got, kl_hand(&p_rows(), &q_rows(), temp));
    }
    // KL of a distribution with itself is zero; the argument order matters.
    close(kl_div_logits(&tensor(&p_rows()), &tensor(&p_rows()), 1.5).double_value(&[]), 0.0);
    let ab = kl_hand(&p_rows(), &q_rows(), 1.0);
    let ba = kl_hand(&q_rows(), &p_rows(), 1.0);
    assert!((ab - ba).abs() > 1e-3);
}

#[test]
fn kl_gradient_matches_closed_form() {
    // d/dp [T²·KL(q‖p)] with batchmean = T·(softmax(p/T) − softmax(q/T)) / B.
    let temp = 1.5;
    let p = tensor(&p_rows()).set_requires_grad(true);
    kl_div_logits(&p, &tensor(&q_rows()), temp).backward();
    let g: Vec<f32> = Vec::try_from(p.grad().flatten(0, -1)).unwrap();
    let mut k = 0;
    for (pr, qr) in p_rows().iter().zip(q_rows()) {
        let (ps, qs) = (softmax(pr, temp), softmax(&qr, temp));
        for j in 0..4 {
            close(g[k] as f64, temp * (ps[j] - qs[j]) / 2.0);
            k += 1;
        }
    }
}

fn lot(mode: LossMode) -> LotLoss {
    LotLoss { mode, alpha: 0.7, temperature: 1.5, detach: true }
}

#[test]
fn loss_modes_match_their_definitions() {
    let (t_logits, s_logits) = (tensor(&p_rows()), tensor(&q_rows()));
    let (tr, sr) = (p_rows(), q_rows());
    let task_t = Tensor::from(0.25f32);
    let task_s = Tensor::from(0.5f32);
    let kl_st = kl_hand(&tr, &sr, 1.5); // KL(p_s ‖ p_t): the teacher's regulariser
    let kl_ts = kl_hand(&sr, &tr, 1.5); // KL(p_t ‖ p_s): the student's imitation
    let a = 0.7;
    let cases = [
        (LossMode::Kl, 0.25 + a * kl_st, kl_ts),
        (LossMode::KlCe, 0.25 + a * kl_st, 0.5 + a * kl_ts),
        (LossMode::SymmetricKl, 0.25 + a * (kl_st + kl_ts), kl_ts + kl_st),
        (LossMode::SymmetricKlCe, 0.25 + a * (kl_st + kl_ts), 0.5 + a * (kl_ts + kl_st)),
    ];
    // The definitions, and the engine's per-term functions.
    for (mode, teacher, student) in cases {
        let l = lot(mode);
        close(l.teacher_loss(&task_t, &t_logits, &[s_logits.shallow_clone()], a).double_value(&[]), teacher);
        close(l.student_loss(&task_s, &s_logits, &t_logits).double_value(&[]), student);
        close(l.teacher_loss_fused(&task_t, &t_logits, &[s_logits.shallow_clone()], a).double_value(&[]), teacher);
        close(l.student_loss_fused(&task_s, &s_logits, &t_logits).double_value(&[]), student);
    }
    // α = 0 leaves the teacher's task loss alone.
    close(lot(LossMode::KlCe).teacher_loss(&task_t, &t_logits, &[s_logits.shallow_clone()], 0.0).double_value(&[]), 0.25);
    close(lot(LossMode::KlCe).teacher_loss_fused(&task_t, &t_logits, &[s_logits.shallow_clone()], 0.0).double_value(&[]), 0.25);
}

/// The engine's losses with the KL's gradient written out (detach on) against the same losses built from
/// `kl_div_logits` and differentiated by autograd, in every mode: values and gradients with
/// respect to both models' logits, on [6, 7] logits at T = 1.5 (and T = 1).
#[test]
fn written_out_kl_gradient_matches_autograd() {
    let mk = |seed: i64| {
        let v: Vec<f32> = (0..42).map(|i| ((seed * 13 + i) as f32 * 0.91).sin() * 3.0).collect();
        Tensor::from_slice(&v).view([6, 7]).set_requires_grad(true)
    };
    let y = Tensor::from_slice(&[0i64, 1, 2, 3, 4, 5]);
    for mode in [LossMode::Kl, LossMode::KlCe, LossMode::SymmetricKl, LossMode::SymmetricKlCe] {
        for temp in [1.5, 1.0] {
            let l = LotLoss { temperature: temp, ..lot(mode) };
            let symmetric = matches!(mode, LossMode::SymmetricKl | LossMode::SymmetricKlCe);
            let with_task = matches!(mode, LossMode::KlCe | LossMode::SymmetricKlCe);
            // Autograd reference: the definitions with the other model's logits detached.
            let imitation = |me: &Tensor, other: &Tensor| {
                let o = other.detach();
                let f = kl_div_logits(me, &o, temp);
                if symmetric { f + kl_div_logits(&o, me, temp) } else { f }
            };
            let (t_logits, s_logits) = (mk(1), mk(2));
            let (tt, st) = (t_logits.cross_entropy_for_logits(&y), s_logits.cross_entropy_for_logits(&y));
            let teacher_ref = &tt + imitation(&t_logits, &s_logits) * 0.7;
            let student_ref = if with_task { &st + imitation(&s_logits, &t_logits) * l.alpha } else { imitation(&s_logits, &t_logits) };
            (&teacher_ref + &student_ref).backward();
            let (gt_ref, gs_ref) = (t_logits.grad().copy(), s_logits.grad().copy());
            let (t2, s2) = (mk(1), mk(2));
            let (tt2, st2) = (t2.cross_entropy_for_logits(&y), s2.cross_entropy_for_logits(&y));
            let teacher = l.teacher_loss_fused(&tt2, &t2, &[s2.shallow_clone()], 0.7);
            let student = l.student_loss_fused(&st2, &s2, &t2);
            close(teacher.double_value(&[]), teacher_ref.double_value(&[]));
            close(student.double_value(&[]), student_ref.double_value(&[]));
            (&teacher + &student).backward();
            for (name, a, b) in [("teacher", t2.grad(), gt_ref), ("student", s2.grad(), gs_ref)] {
                let d = (&a - &b).abs().max().double_value(&[]);
                let scale = b.abs().max().double_value(&[]);
                assert!(d <= 1e-5 * scale.max(1e-3), "{mode:?} T {temp} {name}: gradient differs by {d} (scale {scale})");
            }
        }
    }
}

/// A linear layer with weights from a formula (not the global generator, which parallel tests share).
fn fixed_linear(seed: i64, inp: i64, out: i64) -> (nn::VarStore, nn::Linear) {
    let vs = nn::VarStore::new(Device::Cpu);
    let mut l = nn::linear(vs.root(), inp, out, Default::default());
    let w: Vec<f32> = (0..inp * out).map(|i| ((seed * 31 + i) as f32 * 0.7).sin()).collect();
    let b: Vec<f32> = (0..out).map(|i| ((seed * 17 + i) as f32 * 1.3).cos() * 0.1).collect();
    tch::no_grad(|| {
        l.ws.copy_(&Tensor::from_slice(&w).view([out, inp]));
        l.bs.as_mut().unwrap().copy_(&Tensor::from_slice(&b));
    });
    (vs, l)
}

/// The joint step's shared log-softmaxes give the same losses, bit for bit, and the same
/// gradients as the engine's per-term functions (`*_fused`), in every mode, with and without detach, K = 1 and 2.
#[test]
fn joint_losses_equal_the_separate_losses_bitwise() {
    let x = Tensor::from_slice(&(0..30).map(|i| (i as f32 * 0.37).sin() * 2.0).collect::<Vec<f32>>()).view([6, 5]);
    let y = Tensor::from_slice(&[0i64, 1, 2, 0, 1, 2]);
    for mode in [LossMode::Kl, LossMode::KlCe, LossMode::SymmetricKl, LossMode::SymmetricKlCe] {
        for detach in [true, false] {
            for k in [1usize, 2] {
                let l = LotLoss { detach, ..lot(mode) };
                let grads = |joint: bool| {
                    let (tvs, tm) = fixed_linear(1, 5, 3);
                    let students: Vec<_> = (0..k).map(|i| fixed_linear(2 + i as i64, 5, 3)).collect();
                    let tl = tm.forward(&x);
                    let sl: Vec<Tensor> = students.iter().map(|(_, m)| m.forward(&x)).collect();
                    let tt = tl.cross_entropy_for_logits(&y);
                    let st: Vec<Tensor> = sl.iter().map(|s| s.cross_entropy_for_logits(&y)).collect();
                    let (teacher, studs) = if joint {
                        let j = l.joint_losses(&tt, &tl, &st, &sl, 0.7);
                        (j.teacher, j.students)
                    } else {
                        let s: Vec<Tensor> = (0..k).map(|i| l.student_loss_fused(&st[i], &sl[i], &tl)).collect();
                        (l.teacher_loss_fused(&tt, &tl, &sl, 0.7), s)
                    };
                    let mut values = vec![teacher.double_value(&[])];
                    values.extend(studs.iter().map(|s| s.double_value(&[])));
                    let mut total = teacher;
                    for s in studs {
                        total = total + s;
                    }
                    total.backward();
                    let mut g: Vec<Tensor> = tvs.trainable_variables().iter().map(|v| v.grad().copy()).collect();
                    for (vs, _) in &students {
                        g.extend(vs.trainable_variables().iter().map(|v| v.grad().copy()));
                    }
                    (values, g)
                };
                let (v_sep, g_sep) = grads(false);
                let (v_joint, g_joint) = grads(true);
                assert_eq!(v_sep, v_joint, "{mode:?} detach {detach} K {k}: loss values");
                for (a, b) in g_sep.iter().zip(&g_joint) {
                    let d = (a - b).abs().max().double_value(&[]);
                    assert!(d <= 1e-6, "{mode:?} detach {detach} K {k}: gradients differ by {d}");
                }
            }
        }
    }
}

#[test]
fn several_students_are_weighted_one_over_k() {
    let l = lot(LossMode::KlCe);
    let t_logits = tensor(&p_rows());
    let s1 = tensor(&q_rows());
    let s2 = tensor(&p_rows()) * 0.5;
    let r1 = l.teacher_regularizer(&t_logits, &[s1.shallow_clone()]).double_value(&[]);
    let r2 = l.teacher_regularizer(&t_logits, &[s2.shallow_clone()]).double_value(&[]);
    let both = l.teacher_regularizer(&t_logits, &[s1.shallow_clone(), s2]).double_value(&[]);
    close(both, (r1 + r2) / 2.0);
    let same = l.teacher_regularizer(&t_logits, &[s1.shallow_clone(), s1]).double_value(&[]);
    close(same, r1);
}

fn linear(seed: i64, inp: i64, out: i64) -> (nn::VarStore, nn::Linear) {
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let l = nn::linear(vs.root(), inp, out, Default::default());
    (vs, l)
}

fn grad_norm(vs: &nn::VarStore) -> f64 {
    vs.trainable_variables()
        .iter()
        .map(|p| {
            let g = p.grad();
            if g.defined() {
                g.abs().sum(Kind::Double).double_value(&[])
            } else {
                0.0
            }
        })
        .sum()
}

#[test]
fn detach_keeps_gradients_inside_each_model() {
    let x = Tensor::randn([8, 5], (Kind::Float, Device::Cpu));
    let y = Tensor::from_slice(&[0i64, 1, 2, 0, 1, 2, 0, 1]);
    // The definitions, and the engine's per-term functions.
    for (detach, fused) in [(true, false), (false, false), (true, true), (false, true)] {
        let (tvs, tm) = linear(1, 5, 3);
        let (svs, sm) = linear(2, 5, 3);
        let l = LotLoss { detach, ..lot(LossMode::KlCe) };
        let (tl, sl) = (tm.forward(&x), sm.forward(&x));
        let teacher_loss = if fused { LotLoss::teacher_loss_fused } else { LotLoss::teacher_loss };
        let student_loss = if fused { LotLoss::student_loss_fused } else { LotLoss::student_loss };
        let teacher = teacher_loss(&l, &tl.cross_entropy_for_logits(&y), &tl, &[sl.shallow_clone()], 0.7);
        teacher.backward();
        assert!(grad_norm(&tvs) > 0.0);
        if detach {
            assert_eq!(grad_norm(&svs), 0.0, "teacher loss reached the student");
        } else {
            assert!(grad_norm(&svs) > 0.0, "without detach the teacher loss should reach the student");
        }
        let (tvs, tm) = linear(1, 5, 3);
        let (svs, sm) = linear(2, 5, 3);
        let (tl, sl) = (tm.forward(&x), sm.forward(&x));
        student_loss(&l, &sl.cross_entropy_for_logits(&y), &sl, &tl).backward();
        assert!(grad_norm(&svs) > 0.0);
        assert_eq!(grad_norm(&tvs) == 0.0, detach);
    }
}

/// Linear teacher and students on fixed random data; counts the student-stream batches it serves.
struct Toy {
    nets: Vec<nn::Linear>,
    student_forwards: usize,
    /// Answer `forward_ce` (the engine's written-out cross-entropy path) or not.
    ce: bool,
}

impl LotModels for Toy {
    type Batch = (Tensor, Tensor);
    type Stats = ();
    fn forward(&mut self, m: usize, (x, y): &Self::Batch, stream: Stream) -> (Tensor, Tensor, ()) {
        if stream == Stream::Student && m > 0 {
            self.student_forwards += 1;
        }
        let l = self.nets[m].forward(x);
        let ce = l.cross_entropy_for_logits(y);
        (l, ce, ())
    }
    fn forward_ce(&mut self, m: usize, (x, y): &Self::Batch, stream: Stream) -> Option<(Tensor, Tensor)> {
        if !self.ce {
            return None;
        }
        if stream == Stream::Student && m > 0 {
            self.student_forwards += 1;
        }
        Some((self.nets[m].forward(x), y.shallow_clone()))
    }
}

/// The written-out cross-entropy + KL path (`forward_ce`) trains exactly as the autograd path:
/// same loss values and the same weights after several LoT steps (momentum, clipping, K = 2,
/// N = 3), in every mode, with and without detach (where it does not apply, both take autograd).
#[test]
fn written_out_ce_path_trains_like_autograd() {
    let batch = |i: i64| {
        let x: Vec<f32> = (0..24).map(|j| ((i * 24 + j) as f32 * 0.53).sin() * 2.0).collect();
        (Tensor::from_slice(&x).view([6, 4]), Tensor::from_slice(&[0i64, 1, 2, 2, 1, 0]).roll([i], [0]))
    };
    for mode in [LossMode::Kl, LossMode::KlCe, LossMode::SymmetricKl, LossMode::SymmetricKlCe] {
        for detach in [true, false] {
            let run = |ce: bool| {
                let (mut nets, mut stores, mut optims) = (Vec::new(), Vec::new(), Vec::<Box<dyn Optimizer>>::new());
                for m in 0..3 {
                    let (vs, l) = fixed_linear(20 + m, 4, 3);
                    let cfg = SgdConfig { lr: 0.3, momentum: 0.9, nesterov: true, weight_decay: 1e-4 };
                    optims.push(Box::new(Sgd::new(named_trainable(&vs), cfg)));
                    nets.push(l);
                    stores.push(vs);
                }
                let mut engine = Engine::new(LotLoss { detach, ..lot(mode) }, 3, optims, Some(0.5));
                let mut toy = Toy { nets, student_forwards: 0, ce };
                let mut next = 100;
                let mut outs = Vec::new();
                for step in 0..4 {
                    let o = engine
                        .lot_step(&mut toy, &batch(step), || {
                            next += 1;
                            Ok(batch(next))
                        })
                        .unwrap();
                    outs.push((o.teacher_loss, o.teacher_task, o.student_losses, o.student_tasks));
                }
                assert_eq!(toy.student_forwards, 4 * 2 * 2);
                let weights: Vec<Tensor> = stores.iter().flat_map(|vs| vs.trainable_variables()).map(|t| t.copy()).collect();
                (outs, weights)
            };
            let (o_auto, w_auto) = run(false);
            let (o_ce, w_ce) = run(true);
            for (a, b) in o_auto.iter().zip(&o_ce) {
                close(a.0, b.0);
                close(a.1, b.1);
                for (x, y) in a.2.iter().zip(&b.2).chain(a.3.iter().zip(&b.3)) {
                    close(*x, *y);
                }
            }
            for (a, b) in w_auto.iter().zip(&w_ce) {
                let d = (a - b).abs().max().double_value(&[]);
                assert!(d < 1e-5, "{mode:?} detach {detach}: weights differ by {d}");
            }
        }
    }
}

fn toy_engine(k: usize, n: usize) -> (Toy, Engine, Vec<nn::VarStore>) {
    let mut nets = Vec::new();
    let mut stores = Vec::new();
    let mut optims: Vec<Box<dyn Optimizer>> = Vec::new();
    for m in 0..=k {
        let (vs, l) = linear(10 + m as i64, 4, 3);
        let cfg = SgdConfig { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 1e-4 };
        optims.push(Box::new(Sgd::new(named_trainable(&vs), cfg)));
        nets.push(l);
        stores.push(vs);
    }
    let engine = Engine::new(lot(LossMode::KlCe), n, optims, Some(1.0));
    (Toy { nets, student_forwards: 0, ce: false }, engine, stores)
}

fn toy_batch() -> (Tensor, Tensor) {
    (Tensor::randn([6, 4], (Kind::Float, Device::Cpu)), Tensor::from_slice(&[0i64, 1, 2, 2, 1, 0]))
}

#[test]
fn schedule_takes_n_student_steps_per_teacher_step() {
    for (k, n) in [(1usize, 1usize), (1, 2), (2, 3), (3, 5)] {
        let (mut toy, mut engine, _stores) = toy_engine(k, n);
        let mut served = 0;
        let joint = 7;
        for _ in 0..joint {
            let b = toy_batch();
            engine
                .lot_step(&mut toy, &b, || {
                    served += 1;
                    Ok(toy_batch())
                })
                .unwrap();
        }
        assert_eq!(engine.optims[0].steps(), joint as u64, "teacher steps (K={k}, N={n})");
        for i in 1..=k {
            assert_eq!(engine.optims[i].steps(), (joint * n) as u64, "student {i} steps (K={k}, N={n})");
        }
        assert_eq!(served, joint * (n - 1), "student-stream batches");
        assert_eq!(toy.student_forwards, joint * (n - 1) * k);
    }
}

#[test]
fn without_students_only_the_teacher_steps() {
    let (mut toy, mut engine, _stores) = toy_engine(0, 4);
    let mut served = 0;
    for _ in 0..3 {
        engine
            .lot_step(&mut toy, &toy_batch(), || {
                served += 1;
                Ok(toy_batch())
            })
            .unwrap();
    }
    assert_eq!(engine.optims[0].steps(), 3);
    assert_eq!(served, 0);
}

/// The fixed-teacher phase (RL's): N passes, one student step per minibatch a pass yields, the
/// teacher untouched; without students nothing is asked for.
#[test]
fn student_passes_take_n_passes_of_the_given_minibatches() {
    for (k, n, per_pass) in [(1usize, 1usize, 3usize), (2, 3, 2), (1, 5, 1)] {
        let (mut toy, mut engine, stores) = toy_engine(k, n);
        let teacher = stores[0].root().get("weight").unwrap().copy();
        let mut passes = 0;
        let (steps, sums) = engine
            .student_passes(&mut toy, || {
                passes += 1;
                Ok((0..per_pass).map(|_| (toy_batch(), Tensor::randn([6, 3], (Kind::Float, Device::Cpu)))))
            })
            .unwrap();
        assert_eq!((passes, steps), (n, (n * per_pass) as u64), "K={k}, N={n}");
        assert_eq!(sums.len(), k);
        assert!(sums.iter().all(|s| s.is_finite() && *s > 0.0), "{sums:?}");
        for i in 1..=k {
            assert_eq!(engine.optims[i].steps(), (n * per_pass) as u64);
        }
        assert_eq!(engine.optims[0].steps(), 0);
        assert!(stores[0].root().get("weight").unwrap().equal(&teacher));
    }
    let (mut toy, mut engine, _stores) = toy_engine(0, 4);
    let (steps, sums) = engine
        .student_passes(&mut toy, || -> anyhow::Result<std::vec::IntoIter<((Tensor, Tensor), Tensor)>> { panic!("no students: no passes") })
        .unwrap();
    assert_eq!((steps, sums.len()), (0, 0));
}

#[test]
fn student_step_leaves_the_teacher_unchanged() {
    let (mut toy, mut engine, stores) = toy_engine(2, 3);
    let before = stores[0].root().get("weight").unwrap().copy();
    let s_before = stores[1].root().get("weight").unwrap().copy();
    engine.student_step(&mut toy, &toy_batch()).unwrap();
    assert!(stores[0].root().get("weight").unwrap().equal(&before));
    assert!(!stores[1].root().get("weight").unwrap().equal(&s_before));
}

#[test]
fn non_finite_loss_stops_with_the_model_named() {
    let (mut toy, mut engine, _stores) = toy_engine(1, 2);
    let x = Tensor::full([6, 4], f64::NAN, (Kind::Float, Device::Cpu));
    let err = engine.joint_step(&mut toy, &(x, Tensor::from_slice(&[0i64, 1, 2, 2, 1, 0]))).unwrap_err();
    assert!(err.to_string().contains("non-finite loss") && err.to_string().contains("teacher's task loss"), "{err}");
    assert_eq!(engine.optims[0].steps(), 0);
}

/// The data-parallel hook: called once per model and optimizer step, before clipping, with that
/// model's gradients; what it writes into them is what the optimizer applies (a hook that zeroes
/// them leaves the weights to weight decay and momentum alone, which start at zero: no change
/// beyond decay), and an error from it stops the step.
#[test]
fn grad_sync_sees_every_models_gradients_before_the_step() {
    use std::sync::{Arc, Mutex};
    struct Zero(Arc<Mutex<Vec<usize>>>, bool);
    impl GradSync for Zero {
        fn average(&mut self, grads: &[Tensor]) -> anyhow::Result<()> {
            if self.1 {
                anyhow::bail!("peer gone");
            }
            self.0.lock().unwrap().push(grads.len());
            for g in grads {
                let _ = g.shallow_clone().zero_();
            }
            Ok(())
        }
    }
    let calls = Arc::new(Mutex::new(Vec::new()));
    let (mut toy, mut engine, stores) = toy_engine(1, 2);
    engine.sync = Some(Box::new(Zero(calls.clone(), false)));
    let before: Vec<Tensor> = stores.iter().map(|vs| vs.root().get("weight").unwrap().copy()).collect();
    engine.lot_step(&mut toy, &toy_batch(), || Ok(toy_batch())).unwrap();
    // Joint step: teacher and student; then the student's extra step. Weight and bias each.
    assert_eq!(*calls.lock().unwrap(), vec![2, 2, 2]);
    for (vs, b) in stores.iter().zip(&before) {
        let after = vs.root().get("weight").unwrap();
        // Only weight decay moved them: w · (1 − lr·wd) per step (momentum of a decay-only grad).
        let d = (&after - b).abs().max().double_value(&[]);
        assert!(d < 1e-3 * b.abs().max().double_value(&[]), "weights moved by {d} with zeroed gradients");
    }
    engine.sync = Some(Box::new(Zero(calls, true)));
    let e = engine.lot_step(&mut toy, &toy_batch(), || Ok(toy_batch())).unwrap_err();
    assert!(e.to_string().contains("peer gone"), "{e}");
}
