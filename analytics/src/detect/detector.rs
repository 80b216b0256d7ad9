//! The [`Detector`]: counts fed in event time, slices evaluated every
//! interval, alerts out as transitions (firing, resolved).

use std::collections::{HashMap, HashSet};

use model::alert::{Alert, AlertStatus, Contributor};

use super::baseline::{self, BLOCK_MS, MINUTE_MS};
use super::config::DetectorConfig;
use super::score::{excess, lr_score};
use super::series::{Counts, Series};
use super::slices::{Attempt, Cell, Dim, Interner, SliceKey, ValueId};

/// What the detector counted besides alerts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetectorStats {
    /// Evaluations run (one per interval of event time).
    pub ticks: u64,
    /// Slices tracked.
    pub slices: usize,
    /// Distinct slices not tracked because `max_slices` was reached.
    pub slices_refused: u64,
    /// Distinct values folded into `other` because of `max_values`.
    pub values_overflowed: u64,
    /// Events too old to count (before the kept history).
    pub late_dropped: u64,
    /// Times a breaching slice was not paged because an alerting slice
    /// explains it (parent/child or shared intersection).
    pub suppressed: u64,
    /// Times a breaching slice was not paged because of a silence.
    pub silenced: u64,
}

enum Phase {
    Idle,
    Pending { since: i64 },
    Firing(Box<Firing>),
}

struct Firing {
    alert: Alert,
    clear_since: Option<i64>,
    /// Took over a recorded alert's identity ([`Detector::resume`]).
    resumed: bool,
}

pub(super) struct SliceState {
    pub(super) key: SliceKey,
    /// Cause slices take their attempts from this slice (the same slice
    /// without the failure cause): a cause's rate is its failures over all
    /// attempts of the parent scope.
    pub(super) scope: Option<usize>,
    /// The slice whose baseline a short history leans on.
    pub(super) prior: Option<usize>,
    pub(super) minutes: Series,
    pub(super) blocks: Series,
    /// Baseline cache: (block it was computed for, rate).
    pub(super) baseline: Option<(i64, Option<f64>)>,
    /// Variance of its failure counts over the binomial one (from history).
    pub(super) dispersion: f64,
    /// False for the finer slices kept only to rank contributors (an app
    /// version on one channel, and with one cause): never paged themselves.
    judged: bool,
    phase: Phase,
}

/// One slice's verdict at one tick.
struct Eval {
    slice: usize,
    breach: bool,
    score: f64,
    window_ms: i64,
    counts: Counts,
    p0: f64,
}

/// A sub-slice of a slice (one more dimension) and its share of the
/// slice's excess failures.
struct Child {
    slice: usize,
    dim: Dim,
    value: ValueId,
    share: f64,
}

/// A child slice holding this share of a firing slice's excess failures is
/// paged in its place ([`Detector::drill`]).
const DRILL_SHARE: f64 = 0.9;

/// The spike detector. Feed it events ([`Detector::add`]) in roughly
/// event-time order, and call [`Detector::advance`] with the event time
/// reached: it evaluates every interval boundary up to it and returns the
/// alerts that started firing or resolved. Pure and deterministic: the same
/// input gives the same alerts.
pub struct Detector {
    cfg: DetectorConfig,
    values: Interner,
    pub(super) slices: Vec<SliceState>,
    index: HashMap<SliceKey, usize>,
    cells: HashMap<Cell, Vec<(usize, bool)>>,
    refused: HashSet<SliceKey>,
    next_tick: Option<i64>,
    stats: DetectorStats,
}

impl Detector {
    /// A detector with no history; errors when the settings do not fit.
    pub fn new(cfg: DetectorConfig) -> Result<Self, String> {
        cfg.validate()?;
        let values = Interner::new(cfg.max_values);
        let mut d = Self {
            cfg,
            values,
            slices: Vec::new(),
            index: HashMap::new(),
            cells: HashMap::new(),
            refused: HashSet::new(),
            next_tick: None,
            stats: DetectorStats::default(),
        };
        d.slice(SliceKey::default(), None, None);
        Ok(d)
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.cfg
    }

    /// Replaces the silences (e.g. after one was added through the API);
    /// they apply from the next evaluation on.
    pub fn set_silences(&mut self, silences: Vec<crate::detect::Silence>) {
        self.cfg.silences = silences;
    }

    /// The id of a dimension's value (normalised spelling expected).
    pub fn intern(&mut self, dim: Dim, value: &str) -> ValueId {
        self.values.intern(dim, value)
    }

