//! A slice's baseline failure rate: its own trailing history with
//! time-of-day (and, past two weeks, day-of-week) seasonality, robust to
//! the incidents inside it, leaning on the parent slice while history is
//! short.
//!
//! Two estimates from the slice's 10-minute blocks. Trailing: the last 3
//! hours before the window, pooled, with blocks far above the pooled rate
//! (an incident) dropped and the rate pooled again, twice. Seasonal: the
//! rate within half an hour of the same time of day on each of the 7
//! previous days (plus the same weekday 2, 3 and 4 weeks back once the
//! slice has 2 weeks of history), the median of those days, so one day's
//! incident does not move it. With both known, the baseline
//! is the higher. With neither reaching `min_baseline_attempts` attempts:
//! the blocks of the whole last week, and if still short, the parent
//! slice's baseline weighs in as `prior_attempts` attempts. No history and no parent: no
//! baseline yet, no verdict.

use super::detector::Detector;
use super::series::Counts;

pub(crate) const MINUTE_MS: i64 = 60_000;
pub(crate) const BLOCK_MS: i64 = 600_000;
const BLOCKS_PER_DAY: i64 = 144;
const BLOCKS_PER_WEEK: i64 = 7 * BLOCKS_PER_DAY;
const TRAILING_BLOCKS: i64 = 18;
const SEASONAL_HALF_WIDTH: i64 = 3;
/// A block this many standard deviations (and 3 failures) above the pooled
/// rate is left out of it.
const OUTLIER_Z: f64 = 4.0;
/// The lowest baseline rate used: a slice that never failed is not
/// infinitely surprised by one failure.
const MIN_RATE: f64 = 1e-4;

/// The baseline rate of slice `i` for the evaluation at `t` (cached per
/// block).
pub(crate) fn baseline(d: &mut Detector, i: usize, t: i64) -> Option<f64> {
    let window_ms = d.config().window_ms;
    let last = (t - window_ms).div_euclid(BLOCK_MS);
    if let Some((b, p)) = d.slices[i].baseline
        && b == last
    {
        return p;
    }
    let p = compute(d, i, t, last);
    d.slices[i].baseline = Some((last, p));
    p
}

fn block(d: &Detector, i: usize, idx: i64) -> Counts {
    let s = &d.slices[i];
    let mut c = s.blocks.get(idx);
    if let Some(scope) = s.scope {
        c.attempts = d.slices[scope].blocks.get(idx).attempts;
    }
    c
}

fn first_block(d: &Detector, i: usize) -> Option<i64> {
    let s = &d.slices[i];
    match s.scope {
        Some(scope) => d.slices[scope].blocks.first(),
        None => s.blocks.first(),
    }
}

fn compute(d: &mut Detector, i: usize, t: i64, last: i64) -> Option<f64> {
    let cfg = d.config();
    let min_attempts = cfg.min_baseline_attempts;
    let first = first_block(d, i);
    let now = t.div_euclid(BLOCK_MS);
    let mut seasonal: Vec<(i64, i64)> = Vec::new();
    for day in 1..=7 {
        let c = now - day * BLOCKS_PER_DAY;
        seasonal.push((c - SEASONAL_HALF_WIDTH, c + SEASONAL_HALF_WIDTH + 1));
    }
    if first.is_some_and(|f| f <= now - 2 * BLOCKS_PER_WEEK) {
        for week in 2..=4 {
            let c = now - week * BLOCKS_PER_WEEK;
            seasonal.push((c - SEASONAL_HALF_WIDTH, c + SEASONAL_HALF_WIDTH + 1));
        }
    }
    let collect = |ranges: &[(i64, i64)]| -> Vec<Counts> {
        let mut out = Vec::new();
        for &(a, b) in ranges {
            for idx in a.max(first.unwrap_or(a))..b.min(last) {
                let c = block(d, i, idx);
                if c.attempts > 0 {
                    out.push(c);
                }
            }
        }
        out
    };
    // Per past day its own pooled rate; the days' median (by attempts), so
    // an incident on one day at this hour does not move it.
    let mut days: Vec<Counts> = seasonal
        .iter()
        .map(|r| sum(&collect(std::slice::from_ref(r))))
        .filter(|c| c.attempts > 0)
        .collect();
    days.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    let season_attempts: u64 = days.iter().map(|c| c.attempts).sum();
    let mut seen = 0;
    let season = days
        .iter()
        .find(|c| {
            seen += c.attempts;
            2 * seen >= season_attempts
        })
        .map(|c| {
            let rate = c.rate();
            Counts::new(
                season_attempts,
                (rate * season_attempts as f64).round() as u64,
            )
        })
        .unwrap_or_default();
    let trailing_blocks = collect(&[(last - TRAILING_BLOCKS, last)]);
    let trailing = robust_pool(&trailing_blocks);
    // Both known: the higher one, so a slice that is always worse at this
    // time of day (or was just worse for hours) is not news.
    let enough = |c: &Counts| c.attempts >= min_attempts;
    let pooled = match (enough(&trailing), enough(&season)) {
        (true, true) if season.rate() > trailing.rate() => season,
        (true, _) => trailing,
        (false, true) => season,
        (false, false) => {
            let week = robust_pool(&collect(&[(last - BLOCKS_PER_WEEK, last)]));
            if week.attempts >= trailing.attempts {
                week
            } else {
                trailing
            }
        }
    };
    d.slices[i].dispersion = dispersion(&trailing_blocks, trailing.rate());
    finish(d, i, t, pooled)
}

