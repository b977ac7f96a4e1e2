//! `alignrl reproduce parl` (placeholder: the suite is being built; it exits with an error).

use super::Common;

/// Options of `alignrl reproduce parl`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
}

/// Runs the suite.
pub fn run(_args: &Args) -> anyhow::Result<()> {
    anyhow::bail!("reproduce parl is not available in this build yet")
}
