//! The figures of a case's classification computed here rather than in SQL: the estimate of
//! its failure probability and how confident the classification is.
//!
//! **Failure probability.** A uniform prior, Beta(1, 1), updated with the sample (`k`
//! failures in `n` passed/failed results) gives the posterior Beta(1 + k, 1 + n − k). Its
//! mean is (k + 1) / (n + 2); the interval is the equal-tailed 90% one (its 5% and 95%
//! quantiles). Both parameters are integers, so the posterior's CDF is a binomial tail,
//! I_x(a, b) = P(Binomial(a + b − 1, x) ≥ a), summed exactly (n is at most the largest
//! sample, 1,000); quantiles are found by bisection.
//!
//! **Confidence** (0 to 1) in the classification:
//! - FLAKY on direct evidence (a pass and a fail on one commit, or a pass on a retry after a
//!   failure in the same run): 1. The same code both passed and failed: that is what flaky
//!   means, however few results there are.
//! - Otherwise, the posterior probability that the failure probability lies in the class's
//!   range: HEALTHY below [`HEALTHY_MAX_FAILURE_PROBABILITY`], BROKEN above
//!   [`BROKEN_MIN_FAILURE_PROBABILITY`], FLAKY in between. Twenty passes make a HEALTHY case
//!   0.89 sure; three failures in a row make a BROKEN one only 0.34 sure.

use super::types::{FailureProbability, FlakyClassification};

/// Below this failure probability a case is healthy (its range, for the confidence).
pub const HEALTHY_MAX_FAILURE_PROBABILITY: f64 = 0.1;

/// Above this failure probability a case is broken (its range, for the confidence).
pub const BROKEN_MIN_FAILURE_PROBABILITY: f64 = 0.9;

/// Probability outside the interval on each side: a 90% interval.
pub const INTERVAL_TAIL: f64 = 0.05;

/// Bisection steps of a quantile: 2^-60 is far below the 4 decimals shown.
const BISECTION_STEPS: usize = 60;

/// Decimals of the figures shown.
fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// The CDF of Beta(a, b) at `x`, for integers a, b ≥ 1: P(Binomial(a + b − 1, x) ≥ a).
pub fn beta_cdf(x: f64, a: u32, b: u32) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let m = a + b - 1;
    let (ln_x, ln_1x) = (x.ln(), (-x).ln_1p());
    // ln C(m, j), from C(m, 0) = 1 by C(m, j + 1) = C(m, j) (m − j) / (j + 1)
    let mut ln_c = 0.0;
    let mut tail = 0.0;
    for j in 0..=m {
        if j >= a {
            tail += (ln_c + f64::from(j) * ln_x + f64::from(m - j) * ln_1x).exp();
        }
        if j < m {
            ln_c += f64::from(m - j).ln() - f64::from(j + 1).ln();
        }
    }
    tail.clamp(0.0, 1.0)
}

