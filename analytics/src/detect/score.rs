//! Volume-aware tests of an observed failure count against a baseline rate.

/// The Wilson score interval's lower bound for `failures` of `attempts` at
/// `z` standard deviations: the lowest rate the data make plausible. With few
/// attempts it stays low, so 3 failures out of 5 at night do not page.
pub fn wilson_lower(failures: u64, attempts: u64, z: f64) -> f64 {
    wilson_lower_dispersed(failures, attempts, z, 1.0)
}

/// [`wilson_lower`] for failures that come in clusters (a shopper retrying
/// a failing payment fails again): with a variance `dispersion` times the
/// binomial one, the evidence is that of `attempts / dispersion` attempts.
pub fn wilson_lower_dispersed(failures: u64, attempts: u64, z: f64, dispersion: f64) -> f64 {
    let n = attempts as f64 / dispersion.max(1.0);
    if n <= 0.0 {
        return 0.0;
    }
    let p = failures as f64 / attempts as f64;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - spread) / (1.0 + z2 / n)).max(0.0)
}

/// The binomial z statistic of `failures` out of `attempts` against rate
/// `p0`: how many standard deviations above the expected count it is.
pub fn z_score(failures: u64, attempts: u64, p0: f64) -> f64 {
    if attempts == 0 {
        return 0.0;
    }
    let n = attempts as f64;
    let p0 = p0.clamp(1e-6, 1.0 - 1e-6);
    (failures as f64 - n * p0) / (n * p0 * (1.0 - p0)).sqrt()
}

/// Failures above what the baseline rate predicts.
pub fn excess(failures: u64, attempts: u64, p0: f64) -> f64 {
    failures as f64 - attempts as f64 * p0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_is_volume_aware() {
        // 3 of 5 is a 60 % rate, but the lower bound is far below it...
        assert!(wilson_lower(3, 5, 3.0) < 0.15);
        // ...while 600 of 1000 pins it near 60 %.
        let big = wilson_lower(600, 1000, 3.0);
        assert!((0.55..0.6).contains(&big), "{big}");
        assert_eq!(wilson_lower(0, 0, 3.0), 0.0);
        assert_eq!(wilson_lower(0, 100, 3.0), 0.0);
        // Clustered failures are weaker evidence.
        assert!(wilson_lower_dispersed(600, 1000, 3.0, 4.0) < big - 0.03);
    }

    #[test]
    fn z_and_excess() {
        assert!((z_score(20, 1000, 0.01) - 10.0 / (9.9f64).sqrt()).abs() < 1e-9);
        assert!(z_score(5, 1000, 0.01) < 0.0);
        assert!((excess(20, 1000, 0.01) - 10.0).abs() < 1e-9);
        assert_eq!(z_score(0, 0, 0.5), 0.0);
    }
}
