//! `alignrl reproduce calib-sweep` (placeholder: the suite is being built; it exits with an error).

use super::Common;

/// Options of `alignrl reproduce calib-sweep`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
}

/// Runs the suite.
pub fn run(_args: &Args) -> anyhow::Result<()> {
    anyhow::bail!("reproduce calib-sweep is not available in this build yet")
}
