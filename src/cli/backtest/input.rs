//! Where the backtest's events come from: an NDJSON file through the
//! ingest decoder (so validation is exactly ingest's), or the data
//! directory through one aggregate SQL query; and the replay they feed.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use analytics::detect::{Attempt, Detector};
use analytics::{Analytics, AnalyticsConfig, Limits, SavedQueries};
use anyhow::{Context, bail};
use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampMillisecondType};
use ingest::decode::{Decoder, DecoderConfig, MAX_MESSAGE_BYTES, Source, UserKeyHasher};
use model::Reason;
use model::alert::Alert;
use model::schema::col;

use super::score::{Incident, StaticRule};

/// Events fed to the detector and the static rule, in event time.
pub(crate) struct Replay {
    pub(crate) detector: Detector,
    pub(crate) rule: Option<StaticRule>,
    /// Transitions (firing, resolved) in order.
    pub(crate) transitions: Vec<Alert>,
    /// Real incidents whose slice attempts are counted from the events.
    pub(crate) incidents: Vec<Incident>,
    cursor: usize,
    pub(crate) from_ms: i64,
    pub(crate) to_ms: i64,
    pub(crate) events: u64,
    pub(crate) first_ms: Option<i64>,
    pub(crate) last_ms: Option<i64>,
}

impl Replay {
    pub(crate) fn new(
        detector: Detector,
        rule: Option<StaticRule>,
        incidents: Vec<Incident>,
        from_ms: i64,
        to_ms: i64,
    ) -> Self {
        Self {
            detector,
            rule,
            transitions: Vec::new(),
            incidents,
            cursor: 0,
            from_ms,
            to_ms,
            events: 0,
            first_ms: None,
            last_ms: None,
        }
    }

    /// `n` attempts at `ts` (failures when the cause is set).
    pub(crate) fn row(&mut self, ts: i64, a: &Attempt<'_>, n: u32) {
        if ts < self.from_ms || ts >= self.to_ms || n == 0 {
            return;
        }
        self.events += u64::from(n);
        self.first_ms = Some(self.first_ms.map_or(ts, |f| f.min(ts)));
        self.last_ms = Some(self.last_ms.map_or(ts, |l| l.max(ts)));
        self.transitions.extend(self.detector.advance(ts));
        let cell = self.detector.cell(a);
        self.detector.add(ts, cell, n);
        let (channel, method) = (a.channel, a.payment_method);
        if let Some(rule) = &mut self.rule {
            rule.advance(ts);
            rule.add(ts, channel, method, a.failure_cause.is_some(), u64::from(n));
        }
        self.count_incident(ts, channel, method, a.app_version, n);
    }

    fn count_incident(
        &mut self,
        ts: i64,
        channel: &str,
        method: Option<&str>,
        app_version: Option<&str>,
        n: u32,
    ) {
        while self.cursor < self.incidents.len() && self.incidents[self.cursor].end_ms <= ts {
            self.cursor += 1;
        }
        for inc in &mut self.incidents[self.cursor..] {
            if inc.start_ms > ts {
                break;
            }
            if ts >= inc.end_ms {
                continue;
            }
            let fits = inc.truth.slice.iter().all(|(k, v)| match k.as_str() {
                "channel" => channel == v,
                "payment_method" => method == Some(v.as_str()),
                "app_version" => app_version == Some(v.as_str()),
                _ => true,
            });
            if fits {
                inc.attempts += u64::from(n);
            }
        }
    }

    /// Runs the evaluations up to `end_ms` and returns every alert once, in
    /// its last state, by start.
    pub(crate) fn finish(&mut self, end_ms: i64) -> Vec<Alert> {
        self.transitions.extend(self.detector.advance(end_ms));
        if let Some(rule) = &mut self.rule {
            rule.advance(end_ms);
        }
        let mut last: BTreeMap<String, Alert> = BTreeMap::new();
        for a in self.transitions.drain(..) {
            last.insert(a.id.clone(), a);
        }
        let mut out: Vec<Alert> = last.into_values().collect();
        out.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
        out
    }
}

/// What the decoder made of the input file.
#[derive(Debug, Default)]
pub(crate) struct InputSummary {
    pub(crate) lines: u64,
    pub(crate) blank: u64,
    pub(crate) accepted: u64,
    pub(crate) duplicates: u64,
    pub(crate) rejected: BTreeMap<&'static str, u64>,
}

impl InputSummary {
    pub(crate) fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    pub(crate) fn describe(&self) -> String {
        let mut s = format!(
            "{} lines: {} accepted, {} rejected, {} duplicates",
            self.lines,
            self.accepted,
            self.rejected_total(),
            self.duplicates
        );
        if self.blank > 0 {
            s.push_str(&format!(", {} blank", self.blank));
        }
        if self.rejected_total() > 0 {
            let reasons: Vec<String> = self
                .rejected
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            s.push_str(&format!(" ({})", reasons.join(", ")));
        }
        s
    }
}

/// Lines decoded between batches.
const BATCH_LINES: usize = 16_384;

