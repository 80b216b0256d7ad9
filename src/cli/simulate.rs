//! `orderpulse simulate`: placeholder, replaced by the simulator work.

use clap::Args;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {}

pub(crate) async fn run(_args: SimulateArgs, _shutdown: CancellationToken) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