    /// The cell of one attempt.
    pub fn cell(&mut self, a: &Attempt<'_>) -> Cell {
        Cell {
            channel: self.intern(Dim::Channel, a.channel),
            method: a.payment_method.map(|m| self.intern(Dim::PaymentMethod, m)),
            version: a.app_version.map(|v| self.intern(Dim::AppVersion, v)),
            cause: a.failure_cause.map(|c| self.intern(Dim::FailureCause, c)),
        }
    }

    /// Counts `n` attempts of `cell` at event time `ts_ms` (a failure when
    /// the cell has a cause).
    pub fn add(&mut self, ts_ms: i64, cell: Cell, n: u32) {
        if n == 0 {
            return;
        }
        if !self.cells.contains_key(&cell) {
            let list = self.cell_slices(cell);
            self.cells.insert(cell, list);
        }
        let minute = ts_ms.div_euclid(MINUTE_MS);
        let block = ts_ms.div_euclid(BLOCK_MS);
        let failures = if cell.cause.is_some() { n } else { 0 };
        let Some(list) = self.cells.get(&cell) else {
            return;
        };
        for &(i, counts_attempts) in list {
            let a = if counts_attempts { n } else { 0 };
            let s = &mut self.slices[i];
            let kept = s.minutes.add(minute, a, failures) & s.blocks.add(block, a, failures);
            if !kept && i == 0 {
                self.stats.late_dropped += u64::from(n);
            }
        }
    }

    /// Counts one attempt given by its values.
    pub fn add_event(&mut self, ts_ms: i64, a: &Attempt<'_>) {
        let cell = self.cell(a);
        self.add(ts_ms, cell, 1);
    }

    /// Evaluates every interval boundary `t <= now_ms` not evaluated yet
    /// (each over the events before `t`) and returns the transitions, in
    /// order. The first call only sets the clock.
    pub fn advance(&mut self, now_ms: i64) -> Vec<Alert> {
        let interval = self.cfg.interval_ms;
        let next = *self
            .next_tick
            .get_or_insert_with(|| (now_ms.div_euclid(interval) + 1) * interval);
        let mut out = Vec::new();
        let mut t = next;
        while t <= now_ms {
            self.evaluate(t, &mut out);
            t += interval;
        }
        self.next_tick = Some(t);
        out
    }

    /// The alerts firing now.
    pub fn firing(&self) -> Vec<Alert> {
        self.slices
            .iter()
            .filter_map(|s| match &s.phase {
                Phase::Firing(f) => Some(f.alert.clone()),
                _ => None,
            })
            .collect()
    }

    /// Takes over an alert a previous process left firing (read back from
    /// the `alerts` table): when the same slice is firing now, it keeps the
    /// recorded id and start, so its resolution closes the recorded alert,
    /// and the alert as it is now is returned. `None` when that slice is not
    /// firing (the rise ended while nothing watched) or was already resumed.
    pub fn resume(&mut self, recorded: &Alert) -> Option<Alert> {
        self.slices.iter_mut().find_map(|s| match &mut s.phase {
            Phase::Firing(f) if !f.resumed && f.alert.slice == recorded.slice => {
                f.resumed = true;
                f.alert.id.clone_from(&recorded.id);
                f.alert.started_at.clone_from(&recorded.started_at);
                Some(f.alert.clone())
            }
            _ => None,
        })
    }

    pub fn stats(&self) -> DetectorStats {
        DetectorStats {
            slices: self.slices.len(),
            slices_refused: self.refused.len() as u64,
            values_overflowed: self.values.overflowed,
            ..self.stats.clone()
        }
    }

    fn slice(
        &mut self,
        key: SliceKey,
        scope: Option<usize>,
        prior: Option<usize>,
    ) -> Option<usize> {
        if let Some(&i) = self.index.get(&key) {
            return Some(i);
        }
        if self.slices.len() >= self.cfg.max_slices {
            self.refused.insert(key);
            return None;
        }
        let i = self.slices.len();
        self.slices.push(SliceState {
            key,
            scope,
            prior,
            minutes: Series::default(),
            blocks: Series::default(),
            baseline: None,
            dispersion: 1.0,
            judged: true,
            phase: Phase::Idle,
        });
        self.index.insert(key, i);
        Some(i)
    }

