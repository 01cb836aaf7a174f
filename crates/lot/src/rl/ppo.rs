//! PPO pieces as cleanRL's `ppo_atari.py` computes them: categorical sampling, GAE, and the
//! clipped policy / clipped value / entropy loss on a minibatch.

use tch::{Kind, Tensor};

/// Loss hyper-parameters (the `[ppo]` config section holds them).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PpoParams {
    pub clip_coef: f64,
    pub clip_vloss: bool,
    pub norm_adv: bool,
    pub ent_coef: f64,
    pub vf_coef: f64,
}

/// Sample one action per row from `softmax(logits)`; returns (actions `[B]` i64, log-probs `[B]`).
pub fn sample(logits: &Tensor) -> (Tensor, Tensor) {
    let actions = logits.softmax(-1, Kind::Float).multinomial(1, true).squeeze_dim(-1);
    let logp = log_prob(logits, &actions);
    (actions, logp)
}

/// log π(a|s) for the given actions.
pub fn log_prob(logits: &Tensor, actions: &Tensor) -> Tensor {
    logits.log_softmax(-1, Kind::Float).gather(-1, &actions.unsqueeze(-1), false).squeeze_dim(-1)
}

/// Entropy of each row's categorical distribution.
pub fn entropy(logits: &Tensor) -> Tensor {
    let logp = logits.log_softmax(-1, Kind::Float);
    -(logp.exp() * logp).sum_dim_intlist(-1, false, Kind::Float)
}

/// Generalised advantage estimation over a rollout stored step-major (`[t * num_envs + env]`).
///
/// `dones[t]` is cleanRL's flag stored with `obs[t]`: the step *before* it ended an episode, so
/// obs[t] is the first observation of a new one. `next_value`/`next_done` describe the
/// observation after the last step. Like cleanRL (`next_done = terminated or truncated`), a
/// time-limit truncation is treated as a termination: no bootstrapping through it.
/// Returns (advantages, returns = advantages + values).
pub fn gae(
    rewards: &[f32],
    values: &[f32],
    dones: &[f32],
    next_value: &[f32],
    next_done: &[f32],
    gamma: f64,
    lambda: f64,
) -> (Vec<f32>, Vec<f32>) {
    let n = next_value.len();
    let steps = rewards.len() / n.max(1);
    let mut adv = vec![0f32; rewards.len()];
    for e in 0..n {
        let mut last = 0f64;
        for t in (0..steps).rev() {
            let (next_nonterminal, next_v) = if t + 1 == steps {
                (1.0 - next_done[e] as f64, next_value[e] as f64)
            } else {
                (1.0 - dones[(t + 1) * n + e] as f64, values[(t + 1) * n + e] as f64)
            };
            let i = t * n + e;
            let delta = rewards[i] as f64 + gamma * next_v * next_nonterminal - values[i] as f64;
            last = delta + gamma * lambda * next_nonterminal * last;
            adv[i] = last as f32;
        }
    }
    let returns = adv.iter().zip(values).map(|(a, v)| a + v).collect();
    (adv, returns)
}

/// What a PPO minibatch learns from, gathered from the rollout.
pub struct PpoTargets {
    pub actions: Tensor,
    pub logprobs: Tensor,
    pub advantages: Tensor,
    pub returns: Tensor,
    pub values: Tensor,
}

/// Diagnostics of one minibatch (cleanRL logs the same).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PpoStats {
    pub pg_loss: f64,
    pub v_loss: f64,
    pub entropy: f64,
    pub approx_kl: f64,
    pub clip_frac: f64,
}

