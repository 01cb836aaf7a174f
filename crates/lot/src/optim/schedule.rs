//! Learning-rate schedules.

/// torch's CosineAnnealingLR closed form: lr at step `t` of `t_max` (t = 0 gives `base`).
pub fn cosine_lr(base: f64, eta_min: f64, t: u64, t_max: u64) -> f64 {
    if t_max == 0 {
        return base;
    }
    let t = t.min(t_max) as f64;
    eta_min + (base - eta_min) * (1.0 + (std::f64::consts::PI * t / t_max as f64).cos()) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_endpoints_and_midpoint() {
        assert_eq!(cosine_lr(1.0, 0.0, 0, 180), 1.0);
        assert!((cosine_lr(1.0, 0.0, 90, 180) - 0.5).abs() < 1e-12);
        assert!(cosine_lr(1.0, 0.0, 180, 180).abs() < 1e-12);
        // a quarter of the way: (1 + cos(pi/4)) / 2
        let q = (1.0 + (std::f64::consts::FRAC_PI_4).cos()) / 2.0;
        assert!((cosine_lr(2.0, 0.0, 45, 180) - 2.0 * q).abs() < 1e-12);
        assert!((cosine_lr(2.5e-4, 2.5e-6, 10, 10) - 2.5e-6).abs() < 1e-15);
    }
}