/// The `q` quantile of Beta(a, b), by bisection of its CDF.
pub fn beta_quantile(q: f64, a: u32, b: u32) -> f64 {
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    for _ in 0..BISECTION_STEPS {
        let mid = (lo + hi) / 2.0;
        if beta_cdf(mid, a, b) < q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// The posterior parameters of `failures` in `sample` results.
fn posterior(failures: i64, sample: i64) -> (u32, u32) {
    let n = sample.max(0);
    let k = failures.clamp(0, n);
    let to_u32 = |v: i64| u32::try_from(v).unwrap_or(u32::MAX / 4);
    (1 + to_u32(k), 1 + to_u32(n - k))
}

/// The failure probability's posterior mean and 90% interval, from `failures` in `sample`
/// passed/failed results.
pub fn failure_probability(failures: i64, sample: i64) -> FailureProbability {
    let (a, b) = posterior(failures, sample);
    FailureProbability {
        mean: round4(f64::from(a) / f64::from(a + b)),
        lower: round4(beta_quantile(INTERVAL_TAIL, a, b)),
        upper: round4(beta_quantile(1.0 - INTERVAL_TAIL, a, b)),
    }
}

/// How sure the classification is (see the module's definition).
pub fn confidence(
    classification: FlakyClassification,
    same_commit_flips: i64,
    passed_on_retry: i64,
    failures: i64,
    sample: i64,
) -> f64 {
    if classification == FlakyClassification::Flaky
        && (same_commit_flips > 0 || passed_on_retry > 0)
    {
        return 1.0;
    }
    let (a, b) = posterior(failures, sample);
    let low = beta_cdf(HEALTHY_MAX_FAILURE_PROBABILITY, a, b);
    let high = beta_cdf(BROKEN_MIN_FAILURE_PROBABILITY, a, b);
    round4(match classification {
        FlakyClassification::Healthy => low,
        FlakyClassification::Flaky => high - low,
        FlakyClassification::Broken => 1.0 - high,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn beta_cdf_matches_closed_forms() {
        // Beta(1, 1) is uniform; Beta(2, 1) is x²; Beta(1, 2) is 1 − (1 − x)²
        for x in [0.01, 0.2, 0.5, 0.93] {
            assert!(close(beta_cdf(x, 1, 1), x), "{x}");
            assert!(close(beta_cdf(x, 2, 1), x * x), "{x}");
            assert!(close(beta_cdf(x, 1, 2), 1.0 - (1.0 - x) * (1.0 - x)), "{x}");
        }
        // I_0.5(3, 5) = P(Bin(7, 0.5) ≥ 3) = 1 − (1 + 7 + 21) / 128
        assert!(close(beta_cdf(0.5, 3, 5), 99.0 / 128.0));
        // symmetric: I_0.5(a, a) = 0.5
        assert!(close(beta_cdf(0.5, 11, 11), 0.5));
        assert_eq!(beta_cdf(0.0, 3, 4), 0.0);
        assert_eq!(beta_cdf(1.0, 3, 4), 1.0);
        // a large sample stays finite and monotone
        let (p, q) = (beta_cdf(0.3, 301, 700), beta_cdf(0.31, 301, 700));
        assert!(p.is_finite() && q.is_finite() && p < q, "{p} {q}");
    }

    #[test]
    fn beta_quantiles_match_known_values() {
        assert!((beta_quantile(0.05, 1, 1) - 0.05).abs() < 1e-12);
        assert!((beta_quantile(0.25, 2, 1) - 0.5).abs() < 1e-12);
        // 0 failures in 20: Beta(1, 21), whose 95% quantile is 1 − 0.05^(1/21)
        let upper = 1.0 - 0.05_f64.powf(1.0 / 21.0);
        assert!(
            (beta_quantile(0.95, 1, 21) - upper).abs() < 1e-12,
            "{upper}"
        );
        assert!((beta_quantile(0.5, 11, 11) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn failure_probability_is_the_beta_posterior() {
        let none = failure_probability(0, 0);
        assert_eq!((none.mean, none.lower, none.upper), (0.5, 0.05, 0.95));
        let steady = failure_probability(0, 20);
        assert_eq!(steady.mean, round4(1.0 / 22.0));
        assert_eq!(steady.lower, round4(1.0 - 0.95_f64.powf(1.0 / 21.0)));
        assert_eq!(steady.upper, round4(1.0 - 0.05_f64.powf(1.0 / 21.0)));
        let half = failure_probability(10, 20);
        assert_eq!(half.mean, 0.5);
        assert!(half.lower < 0.5 && half.upper > 0.5);
        assert!(close(half.lower + half.upper, 1.0));
    }

    #[test]
    fn confidence_is_one_on_direct_evidence_else_the_posterior_mass_of_the_class() {
        assert_eq!(confidence(FlakyClassification::Flaky, 1, 0, 1, 2), 1.0);
        assert_eq!(confidence(FlakyClassification::Flaky, 0, 1, 1, 2), 1.0);
        // 20 passes: P(p < 0.1) under Beta(1, 21) = 1 − 0.9^21
        assert_eq!(
            confidence(FlakyClassification::Healthy, 0, 0, 0, 20),
            round4(1.0 - 0.9_f64.powi(21))
        );
        // 3 failures: P(p > 0.9) under Beta(4, 1) = 1 − 0.9^4
        assert_eq!(
            confidence(FlakyClassification::Broken, 0, 0, 3, 3),
            round4(1.0 - 0.9_f64.powi(4))
        );
        let flaky = confidence(FlakyClassification::Flaky, 0, 0, 10, 20);
        assert!(flaky > 0.99 && flaky <= 1.0, "{flaky}");
    }
}