/// cleanRL's loss: pg_loss − ent_coef·entropy + vf_coef·v_loss, with the clipped surrogate
/// objective and (optionally) the clipped value loss. `logits`/`values` are the current
/// network's outputs on the minibatch.
pub fn ppo_loss(logits: &Tensor, values: &Tensor, t: &PpoTargets, p: &PpoParams) -> (Tensor, PpoStats) {
    let newlogprob = log_prob(logits, &t.actions);
    let logratio = &newlogprob - &t.logprobs;
    let ratio = logratio.exp();
    let mut adv = t.advantages.shallow_clone();
    if p.norm_adv {
        // torch's .std() is the unbiased one
        adv = (&adv - adv.mean(Kind::Float)) / (adv.std(true) + 1e-8);
    }
    let pg1 = -&adv * &ratio;
    let pg2 = -&adv * ratio.clamp(1.0 - p.clip_coef, 1.0 + p.clip_coef);
    let pg_loss = pg1.maximum(&pg2).mean(Kind::Float);
    let v_loss = if p.clip_vloss {
        let unclipped = (values - &t.returns).square();
        let v_clipped = &t.values + (values - &t.values).clamp(-p.clip_coef, p.clip_coef);
        let clipped = (v_clipped - &t.returns).square();
        unclipped.maximum(&clipped).mean(Kind::Float) * 0.5
    } else {
        (values - &t.returns).square().mean(Kind::Float) * 0.5
    };
    let ent = entropy(logits).mean(Kind::Float);
    let loss = &pg_loss - &ent * p.ent_coef + &v_loss * p.vf_coef;
    let stats = tch::no_grad(|| {
        let approx_kl = ((&ratio - 1.0) - &logratio).mean(Kind::Float);
        let clip_frac = (&ratio - 1.0).abs().gt(p.clip_coef).to_kind(Kind::Float).mean(Kind::Float);
        // one device→host transfer for all five numbers
        let v: Vec<f64> = Vec::try_from(Tensor::stack(&[&pg_loss, &v_loss, &ent, &approx_kl, &clip_frac], 0).to_kind(Kind::Double))
            .unwrap_or_default();
        let g = |i: usize| v.get(i).copied().unwrap_or(f64::NAN);
        PpoStats { pg_loss: g(0), v_loss: g(1), entropy: g(2), approx_kl: g(3), clip_frac: g(4) }
    });
    (loss, stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{a} vs {b}");
    }

    #[test]
    fn gae_matches_a_hand_computation_with_a_done_in_the_middle() {
        // One env, 5 steps; the episode ends at step 2 (so dones[3] = 1: obs[3] starts a new one).
        let rewards = [1.0f32, 0.5, 2.0, -1.0, 0.25];
        let values = [0.3f32, 0.2, 0.1, 0.4, -0.2];
        let dones = [0.0f32, 0.0, 0.0, 1.0, 0.0];
        let (g, l) = (0.9f64, 0.8f64);
        let (adv, ret) = gae(&rewards, &values, &dones, &[0.7], &[0.0], g, l);
        // by hand, backwards: δ_t = r_t + γ·V_{t+1}·(1−d_{t+1}) − V_t; A_t = δ_t + γλ·(1−d_{t+1})·A_{t+1}
        let d4 = 0.25 + 0.9 * 0.7 - (-0.2); // bootstraps from next_value
        let a4 = d4;
        let d3 = -1.0 + 0.9 * (-0.2) - 0.4;
        let a3 = d3 + 0.72 * a4;
        let d2 = 2.0 - 0.1; // episode ended: no bootstrap, no carry
        let a2 = d2;
        let d1 = 0.5 + 0.9 * 0.1 - 0.2;
        let a1 = d1 + 0.72 * a2;
        let d0 = 1.0 + 0.9 * 0.2 - 0.3;
        let a0 = d0 + 0.72 * a1;
        let want = [a0, a1, a2, a3, a4];
        for i in 0..5 {
            close(adv[i] as f64, want[i], 1e-6);
            close(ret[i] as f64, want[i] + values[i] as f64, 1e-6);
        }
        // a done after the last step cuts the bootstrap too
        let (adv, _) = gae(&rewards, &values, &dones, &[0.7], &[1.0], g, l);
        close(adv[4] as f64, 0.25 + 0.2, 1e-6);
    }

    #[test]
    fn gae_keeps_envs_apart() {
        // two envs interleaved step-major; env 1 is env 0 shifted, so each must match its own single-env run
        let r0 = [1.0f32, 2.0, 3.0];
        let r1 = [0.5f32, -1.0, 0.0];
        let v0 = [0.1f32, 0.2, 0.3];
        let v1 = [0.0f32, 0.5, -0.5];
        let d1 = [0.0f32, 1.0, 0.0];
        let inter = |a: &[f32], b: &[f32]| a.iter().zip(b).flat_map(|(x, y)| [*x, *y]).collect::<Vec<f32>>();
        let (adv, _) = gae(&inter(&r0, &r1), &inter(&v0, &v1), &inter(&[0.0; 3], &d1), &[0.4, 0.6], &[0.0, 1.0], 0.99, 0.95);
        let (a0, _) = gae(&r0, &v0, &[0.0; 3], &[0.4], &[0.0], 0.99, 0.95);
        let (a1, _) = gae(&r1, &v1, &d1, &[0.6], &[1.0], 0.99, 0.95);
        assert_eq!(adv, inter(&a0, &a1));
    }

    fn t(v: &[f32]) -> Tensor {
        Tensor::from_slice(v)
    }

    #[test]
    fn ppo_loss_pieces_match_hand_values() {
        // 3 samples, 2 actions. Logits chosen so that the ratios fall inside, above and below the clip range.
        let logits = Tensor::from_slice(&[0.0f32, 0.0, 1.0, -1.0, -0.5, 0.5]).view([3, 2]);
        let actions = Tensor::from_slice(&[0i64, 0, 1]);
        let lp = |row: [f64; 2], a: usize| {
            let m = row[0].max(row[1]);
            row[a] - m - ((row[0] - m).exp() + (row[1] - m).exp()).ln()
        };
        let rows = [[0.0, 0.0], [1.0, -1.0], [-0.5, 0.5]];
        let new_lp: Vec<f64> = (0..3).map(|i| lp(rows[i], [0, 0, 1][i])).collect();
        // old log-probs: ratio 1.05 (inside), 1.5 (above 1.1), 0.6 (below 0.9)
        let ratios = [1.05f64, 1.5, 0.6];
        let old_lp: Vec<f32> = (0..3).map(|i| (new_lp[i] - ratios[i].ln()) as f32).collect();
        let adv = [1.0f32, 2.0, -1.5];
        let returns = [1.0f32, 0.0, 2.0];
        let old_values = [0.5f32, 0.2, 1.0];
        let new_values = [0.55f32, 0.6, 1.5];
        let targets = PpoTargets {
            actions,
            logprobs: t(&old_lp),
            advantages: t(&adv),
            returns: t(&returns),
            values: t(&old_values),
        };
        let p = PpoParams { clip_coef: 0.1, clip_vloss: true, norm_adv: false, ent_coef: 0.01, vf_coef: 0.5 };
        let (loss, s) = ppo_loss(&logits, &t(&new_values), &targets, &p);

        // policy: mean of max(−A·r, −A·clip(r, 0.9, 1.1))
        let pg: f64 = (0..3)
            .map(|i| {
                let a = adv[i] as f64;
                let r = ratios[i];
                (-a * r).max(-a * r.clamp(0.9, 1.1))
            })
            .sum::<f64>()
            / 3.0;
        // = (−1.05 − 2.2 + 1.35)/3: the clip binds for sample 1 (A>0, r>1.1) and for sample 2 (A<0, r<0.9)
        close(pg, (-1.05 - 2.2 + 1.35) / 3.0, 1e-12);
        // value: 0.5·mean(max((v−R)², (v_old + clip(v−v_old, ±0.1) − R)²))
        let vl: f64 = (0..3)
            .map(|i| {
                let (v, r, vo) = (new_values[i] as f64, returns[i] as f64, old_values[i] as f64);
                ((v - r).powi(2)).max((vo + (v - vo).clamp(-0.1, 0.1) - r).powi(2))
            })
            .sum::<f64>()
            / 3.0
            * 0.5;
        // sample 0: both 0.45²; sample 1: unclipped 0.36 vs clipped 0.3² → 0.36; sample 2: 0.25 vs (1.1−2)² = 0.81
        close(vl, 0.5 * (0.2025 + 0.36 + 0.81) / 3.0, 1e-6);
        let ent: f64 = rows
            .iter()
            .map(|r| {
                let p0 = 1.0 / (1.0 + (r[1] - r[0]).exp());
                -(p0 * p0.ln() + (1.0 - p0) * (1.0 - p0).ln())
            })
            .sum::<f64>()
            / 3.0;
        close(s.pg_loss, pg, 1e-5);
        close(s.v_loss, vl, 1e-5);
        close(s.entropy, ent, 1e-5);
        close(loss.double_value(&[]), pg - 0.01 * ent + 0.5 * vl, 1e-5);
        let kl: f64 = ratios.iter().map(|r| (r - 1.0) - r.ln()).sum::<f64>() / 3.0;
        close(s.approx_kl, kl, 1e-5);
        close(s.clip_frac, 2.0 / 3.0, 1e-6);

        // without value clipping: plain 0.5·MSE
        let p2 = PpoParams { clip_vloss: false, ..p };
        let (_, s2) = ppo_loss(&logits, &t(&new_values), &targets, &p2);
        close(s2.v_loss, 0.5 * (0.2025 + 0.36 + 0.25) / 3.0, 1e-5);

        // advantage normalisation per minibatch with the unbiased std
        let p3 = PpoParams { norm_adv: true, ..p };
        let (_, s3) = ppo_loss(&logits, &t(&new_values), &targets, &p3);
        let mean = adv.iter().map(|&a| a as f64).sum::<f64>() / 3.0;
        let std = (adv.iter().map(|&a| (a as f64 - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
        let pg3: f64 = (0..3)
            .map(|i| {
                let a = (adv[i] as f64 - mean) / (std + 1e-8);
                (-a * ratios[i]).max(-a * ratios[i].clamp(0.9, 1.1))
            })
            .sum::<f64>()
            / 3.0;
        close(s3.pg_loss, pg3, 1e-5);
    }

    #[test]
    fn sampling_follows_the_distribution() {
        tch::manual_seed(0);
        let logits = Tensor::from_slice(&[0.0f32, 2.0f32.ln(), 0.0, -30.0]).view([2, 2]).repeat([2000, 1]);
        let (a, lp) = sample(&logits);
        let a: Vec<i64> = Vec::try_from(a).unwrap();
        // row pattern: [1:2 odds → p(1) = 2/3], [p(0) ≈ 1]
        let ones = a.iter().step_by(2).filter(|&&x| x == 1).count() as f64 / 2000.0;
        assert!((ones - 2.0 / 3.0).abs() < 0.04, "{ones}");
        assert!(a.iter().skip(1).step_by(2).all(|&x| x == 0));
        let lp: Vec<f32> = Vec::try_from(lp).unwrap();
        for (i, &x) in a.iter().enumerate().step_by(2) {
            let want = if x == 1 { (2.0f64 / 3.0).ln() } else { (1.0f64 / 3.0).ln() };
            close(lp[i] as f64, want, 1e-5);
        }
    }
}