    /// A slice kept only to rank contributors (created unjudged).
    fn contributor_slice(
        &mut self,
        key: SliceKey,
        scope: Option<usize>,
        prior: Option<usize>,
    ) -> Option<usize> {
        let fresh = !self.index.contains_key(&key);
        let i = self.slice(key, scope, prior)?;
        if fresh {
            self.slices[i].judged = false;
        }
        Some(i)
    }

    /// The slices one cell counts in: everything, its channel, its payment
    /// method and the pair, its app version (attempts and failures); with a
    /// cause, the cause alone and paired with the channel, the method and
    /// the app version (failures only). For contributors only: the app
    /// version on the channel, and with the cause too, so an alert on a
    /// version (or a cause on a channel) can name the third dimension.
    fn cell_slices(&mut self, cell: Cell) -> Vec<(usize, bool)> {
        let none = SliceKey::default();
        let mut out = vec![(0, true)];
        let ch_key = none.with(Dim::Channel, cell.channel);
        let ch = self.slice(ch_key, None, Some(0));
        out.extend(ch.map(|i| (i, true)));
        let m = cell.method.and_then(|m| {
            let i = self.slice(none.with(Dim::PaymentMethod, m), None, Some(0));
            out.extend(i.map(|i| (i, true)));
            if let Some(ch) = ch {
                let pair = self.slice(ch_key.with(Dim::PaymentMethod, m), None, Some(ch));
                out.extend(pair.map(|i| (i, true)));
            }
            i.map(|i| (i, m))
        });
        let version = cell.version.and_then(|v| {
            let v_key = none.with(Dim::AppVersion, v);
            let i = self.slice(v_key, None, Some(0))?;
            out.push((i, true));
            let on_channel =
                self.contributor_slice(v_key.with(Dim::Channel, cell.channel), None, Some(i));
            out.extend(on_channel.map(|j| (j, true)));
            Some((i, v, on_channel))
        });
        if let Some(cause) = cell.cause {
            let c_key = none.with(Dim::FailureCause, cause);
            let c = self.slice(c_key, Some(0), None);
            out.extend(c.map(|i| (i, false)));
            if let Some(ch) = ch {
                let i = self.slice(c_key.with(Dim::Channel, cell.channel), Some(ch), c);
                out.extend(i.map(|i| (i, false)));
            }
            if let Some((mi, m)) = m {
                let i = self.slice(c_key.with(Dim::PaymentMethod, m), Some(mi), c);
                out.extend(i.map(|i| (i, false)));
            }
            if let Some((vi, v, on_channel)) = version {
                let cv_key = c_key.with(Dim::AppVersion, v);
                let cv = self.slice(cv_key, Some(vi), c);
                out.extend(cv.map(|i| (i, false)));
                if let Some(vc) = on_channel {
                    let key = cv_key.with(Dim::Channel, cell.channel);
                    let i = self.contributor_slice(key, Some(vc), cv);
                    out.extend(i.map(|i| (i, false)));
                }
            }
        }
        out
    }

    /// Attempts and failures of slice `i` in minutes `from..to`.
    pub(super) fn window(&self, i: usize, from: i64, to: i64) -> Counts {
        let s = &self.slices[i];
        let mut c = s.minutes.sum(from, to);
        if let Some(scope) = s.scope {
            c.attempts = self.slices[scope].minutes.sum(from, to).attempts;
        }
        c
    }

    fn minutes(&self, t: i64, window_ms: i64) -> (i64, i64) {
        let end = (t - 1).div_euclid(MINUTE_MS) + 1;
        (end - window_ms / MINUTE_MS, end)
    }

    /// Excess failures of slice `i` over the long window at `t`.
    fn excess_at(&mut self, i: usize, t: i64) -> Option<f64> {
        let p0 = baseline::baseline(self, i, t)?;
        let (from, to) = self.minutes(t, self.cfg.window_ms);
        let c = self.window(i, from, to);
        Some(excess(c.failures, c.attempts, p0))
    }

    /// Slice `i`'s score for counts `c` against baseline rate `p0`.
    fn score(&self, i: usize, c: Counts, p0: f64) -> f64 {
        lr_score(c.failures, c.attempts, p0, self.slices[i].dispersion)
    }