fn finish(d: &mut Detector, i: usize, t: i64, pooled: Counts) -> Option<f64> {
    let cfg = d.config();
    let (min_attempts, prior_attempts) = (cfg.min_baseline_attempts, cfg.prior_attempts);
    let prior = match d.slices[i].prior {
        Some(p) if pooled.attempts < min_attempts => baseline(d, p, t),
        _ => None,
    };
    let (a, f) = (pooled.attempts as f64, pooled.failures as f64);
    let rate = match prior {
        Some(p) => (f + prior_attempts * p) / (a + prior_attempts),
        None if pooled.attempts > 0 => f / a,
        None => return None,
    };
    Some(rate.max(MIN_RATE))
}

/// How much more the blocks' failure counts vary than a binomial at rate
/// `p` would (1: not at all; at most 10), over the blocks not far above it.
pub(crate) fn dispersion(blocks: &[Counts], p: f64) -> f64 {
    let p = p.clamp(MIN_RATE, 1.0 - MIN_RATE);
    let mut chi2 = 0.0;
    let mut n = 0usize;
    for c in blocks {
        let expected = c.attempts as f64 * p;
        let var = expected * (1.0 - p);
        let dev = c.failures as f64 - expected;
        if dev > OUTLIER_Z * var.sqrt() + 3.0 {
            continue;
        }
        chi2 += dev * dev / var;
        n += 1;
    }
    if n < 4 {
        return 1.0;
    }
    (chi2 / (n - 1) as f64).clamp(1.0, 10.0)
}

fn sum(blocks: &[Counts]) -> Counts {
    blocks.iter().fold(Counts::default(), |acc, c| {
        Counts::new(acc.attempts + c.attempts, acc.failures + c.failures)
    })
}

/// Pooled counts of `blocks` without the blocks far above the pooled rate.
pub(crate) fn robust_pool(blocks: &[Counts]) -> Counts {
    let sum = |keep: &dyn Fn(&Counts) -> bool| {
        blocks
            .iter()
            .filter(|c| keep(c))
            .fold(Counts::default(), |acc, c| {
                Counts::new(acc.attempts + c.attempts, acc.failures + c.failures)
            })
    };
    let mut pooled = sum(&|_| true);
    for _ in 0..2 {
        let p = pooled.rate().max(MIN_RATE);
        pooled = sum(&|c: &Counts| {
            let expected = c.attempts as f64 * p;
            let sd = (expected * (1.0 - p)).sqrt();
            (c.failures as f64) <= expected + OUTLIER_Z * sd + 3.0
        });
    }
    pooled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incident_block_does_not_move_the_pool() {
        let mut blocks = vec![Counts::new(1_000, 30); 17];
        blocks.push(Counts::new(1_000, 300));
        let p = robust_pool(&blocks);
        assert_eq!(p, Counts::new(17_000, 510));
        // Noise stays in: blocks a little above the rate are kept.
        blocks.push(Counts::new(1_000, 45));
        assert_eq!(robust_pool(&blocks).attempts, 18_000);
    }

    #[test]
    fn dispersion_measures_clustered_failures() {
        let even = vec![Counts::new(1_000, 30); 12];
        assert_eq!(dispersion(&even, 0.03), 1.0);
        let lumpy: Vec<Counts> = (0..12)
            .map(|i| Counts::new(1_000, if i % 2 == 0 { 15 } else { 45 }))
            .collect();
        let phi = dispersion(&lumpy, 0.03);
        assert!((5.0..10.0).contains(&phi), "{phi}");
    }
}
