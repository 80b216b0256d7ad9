//! `orderpulse backfill`: writes the derived files stored data lacks (the
//! `order_attempts_minutes` files of data stored by a version of ingest
//! that did not write them) and compacts them (one file per date and
//! partition). `ingest` and `serve` do the same in the background; this
//! does it now and says what it did.

use std::path::PathBuf;

use clap::Args;

/// Write the minute counts (order_attempts_minutes) stored files lack, and compact them.
#[derive(Debug, Args)]
pub(crate) struct BackfillArgs {
    /// The data directory (CONTRACT section 3).
    #[arg(long, env = "ORDERPULSE_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
}

pub(crate) async fn run(args: BackfillArgs) -> anyhow::Result<()> {
    let dir = args.data_dir.clone();
    let started = std::time::Instant::now();
    let (done, compacted) = tokio::task::spawn_blocking(move || {
        let done = ingest::sink::backfill(&dir)?;
        let options = ingest::sink::CompactOptions {
            min_files: 2,
            grace: ingest::sink::COMPACT_GRACE,
            today: chrono::Utc::now().date_naive(),
        };
        anyhow::Ok((done, ingest::sink::compact(&dir, &options)?))
    })
    .await??;
    eprintln!(
        "{} minutes files written ({} rows counted), {} compacted files written \
         (for {} files), {} removed, in {:.1} s under {}",
        done.files,
        done.rows,
        compacted.written,
        compacted.files,
        compacted.removed,
        started.elapsed().as_secs_f64(),
        args.data_dir.display()
    );
    if done.failed + compacted.failed > 0 {
        anyhow::bail!(
            "{} stored files could not be counted (see the warnings above); \
             queries count their rows from the files themselves",
            done.failed + compacted.failed
        );
    }
    Ok(())
}
