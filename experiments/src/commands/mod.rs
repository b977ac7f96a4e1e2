//! One module per subcommand.

pub mod bench;
pub mod check;
pub mod envs;
pub mod eval;
pub mod rollout;
pub mod train;

use alignrl_envs::{Env, Registry};

use crate::usage;

/// Parses repeated `--opt key=value` arguments.
pub fn parse_options(raw: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    raw.iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| usage(format!("--opt {kv:?}: expected key=value, e.g. --opt g=9.81")))
        })
        .collect()
}

/// Builds a registered env from the command line's id and options; errors are usage errors.
pub fn make_env(id: &str, opts: &[String]) -> anyhow::Result<Box<dyn Env>> {
    make_env_in(Registry::builtin(), id, opts)
}

/// [`make_env`] from a given registry.
pub fn make_env_in(registry: &Registry, id: &str, opts: &[String]) -> anyhow::Result<Box<dyn Env>> {
    let options = parse_options(opts)?;
    registry.make_from_strings(id, &options).map_err(|e| usage(e.to_string()))
}
