//! Volume-aware tests of an observed failure count against a baseline rate.

/// The signed root of the binomial likelihood-ratio statistic of `failures`
/// out of `attempts` against rate `p0`, the statistic divided by
/// `dispersion` first (failures that come in clusters, a shopper retrying a
/// failing payment, are weaker evidence: a variance `dispersion` times the
/// binomial one). A z-like score whose tail follows the count's own, where
/// a normal z overstates small counts: against an expectation of 1, 8
/// failures score 4.4 here (a 1-in-10^5 event) but 7.0 as a z; against 100,
/// 150 score 4.7 (z 5.0). Below the expectation it is negative.
pub fn lr_score(failures: u64, attempts: u64, p0: f64, dispersion: f64) -> f64 {
    if attempts == 0 {
        return 0.0;
    }
    let (x, n) = (failures as f64, attempts as f64);
    let p0 = p0.clamp(1e-9, 1.0 - 1e-9);
    let term = |k: f64, expected: f64| {
        if k > 0.0 {
            k * (k / expected).ln()
        } else {
            0.0
        }
    };
    let deviance = 2.0 * (term(x, n * p0) + term(n - x, n * (1.0 - p0)));
    let z = (deviance.max(0.0) / dispersion.max(1.0)).sqrt();
    if x >= n * p0 { z } else { -z }
}

/// Failures above what the baseline rate predicts.
pub fn excess(failures: u64, attempts: u64, p0: f64) -> f64 {
    failures as f64 - attempts as f64 * p0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 0.05
    }

    #[test]
    fn the_score_follows_the_counts_tail() {
        // 8 failures where 1 is expected: P(X >= 8) ~ 1e-5, about 4.3 sigma;
        // a normal z would say 7.
        let small = lr_score(8, 100_000, 1e-5, 1.0);
        assert!(close(small, 4.39), "{small}");
        // Large counts score close to the normal z.
        let big = lr_score(150, 10_000, 0.01, 1.0);
        assert!(close(big, 4.69), "{big}");
        // 3 of 5 at night against a 1 % baseline: well short of a page.
        assert!(lr_score(3, 5, 0.01, 1.0) < 5.0);
        // At the baseline, nothing; below it, negative.
        assert_eq!(lr_score(10, 1_000, 0.01, 1.0), 0.0);
        assert!(lr_score(2, 1_000, 0.01, 1.0) < -2.0);
        assert_eq!(lr_score(0, 0, 0.5, 1.0), 0.0);
        // Everything failing against a tiny baseline is finite and huge.
        let all = lr_score(500, 500, 0.0, 1.0);
        assert!(all.is_finite() && all > 50.0, "{all}");
    }

    #[test]
    fn clustered_failures_are_weaker_evidence() {
        let plain = lr_score(150, 10_000, 0.01, 1.0);
        let clustered = lr_score(150, 10_000, 0.01, 4.0);
        assert!(close(clustered, plain / 2.0), "{clustered}");
        // A dispersion below 1 (even spread) is not a bonus.
        assert_eq!(lr_score(150, 10_000, 0.01, 0.5), plain);
    }

    #[test]
    fn excess_is_failures_above_the_prediction() {
        assert!((excess(20, 1000, 0.01) - 10.0).abs() < 1e-9);
        assert!(excess(5, 1000, 0.01) < 0.0);
    }
}