/// Replays an NDJSON file of events (CONTRACT section 1, one per line).
pub(crate) fn read_ndjson(path: &Path, replay: &mut Replay) -> anyhow::Result<InputSummary> {
    let shown = path.display();
    let source: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = File::open(path).with_context(|| format!("opening --input {shown}"))?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            bail!("--input {shown} is a directory; give an NDJSON file");
        }
        Box::new(file)
    };
    let mut reader = BufReader::with_capacity(1 << 20, source);
    let hasher = UserKeyHasher::from_config(None, true).context("the demo user-key secret")?;
    let mut decoder = Decoder::new(DecoderConfig::new(hasher));
    let mut summary = InputSummary::default();
    let mut oversized = 0u64;
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        let read = (&mut reader)
            .take(MAX_MESSAGE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading --input {shown}"))?;
        if read == 0 {
            break;
        }
        summary.lines += 1;
        if buf.last() != Some(&b'\n') && buf.len() > MAX_MESSAGE_BYTES {
            // Longer than any event may be: skip the rest unread.
            skip_line(&mut reader).with_context(|| format!("reading --input {shown}"))?;
            oversized += 1;
            continue;
        }
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            summary.blank += 1;
            continue;
        }
        let src = Source {
            topic: "backtest",
            partition: 0,
            offset: i64::try_from(summary.lines).unwrap_or(i64::MAX),
            // Replayed history: the "not 24 h ahead of ingest" rule is about
            // the ingest clock, which a replay does not have.
            now_ms: i64::MAX / 2,
        };
        decoder.decode(line, &src);
        if decoder.pending_rows() >= BATCH_LINES {
            feed_batch(&decoder.finish_batch()?, replay)?;
            decoder.take_rejected();
        }
    }
    feed_batch(&decoder.finish_batch()?, replay)?;
    let stats = decoder.stats();
    summary.accepted = stats.accepted;
    summary.duplicates = stats.duplicates;
    for r in Reason::ALL {
        summary.rejected.insert(r.as_str(), stats.rejected(r));
    }
    *summary
        .rejected
        .entry(Reason::MessageTooLarge.as_str())
        .or_default() += oversized;
    Ok(summary)
}

fn skip_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(p) => {
                reader.consume(p + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

fn strings(batch: &RecordBatch, i: usize) -> anyhow::Result<StringArray> {
    let c = arrow::compute::cast(batch.column(i), &DataType::Utf8)?;
    Ok(c.as_string::<i32>().clone())
}

fn millis(batch: &RecordBatch, i: usize) -> anyhow::Result<Vec<Option<i64>>> {
    let c = arrow::compute::cast(
        batch.column(i),
        &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
    )?;
    Ok(c.as_primitive::<TimestampMillisecondType>()
        .iter()
        .collect())
}

fn opt(a: &StringArray, row: usize) -> Option<&str> {
    (!a.is_null(row)).then(|| a.value(row))
}

/// Feeds one decoded `order_attempts` batch, row by row.
fn feed_batch(batch: &RecordBatch, replay: &mut Replay) -> anyhow::Result<()> {
    if batch.num_rows() == 0 {
        return Ok(());
    }
    let ts = millis(batch, col::TS)?;
    let channel = strings(batch, col::CHANNEL)?;
    let method = strings(batch, col::PAYMENT_METHOD)?;
    let cause = strings(batch, col::FAILURE_CAUSE)?;
    let version = strings(batch, col::APP_VERSION)?;
    for (row, t) in ts.iter().enumerate() {
        let (Some(t), Some(ch)) = (*t, opt(&channel, row)) else {
            continue;
        };
        let attempt = Attempt {
            channel: ch,
            payment_method: opt(&method, row),
            app_version: opt(&version, row),
            failure_cause: opt(&cause, row),
        };
        replay.row(t, &attempt, 1);
    }
    Ok(())
}

/// A data-directory engine for long aggregate queries.
pub(crate) async fn engine(data_dir: &Path) -> anyhow::Result<Analytics> {
    let limits = Limits {
        timeout: std::time::Duration::from_secs(600),
        max_rows: 100_000_000,
        max_result_bytes: 4 << 30,
        ..Limits::default()
    };
    let config = AnalyticsConfig {
        data_dir: data_dir.to_path_buf(),
        live: None,
        limits,
        queries: SavedQueries::embedded()?,
        plan_embedded: false,
    };
    Ok(Analytics::new(config).await?)
}

fn sql_time(ms: i64) -> String {
    analytics::detect::rfc3339(ms)
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Replays the data directory between `from` and `to` with one query:
/// attempts per bucket (the alert interval, at most a minute), channel,
/// payment method and failure cause (`analytics::counts::cell_counts`).
pub(crate) async fn read_data_dir(
    analytics: &Analytics,
    replay: &mut Replay,
    bucket_s: i64,
) -> anyhow::Result<u64> {
    let (from, to) = (replay.from_ms, replay.to_ms);
    analytics::counts::cell_counts(analytics, from, to, bucket_s, |t, attempt, n| {
        replay.row(t, attempt, n);
    })
    .await
    .map_err(super::super::sql::one_line)
}

/// Counts each incident's slice attempts in the data directory.
pub(crate) async fn count_incidents(
    analytics: &Analytics,
    incidents: &mut [Incident],
) -> anyhow::Result<()> {
    for inc in incidents {
        let mut filter = vec![format!(
            "ts >= TIMESTAMP {} AND ts < TIMESTAMP {}",
            quote(&sql_time(inc.start_ms)),
            quote(&sql_time(inc.end_ms))
        )];
        for (k, v) in &inc.truth.slice {
            if matches!(k.as_str(), "channel" | "payment_method" | "app_version") {
                filter.push(format!("CAST({k} AS VARCHAR) = {}", quote(v)));
            }
        }
        let sql = format!(
            "SELECT count(*) FROM order_attempts WHERE {}",
            filter.join(" AND ")
        );
        let out = analytics
            .sql(&sql)
            .await
            .map_err(super::super::sql::one_line)?;
        inc.attempts = out
            .batches
            .first()
            .filter(|b| b.num_rows() > 0)
            .map(|b| b.column(0).as_primitive::<Int64Type>().value(0))
            .unwrap_or(0)
            .max(0) as u64;
    }
    Ok(())
}
