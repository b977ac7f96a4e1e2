//! `alignrl reproduce l2calib-toy` (placeholder: the suite is being built; it exits with an error).

use super::Common;

/// Options of `alignrl reproduce l2calib-toy`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
}

/// Runs the suite.
pub fn run(_args: &Args) -> anyhow::Result<()> {
    anyhow::bail!("reproduce l2calib-toy is not available in this build yet")
}
