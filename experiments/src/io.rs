//! Files: atomic writes (temp file in the same folder, fsync, rename) and JSON output.

use std::path::Path;

use anyhow::Context;

/// Writes `bytes` to `path` atomically ([`alignrl_envs::fsio::atomic_write`]), with the path in
/// the error.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    alignrl_envs::fsio::atomic_write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Prints one JSON object on stdout (the `--json` contract).
pub fn print_json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string(value).expect("JSON values serialise"));
}
