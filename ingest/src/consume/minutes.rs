//! The minutes thread of a running ingest: backfills minutes files once,
//! then compacts them every [`COMPACT_EVERY`] until ingest stops.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the minutes files are compacted while ingest runs.
const COMPACT_EVERY: Duration = Duration::from_secs(300);
/// A date of a partition is compacted again once this many new files of it
/// are not in its compacted file (about 8 minutes of 30-second flushes).
const COMPACT_MIN_FILES: usize = 16;

/// Stops the minutes thread when `run` returns.
pub(super) struct StopOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// On a thread of its own, so ingest is never delayed: writes the minutes
/// files stored data lacks ([`crate::sink::backfill`]: data stored by an
/// older version), then compacts them every [`COMPACT_EVERY`]
/// ([`crate::sink::compact`]) until ingest stops. Not waited for: minutes
/// files are derived, and a temp file left half-written is a leftover like
/// any other.
pub(super) fn in_background(data_dir: &std::path::Path) -> StopOnDrop {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (dir, stopped) = (data_dir.to_path_buf(), stop.clone());
    let spawned = std::thread::Builder::new()
        .name("ingest-minutes".into())
        .spawn(move || {
            let started = Instant::now();
            match crate::sink::backfill(&dir) {
                Ok(done) if done.files > 0 || done.failed > 0 => tracing::info!(
                    files = done.files,
                    rows = done.rows,
                    failed = done.failed,
                    elapsed = ?started.elapsed(),
                    "minutes files backfilled"
                ),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "backfilling minutes files failed"),
            }
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                let options = crate::sink::CompactOptions {
                    min_files: COMPACT_MIN_FILES,
                    grace: crate::sink::COMPACT_GRACE,
                    today: chrono::Utc::now().date_naive(),
                };
                match crate::sink::compact(&dir, &options) {
                    Ok(done) if done.written > 0 || done.removed > 0 => tracing::debug!(
                        written = done.written,
                        files = done.files,
                        removed = done.removed,
                        "minutes files compacted"
                    ),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "compacting minutes files failed"),
                }
                let slept = Instant::now();
                while slept.elapsed() < COMPACT_EVERY
                    && !stopped.load(std::sync::atomic::Ordering::Relaxed)
                {
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "no minutes thread; run `orderpulse backfill`");
    }
    StopOnDrop(stop)
}
