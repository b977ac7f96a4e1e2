//! The `alignrl` command-line runner: subcommands, files a user sees, exit codes.
//!
//! Exit codes: 0 success, 1 a run failed, 2 bad input (usage, unknown env id, bad option or
//! action, malformed file). Human text goes to stderr; with `--json` a subcommand prints exactly
//! one JSON object on stdout.

pub mod commands;
pub mod io;
pub mod reproduce;
pub mod run_dir;

/// An error caused by the user's input (exit code 2), as opposed to a failure of the run (exit 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Shorthand for a [`UsageError`] wrapped in `anyhow`.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}

/// The exit code for an error: 2 when any cause is a [`UsageError`], else 1.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.chain().any(|c| c.is::<UsageError>()) { 2 } else { 1 }
}