    /// The score of `c` when it breaches: enough attempts, enough failures
    /// above the baseline, a rate at least `min_ratio` times it, and a
    /// likelihood-ratio score of at least `z`.
    fn breach(&self, i: usize, c: Counts, p0: f64) -> Option<f64> {
        let cfg = &self.cfg;
        let score = self.score(i, c, p0);
        (c.attempts >= cfg.min_attempts
            && excess(c.failures, c.attempts, p0) >= cfg.min_excess
            && c.rate() >= p0 * cfg.min_ratio
            && score >= cfg.z)
            .then_some(score)
    }

    fn judge(&mut self, i: usize, t: i64) -> Option<Eval> {
        let p0 = baseline::baseline(self, i, t)?;
        let (from, to) = self.minutes(t, self.cfg.window_ms);
        let long = self.window(i, from, to);
        let mut eval = Eval {
            slice: i,
            breach: false,
            score: self.score(i, long, p0),
            window_ms: self.cfg.window_ms,
            counts: long,
            p0,
        };
        if let Some(score) = self.breach(i, long, p0) {
            eval.breach = true;
            eval.score = score;
        }
        if self.cfg.short_window_ms > 0 {
            let (from, to) = self.minutes(t, self.cfg.short_window_ms);
            let short = self.window(i, from, to);
            if let Some(score) = self.breach(i, short, p0)
                && (!eval.breach || score > eval.score)
            {
                eval = Eval {
                    slice: i,
                    breach: true,
                    score,
                    window_ms: self.cfg.short_window_ms,
                    counts: short,
                    p0,
                };
            }
        }
        Some(eval)
    }

    /// Whether slice `b`'s rise is explained by alerting slice `s`: their
    /// union (a parent explains its child outright) holds at least
    /// `explain_share` of `b`'s excess failures.
    fn explains(&mut self, s: usize, b: usize, t: i64) -> bool {
        let (sk, bk) = (self.slices[s].key, self.slices[b].key);
        let Some(union) = sk.union(&bk) else {
            return false;
        };
        let eu = match self.index.get(&union) {
            Some(&u) if u == b => return true,
            Some(&u) => self.excess_at(u, t),
            // Three dimensions are not tracked: bound the union's excess by
            // the tracked unions with `b`'s parents.
            None => Dim::ALL
                .into_iter()
                .filter(|d| bk.get(*d).is_some() && sk.get(*d).is_none())
                .filter_map(|d| {
                    let mut parent = bk;
                    parent.0[d as usize] = None;
                    let u = *self.index.get(&sk.union(&parent)?)?;
                    self.excess_at(u, t)
                })
                .reduce(f64::min),
        };
        match (eu, self.excess_at(b, t)) {
            (Some(eu), Some(eb)) if eb > 0.0 => eu >= self.cfg.explain_share * eb,
            _ => false,
        }
    }

    fn silenced(&self, i: usize, t: i64) -> bool {
        if self.cfg.silences.is_empty() {
            return false;
        }
        let slice = self.values.describe(&self.slices[i].key);
        self.cfg.silences.iter().any(|s| s.matches(&slice, t))
    }

    fn evaluate(&mut self, t: i64, out: &mut Vec<Alert>) {
        self.stats.ticks += 1;
        if self.stats.ticks.is_multiple_of(1_000) {
            self.trim(t);
        }
        let mut evals: Vec<Eval> = Vec::new();
        for i in 1..self.slices.len() {
            if !self.slices[i].judged {
                continue;
            }
            if let Some(e) = self.judge(i, t) {
                evals.push(e);
            } else if matches!(self.slices[i].phase, Phase::Pending { .. }) {
                self.slices[i].phase = Phase::Idle;
            }
        }
        // Coarser slices first, then the highest score: the slice that best
        // explains a rise pages, the ones it explains do not.
        let dims = |i: usize| self.slices[i].key.0.iter().flatten().count();
        evals.sort_by(|a, b| {
            dims(a.slice)
                .cmp(&dims(b.slice))
                .then(b.score.total_cmp(&a.score))
                .then(a.slice.cmp(&b.slice))
        });
        let mut accepted: Vec<usize> = Vec::new();
        // A silenced slice is not paged, and neither is what it explains.
        for e in &evals {
            if e.breach
                && matches!(self.slices[e.slice].phase, Phase::Idle)
                && self.silenced(e.slice, t)
            {
                self.stats.silenced += 1;
                accepted.push(e.slice);
            }
        }
        for e in &evals {
            if let Phase::Firing(_) = self.slices[e.slice].phase
                && !self.keep_firing(e, t, out)
            {
                continue;
            }
            if matches!(self.slices[e.slice].phase, Phase::Firing(_)) {
                accepted.push(e.slice);
            }
        }
        for e in &evals {
            let i = e.slice;
            match self.slices[i].phase {
                Phase::Firing(_) => {}
                Phase::Pending { since } => {
                    if !e.breach || self.explained(&accepted, i, t) {
                        self.slices[i].phase = Phase::Idle;
                    } else if t - since >= self.cfg.for_ms || self.strong(e) {
                        let page = self.drill(e, &evals, t);
                        if page.slice != i {
                            self.slices[i].phase = Phase::Idle;
                        }
                        self.fire(page, i, t, out);
                        accepted.extend([i, page.slice]);
                    } else {
                        accepted.push(i);
                    }
                }
                Phase::Idle => {
                    if !e.breach {
                        continue;
                    }
                    if accepted.contains(&i) {
                        // silenced
                    } else if self.explained(&accepted, i, t) {
                        // What it explains is explained too.
                        self.stats.suppressed += 1;
                        accepted.push(i);
                    } else {
                        accepted.push(i);
                        if self.cfg.for_ms == 0 || self.strong(e) {
                            let page = self.drill(e, &evals, t);
                            self.fire(page, i, t, out);
                            accepted.push(page.slice);
                        } else {
                            self.slices[i].phase = Phase::Pending { since: t };
                        }
                    }
                }
            }
        }
    }

