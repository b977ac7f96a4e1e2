//! `alignrl reproduce barfi` (placeholder: the suite is being built; it exits with an error).

use super::Common;

/// Options of `alignrl reproduce barfi`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
}

/// Runs the suite.
pub fn run(_args: &Args) -> anyhow::Result<()> {
    anyhow::bail!("reproduce barfi is not available in this build yet")
}
