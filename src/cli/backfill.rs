//! `orderpulse backfill`: writes the derived files stored data lacks (today
//! the `order_attempts_minutes` files of data stored by a version of ingest
//! that did not write them). `ingest` and `serve` do the same in the
//! background when they start; this does it now and says what it did.

use std::path::PathBuf;

use clap::Args;

/// Write the minute counts (order_attempts_minutes) of stored files that lack them.
#[derive(Debug, Args)]
pub(crate) struct BackfillArgs {
    /// The data directory (CONTRACT section 3).
    #[arg(long, env = "ORDERPULSE_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
}

pub(crate) async fn run(args: BackfillArgs) -> anyhow::Result<()> {
    let dir = args.data_dir.clone();
    let started = std::time::Instant::now();
    let done = tokio::task::spawn_blocking(move || ingest::sink::backfill(&dir)).await??;
    eprintln!(
        "{} minutes files written ({} rows counted) in {:.1} s under {}",
        done.files,
        done.rows,
        started.elapsed().as_secs_f64(),
        args.data_dir.display()
    );
    if done.failed > 0 {
        anyhow::bail!(
            "{} stored files could not be counted (see the warnings above); \
             queries count their rows from the files themselves",
            done.failed
        );
    }
    Ok(())
}