    /// The slice to page for `e`, which is about to fire: itself or, again
    /// and again, the child (one more dimension) holding at least
    /// [`DRILL_SHARE`] of its excess failures, so the page names as much of
    /// what broke as the counts show (an Alipay rise that is all declines
    /// pages `payment_method=alipay, failure_cause=payment_declined`, whose
    /// contributors can then name a third dimension). Only evaluated,
    /// not firing children qualify.
    fn drill<'e>(&mut self, e: &'e Eval, evals: &'e [Eval], t: i64) -> &'e Eval {
        let mut page = e;
        loop {
            let child = self
                .children(page.slice, t)
                .into_iter()
                .filter(|c| c.share >= DRILL_SHARE)
                .filter(|c| {
                    matches!(
                        self.slices[c.slice].phase,
                        Phase::Idle | Phase::Pending { .. }
                    )
                })
                .filter_map(|c| Some((evals.iter().find(|e| e.slice == c.slice)?, c.share)))
                // The largest share, the first of equals.
                .fold(None, |best: Option<(&Eval, f64)>, c| match best {
                    Some(b) if b.1 >= c.1 => Some(b),
                    _ => Some(c),
                });
            match child {
                Some((eval, _)) => page = eval,
                None => return page,
            }
        }
    }

    /// Evidence too strong to wait `for` out: a score of at least
    /// `strong_z`. The likelihood-ratio score follows the count's own tail,
    /// so a handful of failures against an expectation of almost none does
    /// not reach it (a normal z would call 8 failures against 1 expected
    /// 7 sigma), while 20 against 0.5 does.
    fn strong(&self, e: &Eval) -> bool {
        self.cfg.strong_z > 0.0 && e.score >= self.cfg.strong_z
    }

    fn explained(&mut self, accepted: &[usize], i: usize, t: i64) -> bool {
        accepted.iter().any(|&s| s != i && self.explains(s, i, t))
    }

    /// Updates a firing slice; false once it resolved.
    fn keep_firing(&mut self, e: &Eval, t: i64, out: &mut Vec<Alert>) -> bool {
        let (from, to) = self.minutes(t, self.cfg.window_ms);
        let c = self.window(e.slice, from, to);
        let cfg = &self.cfg;
        let high = c.attempts >= cfg.min_attempts
            && c.rate() > e.p0 * cfg.resolve_ratio
            && excess(c.failures, c.attempts, e.p0) >= cfg.min_excess / 2.0;
        let quiet = cfg.quiet_ms;
        let Phase::Firing(f) = &mut self.slices[e.slice].phase else {
            return false;
        };
        if high {
            f.clear_since = None;
            f.alert.score = round(f.alert.score.max(e.score), 3);
            return true;
        }
        let since = *f.clear_since.get_or_insert(t);
        if t - since < quiet {
            return true;
        }
        let mut alert = f.alert.clone();
        alert.status = AlertStatus::Resolved;
        alert.resolved_at = Some(rfc3339(t));
        out.push(alert);
        self.slices[e.slice].phase = Phase::Idle;
        false
    }

