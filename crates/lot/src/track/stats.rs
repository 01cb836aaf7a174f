//! Small-sample statistics for comparing a method with a baseline over seeds: Student's t
//! distribution (CDF and quantiles, from the regularized incomplete beta function), the paired
//! t-test and Welch's unpaired t-test, each with a 95 % confidence interval for the difference.
//!
//! Written out here (no statistics crate): `ln_gamma` is Lanczos' approximation (g = 7, 9 terms),
//! the incomplete beta is Lentz's continued fraction; both are accurate to ~1e-13 in the range used.

use serde::Serialize;

/// ln Γ(x) for x > 0.
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1 − x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularized incomplete beta function I_x(a, b), for a, b > 0 and x in [0, 1].
pub fn inc_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    // The continued fraction converges fast for x < (a + 1)/(a + b + 2); use the symmetry otherwise.
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(x, a, b) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(1.0 - x, b, a) / b
    }
}

/// Lentz's evaluation of the incomplete beta continued fraction.
fn beta_cf(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=300 {
        let m = m as f64;
        // Even step.
        let num = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 + num * d;
        d = if d.abs() < TINY { 1.0 / TINY } else { 1.0 / d };
        c = 1.0 + num / c;
        if c.abs() < TINY {
            c = TINY;
        }
        h *= d * c;
        // Odd step.
        let num = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 + num * d;
        d = if d.abs() < TINY { 1.0 / TINY } else { 1.0 / d };
        c = 1.0 + num / c;
        if c.abs() < TINY {
            c = TINY;
        }
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// P(T ≤ t) for Student's t with `df` > 0 degrees of freedom (df need not be an integer).
pub fn t_cdf(t: f64, df: f64) -> f64 {
    if t.is_infinite() {
        return if t > 0.0 { 1.0 } else { 0.0 };
    }
    let tail = 0.5 * inc_beta(df / (df + t * t), 0.5 * df, 0.5);
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// Two-sided p-value P(|T| ≥ |t|).
pub fn t_two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_nan() {
        return f64::NAN;
    }
    if t.is_infinite() {
        return 0.0;
    }
    inc_beta(df / (df + t * t), 0.5 * df, 0.5).clamp(0.0, 1.0)
}

/// The q-quantile of Student's t (0 < q < 1), by bisection on the CDF (monotone, so exact to the
/// last bits in ~200 halvings).
pub fn t_quantile(q: f64, df: f64) -> f64 {
    assert!(q > 0.0 && q < 1.0 && df > 0.0, "t_quantile({q}, {df})");
    if q == 0.5 {
        return 0.0;
    }
    if q < 0.5 {
        return -t_quantile(1.0 - q, df);
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while t_cdf(hi, df) < q {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < q {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= f64::EPSILON * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// Which test produced a [`Difference`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Test {
    /// Paired by seed: a one-sample t-test on the per-seed differences.
    Paired,
    /// Unpaired, unequal variances (Welch–Satterthwaite degrees of freedom).
    Welch,
}

/// A difference (method − baseline) with its 95 % confidence interval and two-sided p-value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Difference {
    pub test: Test,
    pub mean: f64,
    /// Paired: the sample std of the per-seed differences; Welch: `None`.
    pub std: Option<f64>,
    /// Standard error of the mean difference.
    pub se: f64,
    /// Paired: number of pairs; Welch: runs of the method.
    pub n: usize,
    /// Welch: runs of the baseline; paired: equal to `n`.
    pub n_baseline: usize,
    pub df: f64,
    pub ci95: (f64, f64),
    pub t: f64,
    pub p: f64,
}

impl Difference {
    fn from_t(test: Test, mean: f64, std: Option<f64>, se: f64, n: usize, n_baseline: usize, df: f64) -> Self {
        let half = t_quantile(0.975, df) * se;
        // A zero standard error: the interval is the point; p is 1 for no difference, 0 otherwise.
        let (t, p) = if se > 0.0 {
            let t = mean / se;
            (t, t_two_sided_p(t, df))
        } else if mean == 0.0 {
            (0.0, 1.0)
        } else {
            (mean.signum() * f64::INFINITY, 0.0)
        };
        Difference { test, mean, std, se, n, n_baseline, df, ci95: (mean - half, mean + half), t, p }
    }

    /// Whether the 95 % interval excludes zero.
    pub fn significant(&self) -> bool {
        self.ci95.0 > 0.0 || self.ci95.1 < 0.0
    }
}

fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

/// Paired t-test of `method[i] − baseline[i]`; `None` with fewer than 2 pairs.
pub fn paired(method: &[f64], baseline: &[f64]) -> Option<Difference> {
    assert_eq!(method.len(), baseline.len(), "paired samples must have the same length");
    if method.len() < 2 {
        return None;
    }
    let d: Vec<f64> = method.iter().zip(baseline).map(|(a, b)| a - b).collect();
    let (mean, var) = mean_var(&d);
    let n = d.len();
    let std = var.sqrt();
    Some(Difference::from_t(Test::Paired, mean, Some(std), std / (n as f64).sqrt(), n, n, (n - 1) as f64))
}

/// Welch's t-test of mean(method) − mean(baseline); `None` unless both have ≥ 2 values.
pub fn welch(method: &[f64], baseline: &[f64]) -> Option<Difference> {
    if method.len() < 2 || baseline.len() < 2 {
        return None;
    }
    let (ma, va) = mean_var(method);
    let (mb, vb) = mean_var(baseline);
    let (na, nb) = (method.len() as f64, baseline.len() as f64);
    let (sa, sb) = (va / na, vb / nb);
    let se2 = sa + sb;
    // Welch–Satterthwaite; with both variances zero the df is moot (se = 0): use the pooled one.
    let df = if se2 > 0.0 { se2 * se2 / (sa * sa / (na - 1.0) + sb * sb / (nb - 1.0)) } else { na + nb - 2.0 };
    Some(Difference::from_t(Test::Welch, ma - mb, None, se2.sqrt(), method.len(), baseline.len(), df))
}

/// The mean of `xs` and its 95 % t-interval, mean ± t_{0.975, n−1} · s/√n; the interval is `None`
/// for fewer than 2 values, and the whole answer `None` for none.
pub fn mean_ci95(xs: &[f64]) -> Option<(f64, Option<(f64, f64)>)> {
    if xs.is_empty() {
        return None;
    }
    if xs.len() < 2 {
        return Some((xs[0], None));
    }
    let (mean, var) = mean_var(xs);
    let half = t_quantile(0.975, (xs.len() - 1) as f64) * (var / xs.len() as f64).sqrt();
    Some((mean, Some((mean - half, mean + half))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    #[test]
    fn ln_gamma_matches_factorials_and_sqrt_pi() {
        for (n, fact) in [(1.0, 1.0), (2.0, 1.0), (5.0, 24.0), (11.0, 3_628_800.0)] {
            assert!(close(ln_gamma(n), f64::ln(fact), 1e-13), "ln Γ({n})");
        }
        // Γ(1/2) = √π, Γ(3/2) = √π / 2.
        assert!(close(ln_gamma(0.5), 0.5 * std::f64::consts::PI.ln(), 1e-13));
        assert!(close(ln_gamma(1.5), (std::f64::consts::PI.sqrt() / 2.0).ln(), 1e-13));
    }

    #[test]
    fn incomplete_beta_closed_forms() {
        // I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 − (1 − x)^b.
        for x in [0.1, 0.37, 0.5, 0.9] {
            assert!(close(inc_beta(x, 1.0, 1.0), x, 1e-13));
            assert!(close(inc_beta(x, 3.5, 1.0), x.powf(3.5), 1e-12));
            assert!(close(inc_beta(x, 1.0, 4.0), 1.0 - (1.0 - x).powi(4), 1e-12));
        }
        assert_eq!(inc_beta(0.0, 2.0, 3.0), 0.0);
        assert_eq!(inc_beta(1.0, 2.0, 3.0), 1.0);
    }

    #[test]
    fn t_cdf_against_closed_forms() {
        // df = 1 is Cauchy: F(t) = 1/2 + atan(t)/π. df = 2: F(t) = 1/2 + t / (2√(2 + t²)).
        for t in [-7.0, -1.3, 0.0, 0.4, 1.0, 2.5, 30.0] {
            let cauchy = 0.5 + f64::atan(t) / std::f64::consts::PI;
            assert!(close(t_cdf(t, 1.0), cauchy, 1e-12), "df 1, t {t}");
            let two = 0.5 + t / (2.0 * (2.0 + t * t).sqrt());
            assert!(close(t_cdf(t, 2.0), two, 1e-12), "df 2, t {t}");
        }
        assert!(close(t_two_sided_p(1.0, 1.0), 0.5, 1e-12));
    }

    #[test]
    fn t_quantiles_match_the_printed_table() {
        // Two-sided 95 % critical values t_{0.975, df} from standard tables (6 significant digits).
        let table = [
            (1.0, 12.7062),
            (2.0, 4.30265),
            (3.0, 3.18245),
            (4.0, 2.77645),
            (5.0, 2.57058),
            (9.0, 2.26216),
            (10.0, 2.22814),
            (30.0, 2.04227),
            (120.0, 1.97993),
        ];
        for (df, want) in table {
            let got = t_quantile(0.975, df);
            assert!((got - want).abs() < 6e-5 * want, "t_0.975({df}) = {got}, table {want}");
            assert!(close(t_cdf(got, df), 0.975, 1e-12));
        }
        // The normal limit and the 0.95 column.
        assert!((t_quantile(0.975, 1e7) - 1.959_964).abs() < 1e-5);
        assert!((t_quantile(0.95, 4.0) - 2.13185).abs() < 1e-4);
        assert_eq!(t_quantile(0.025, 3.0), -t_quantile(0.975, 3.0));
    }

    #[test]
    fn paired_test_by_hand() {
        // Differences 1, 2, 3: mean 2, sd 1, se 1/√3, t = 2√3 on 2 df.
        let d = paired(&[11.0, 12.0, 13.0], &[10.0, 10.0, 10.0]).unwrap();
        assert_eq!((d.test, d.n, d.n_baseline), (Test::Paired, 3, 3));
        assert!(close(d.mean, 2.0, 1e-15) && close(d.std.unwrap(), 1.0, 1e-15) && d.df == 2.0);
        let se = 1.0 / 3f64.sqrt();
        assert!(close(d.se, se, 1e-15));
        let half = 4.302_652_729_749_464 * se; // t_{0.975, 2}, closed form checked below
        assert!(close(d.ci95.0, 2.0 - half, 1e-9) && close(d.ci95.1, 2.0 + half, 1e-9), "{:?}", d.ci95);
        // df 2 closed form: p = 1 − t/√(2 + t²) = 1 − 2√3/√14.
        let t = 2.0 * 3f64.sqrt();
        assert!(close(d.t, t, 1e-12));
        assert!(close(d.p, 1.0 - t / (2.0 + t * t).sqrt(), 1e-12), "p {}", d.p);
        assert!(!d.significant());
        // t_{0.975, 2} in closed form: q = 0.975 ⇒ t = 2(q − 1/2)·√2 / √(1 − 4(q − 1/2)²).
        let u: f64 = 2.0 * 0.475;
        assert!(close(t_quantile(0.975, 2.0), u * 2f64.sqrt() / (1.0 - u * u).sqrt(), 1e-12));
        // A consistent gain: significant, interval above zero.
        let d = paired(&[1.0, 1.1, 0.9, 1.05], &[0.0, 0.0, 0.0, 0.0]).unwrap();
        assert!(d.significant() && d.ci95.0 > 0.0 && d.p < 0.001, "{d:?}");
        // Identical runs: a zero difference, p = 1, the point interval.
        let d = paired(&[5.0, 6.0], &[5.0, 6.0]).unwrap();
        assert_eq!((d.mean, d.p, d.ci95), (0.0, 1.0, (0.0, 0.0)));
        assert!(paired(&[1.0], &[0.0]).is_none());
    }

    #[test]
    fn welch_test_by_hand() {
        // a = 1, 2, 3 (var 1); b = 4, 6, 8 (var 4): difference −4, se² = 1/3 + 4/3 = 5/3,
        // df = (5/3)² / ((1/3)²/2 + (4/3)²/2) = (25/9) / (17/18) = 50/17.
        let d = welch(&[1.0, 2.0, 3.0], &[4.0, 6.0, 8.0]).unwrap();
        assert_eq!((d.test, d.n, d.n_baseline, d.std), (Test::Welch, 3, 3, None));
        assert!(close(d.mean, -4.0, 1e-15));
        assert!(close(d.se, (5.0f64 / 3.0).sqrt(), 1e-15));
        assert!(close(d.df, 50.0 / 17.0, 1e-13), "df {}", d.df);
        assert!(close(d.t, -4.0 / (5.0f64 / 3.0).sqrt(), 1e-13));
        // p and interval on 50/17 df, from the incomplete beta (checked independently above).
        let tq = t_quantile(0.975, 50.0 / 17.0);
        assert!(tq > 3.18245 && tq < 4.30265, "between the df 3 and df 2 table values: {tq}");
        assert!(close(d.ci95.1, -4.0 + tq * d.se, 1e-12));
        // Independent values: scipy.stats.ttest_ind([1, 2, 3], [4, 6, 8], equal_var=False) gives
        // p = 0.054786766041076435, and t.ppf(0.975, 50/17) = 3.218758614532882.
        assert!(close(d.p, 0.054_786_766_041_076_435, 1e-10), "p {}", d.p);
        assert!(close(tq, 3.218_758_614_532_882, 1e-10), "t quantile {tq}");
        assert!(close(d.p, 2.0 * t_cdf(d.t, d.df), 1e-12));
        assert!(welch(&[1.0, 2.0], &[3.0]).is_none());
    }

    #[test]
    fn mean_interval_by_hand() {
        // 1, 2, 3: mean 2, sd 1, se 1/√3, t_{0.975, 2} = 4.302653: 2 ± 2.484138.
        let (m, ci) = mean_ci95(&[1.0, 2.0, 3.0]).unwrap();
        let (lo, hi) = ci.unwrap();
        assert_eq!(m, 2.0);
        assert!(close(lo, 2.0 - 2.484_137_71, 1e-7) && close(hi, 2.0 + 2.484_137_71, 1e-7), "{lo} {hi}");
        // 86.1, 86.4, 86.2, 86.5, 86.3 (sd 0.158114, n 5, t_{0.975, 4} = 2.776445): 86.3 ± 0.196324.
        let (m, ci) = mean_ci95(&[86.1, 86.4, 86.2, 86.5, 86.3]).unwrap();
        let (lo, hi) = ci.unwrap();
        assert!(close(m, 86.3, 1e-13) && close(hi - m, 0.196_324_3, 1e-5) && close(m - lo, 0.196_324_3, 1e-5), "{lo} {hi}");
        assert_eq!(mean_ci95(&[7.5]), Some((7.5, None)));
        assert_eq!(mean_ci95(&[]), None);
    }
}
