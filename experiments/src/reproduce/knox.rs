//! `alignrl reproduce knox-regret` (placeholder: the suite is being built; it exits with an error).

use super::Common;

/// Options of `alignrl reproduce knox-regret`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
}

/// Runs the suite.
pub fn run(_args: &Args) -> anyhow::Result<()> {
    anyhow::bail!("reproduce knox-regret is not available in this build yet")
}