    /// Fires `e`, paged for breaching slice `from` (itself, or its parent
    /// when [`Detector::drill`] went down): without sub-slices of its own
    /// (three dimensions are mostly not tracked), the contributors are the
    /// parent's on the dimensions the page does not name, their shares of
    /// the parent's excess (which the page holds nearly all of).
    fn fire(&mut self, e: &Eval, from: usize, t: i64, out: &mut Vec<Alert>) {
        let i = e.slice;
        let key = self.slices[i].key;
        let slice = self.values.describe(&key);
        let mut contributors = self.contributors(i, t);
        if contributors.is_empty() && from != i {
            contributors = self.contributors(from, t);
            contributors
                .retain(|c| Dim::from_name(&c.dimension).is_some_and(|d| key.get(d).is_none()));
        }
        let cause = slice
            .get(Dim::FailureCause.name())
            .cloned()
            .or_else(|| {
                contributors
                    .iter()
                    .find(|c| c.dimension == Dim::FailureCause.name())
                    .map(|c| c.value.clone())
            })
            .unwrap_or_else(|| model::vocab::FailureCause::Unknown.as_str().to_string());
        let started_at = rfc3339(t);
        let id = alert_id(&slice, t);
        let alert = Alert {
            id,
            status: AlertStatus::Firing,
            slice,
            started_at,
            resolved_at: None,
            window_seconds: u64::try_from(e.window_ms / 1_000).unwrap_or(0),
            attempts: e.counts.attempts,
            failures: e.counts.failures,
            failure_rate: round(e.counts.rate(), 6),
            baseline_rate: round(e.p0, 6),
            score: round(e.score, 3),
            contributors,
            runbook: self.cfg.runbooks.text(&cause),
        };
        out.push(alert.clone());
        self.slices[i].phase = Phase::Firing(Box::new(Firing {
            alert,
            clear_since: None,
            resumed: false,
        }));
    }

    /// The sub-slices of slice `i` (one more dimension) ranked by their
    /// share of its excess failures over the long window.
    fn contributors(&mut self, i: usize, t: i64) -> Vec<Contributor> {
        let mut out = self.children(i, t);
        out.retain(|c| c.share >= 0.05);
        out.sort_by(|a, b| {
            b.share
                .total_cmp(&a.share)
                .then((a.dim, a.value).cmp(&(b.dim, b.value)))
        });
        out.truncate(self.cfg.max_contributors);
        out.into_iter()
            .map(|c| Contributor {
                dimension: c.dim.name().to_string(),
                value: self.values.name(c.dim, c.value).to_string(),
                share: round(c.share.min(1.0), 3),
            })
            .collect()
    }

    /// The tracked sub-slices of slice `i` (one more dimension) with their
    /// share of its excess failures over the long window; none when it has
    /// no excess. What contributors are ranked from and drilling goes down.
    fn children(&mut self, i: usize, t: i64) -> Vec<Child> {
        let Some(total) = self.excess_at(i, t).filter(|e| *e > 0.0) else {
            return Vec::new();
        };
        let key = self.slices[i].key;
        let mut out = Vec::new();
        for dim in Dim::ALL {
            if key.get(dim).is_some() {
                continue;
            }
            for v in 0..self.values.count(dim) {
                let value = v as ValueId;
                let Some(&slice) = self.index.get(&key.with(dim, value)) else {
                    continue;
                };
                if let Some(e) = self.excess_at(slice, t) {
                    out.push(Child {
                        slice,
                        dim,
                        value,
                        share: e / total,
                    });
                }
            }
        }
        out
    }

    fn trim(&mut self, t: i64) {
        let keep_minutes = (t - 2 * self.cfg.window_ms - 86_400_000).div_euclid(MINUTE_MS);
        let keep_blocks = (t - self.cfg.retention_ms).div_euclid(BLOCK_MS);
        for s in &mut self.slices {
            s.minutes.trim_before(keep_minutes);
            s.blocks.trim_before(keep_blocks);
        }
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let k = 10f64.powi(digits);
    (x * k).round() / k
}

/// RFC 3339 UTC with milliseconds.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// A stable id: FNV-1a of the slice and the start.
fn alert_id(slice: &std::collections::BTreeMap<String, String>, started_ms: i64) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for (k, v) in slice {
        feed(k.as_bytes());
        feed(b"=");
        feed(v.as_bytes());
        feed(b";");
    }
    feed(&started_ms.to_le_bytes());
    format!("{h:016x}")
}
