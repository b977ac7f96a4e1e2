//! A training run's directory and its files (ARCHITECTURE, "Files a user sees"):
//!
//! ```text
//! runs/<env>__<algo>__<seed>__<unix time>/
//!   config.toml             the resolved configuration (written atomically before training)
//!   metrics.csv             one row per update, appended and flushed line by line
//!   summary.json            final mean return, steps, wall time, status (written atomically)
//!   checkpoints/final.mpk   the trained agent (burn named MessagePack, full precision; atomic)
//!   checkpoints/latest.mpk  the networks after the most recent `--checkpoint-every` update, kept
//!                           when training stops on a NaN (the last good checkpoint)
//!   plots/learning_curve.png
//! ```
//!
//! `metrics.csv` is the one file not rewritten atomically: each update appends one complete line
//! and flushes it, so after a crash the file holds a header and every finished update.
//!
//! [`RunConfig`] is the `config.toml` format, also accepted by `alignrl train --config`. Unknown
//! keys and ill-typed values are reported with the file, line and key ([`RunConfig::parse`]).

use std::fs::File;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use alignrl_agents::backend::DeviceKind;
use alignrl_agents::ppo::{PpoConfig, UpdateStats};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use toml::de::{DeTable, DeValue};

use crate::usage;

/// File names inside a run directory.
pub const CONFIG_FILE: &str = "config.toml";
/// Per-update metrics.
pub const METRICS_FILE: &str = "metrics.csv";
/// End-of-run summary.
pub const SUMMARY_FILE: &str = "summary.json";
/// The trained agent's checkpoint, relative to the run directory.
pub const CHECKPOINT_FILE: &str = "checkpoints/final.mpk";
/// The periodic checkpoint, relative to the run directory.
pub const LATEST_CHECKPOINT_FILE: &str = "checkpoints/latest.mpk";
/// The learning curve plot, relative to the run directory.
pub const PLOT_FILE: &str = "plots/learning_curve.png";

/// The header of `metrics.csv`.
pub const METRICS_HEADER: &str = "update,step,wall_time_s,episodes,episode_return_mean,episode_length_mean,\
policy_loss,value_loss,entropy,approx_kl,clip_frac,explained_variance,learning_rate,sps";

fn default_algo() -> String {
    "ppo".into()
}

fn default_total_steps() -> u64 {
    500_000
}

/// The resolved configuration of a run (`config.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Registered env id, e.g. `CartPole-v1`.
    #[serde(default)]
    pub env: String,
    /// Env options as `key=value` strings (as `--opt`).
    #[serde(default)]
    pub env_options: Vec<String>,
    /// The algorithm (`ppo`).
    #[serde(default = "default_algo")]
    pub algo: String,
    /// Environment steps to train for (all sub-envs).
    #[serde(default = "default_total_steps")]
    pub total_steps: u64,
    /// `cpu` or `cuda`.
    #[serde(default)]
    pub device: DeviceKind,
    /// Updates between two periodic checkpoints (`checkpoints/latest.mpk`, the last good one
    /// if training later stops on a NaN).
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: usize,
    /// The PPO hyperparameters; `ppo.seed` is the run's seed.
    #[serde(default)]
    pub ppo: PpoConfig,
}

fn default_checkpoint_every() -> usize {
    20
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            env: String::new(),
            env_options: Vec::new(),
            algo: default_algo(),
            total_steps: default_total_steps(),
            device: DeviceKind::Cpu,
            checkpoint_every: default_checkpoint_every(),
            ppo: PpoConfig::default(),
        }
    }
}

/// 1-based line of byte offset `pos` in `text`.
fn line_of(text: &str, pos: usize) -> usize {
    text[..pos.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

/// The keys a [`PpoConfig`] table accepts (from serialising the default, plus the optional ones
/// that a `None` leaves out).
fn ppo_keys() -> Vec<String> {
    let table = toml::Table::try_from(PpoConfig::default()).expect("PpoConfig serialises");
    let mut keys: Vec<String> = table.keys().cloned().collect();
    for optional in ["target_kl"] {
        if !keys.iter().any(|k| k == optional) {
            keys.push(optional.into());
        }
    }
    keys.sort();
    keys
}

const TOP_KEYS: [&str; 7] =
    ["env", "env_options", "algo", "total_steps", "device", "checkpoint_every", "ppo"];

/// The dotted key whose key or value span contains `pos` (innermost), if any. A table's own span
/// need not cover its body (a `[header]` table), so every table is searched.
fn key_at(table: &DeTable<'_>, pos: usize, prefix: &str) -> Option<String> {
    let mut found = None;
    for (k, v) in table.iter() {
        let name =
            if prefix.is_empty() { k.get_ref().to_string() } else { format!("{prefix}.{}", k.get_ref()) };
        if let DeValue::Table(t) = v.get_ref()
            && let Some(inner) = key_at(t, pos, &name)
        {
            return Some(inner);
        }
        let (span, key_span): (Range<usize>, Range<usize>) = (v.span(), k.span());
        if span.contains(&pos) || key_span.contains(&pos) {
            found = Some(name);
        }
    }
    found
}

impl RunConfig {
    /// Parses a `config.toml` (`origin` names the file in errors). Unknown keys and bad values
    /// are [`crate::UsageError`]s naming the file, line and key.
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<Self> {
        let doc = DeTable::parse(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            usage(format!("{origin}:{line}: invalid TOML: {}", e.message().trim()))
        })?;
        let table = doc.get_ref();
        // Unknown keys, checked before deserialising so that the message lists the known ones.
        for (k, v) in table.iter() {
            let key = k.get_ref().as_ref();
            if !TOP_KEYS.contains(&key) {
                return Err(usage(format!(
                    "{origin}:{}: unknown key `{key}` (known keys: {})",
                    line_of(text, k.span().start),
                    TOP_KEYS.join(", ")
                )));
            }
            if key == "ppo"
                && let DeValue::Table(ppo) = v.get_ref()
            {
                let known = ppo_keys();
                for (pk, _) in ppo.iter() {
                    if !known.iter().any(|n| n == pk.get_ref().as_ref()) {
                        return Err(usage(format!(
                            "{origin}:{}: unknown key `ppo.{}` (known keys: {})",
                            line_of(text, pk.span().start),
                            pk.get_ref(),
                            known.join(", ")
                        )));
                    }
                }
            }
        }
        toml::from_str::<RunConfig>(text).map_err(|e| {
            let (line, key) = match e.span() {
                Some(s) => (line_of(text, s.start), key_at(table, s.start, "")),
                None => (1, None),
            };
            let key = key.map(|k| format!(" key `{k}`:")).unwrap_or_default();
            usage(format!("{origin}:{line}:{key} {}", e.message().trim()))
        })
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| usage(format!("cannot read config {}: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The TOML text of this configuration.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("RunConfig serialises to TOML");
        format!("# alignrl run configuration (resolved; re-usable with `alignrl train --config`)\n{body}")
    }
}

/// Paths of a run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The directory.
    pub root: PathBuf,
}

impl RunDir {
    /// A run directory at `root` (nothing is created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The default name: `runs/<env>__<algo>__<seed>__<unix time>`.
    pub fn default_path(env: &str, algo: &str, seed: u64) -> PathBuf {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let env: String = env
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' })
            .collect();
        PathBuf::from("runs").join(format!("{env}__{algo}__{seed}__{secs}"))
    }

    /// Creates the directory with `checkpoints/` and `plots/`; refuses a non-empty existing one.
    pub fn create(&self) -> anyhow::Result<()> {
        if self.root.exists() {
            let empty = std::fs::read_dir(&self.root).map(|mut d| d.next().is_none()).unwrap_or(false);
            if !empty {
                return Err(usage(format!(
                    "run directory {} already exists and is not empty; choose another --run-dir",
                    self.root.display()
                )));
            }
        }
        for sub in ["checkpoints", "plots"] {
            let p = self.root.join(sub);
            std::fs::create_dir_all(&p).with_context(|| format!("cannot create {}", p.display()))?;
        }
        Ok(())
    }

    /// `config.toml`.
    pub fn config(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }
    /// `metrics.csv`.
    pub fn metrics(&self) -> PathBuf {
        self.root.join(METRICS_FILE)
    }
    /// `summary.json`.
    pub fn summary(&self) -> PathBuf {
        self.root.join(SUMMARY_FILE)
    }
    /// `checkpoints/final.mpk`.
    pub fn checkpoint(&self) -> PathBuf {
        self.root.join(CHECKPOINT_FILE)
    }

    /// `checkpoints/latest.mpk`.
    pub fn latest_checkpoint(&self) -> PathBuf {
        self.root.join(LATEST_CHECKPOINT_FILE)
    }
    /// `plots/learning_curve.png`.
    pub fn plot(&self) -> PathBuf {
        self.root.join(PLOT_FILE)
    }
}

/// Appends one line per update to `metrics.csv`, flushing each line.
#[derive(Debug)]
pub struct MetricsWriter {
    file: File,
    path: PathBuf,
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

impl MetricsWriter {
    /// Creates `path` with the header.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let mut file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        writeln!(file, "{METRICS_HEADER}").with_context(|| format!("cannot write {}", path.display()))?;
        file.flush()?;
        Ok(Self { file, path: path.to_path_buf() })
    }

    /// Appends the row of one update.
    pub fn append(&mut self, s: &UpdateStats, wall_time_s: f64) -> anyhow::Result<()> {
        writeln!(
            self.file,
            "{},{},{wall_time_s},{},{},{},{},{},{},{},{},{},{},{}",
            s.update,
            s.global_step,
            s.episodes,
            opt(s.mean_return),
            opt(s.mean_length),
            s.policy_loss,
            s.value_loss,
            s.entropy,
            s.approx_kl,
            s.clip_frac,
            s.explained_variance,
            s.learning_rate,
            s.sps
        )
        .and_then(|_| self.file.flush())
        .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_through_toml() {
        let cfg = RunConfig { env: "CartPole-v1".into(), ..RunConfig::default() };
        let back = RunConfig::parse(&cfg.to_toml(), "x.toml").unwrap();
        assert_eq!(back, cfg);
        let with_kl =
            RunConfig { ppo: PpoConfig { target_kl: Some(0.01), ..PpoConfig::default() }, ..cfg.clone() };
        assert_eq!(RunConfig::parse(&with_kl.to_toml(), "x.toml").unwrap(), with_kl);
    }

    #[test]
    fn unknown_and_bad_keys_name_file_line_and_key() {
        let e = RunConfig::parse("env = \"CartPole-v1\"\n[ppo]\nnum_envs = 2\nlearnin_rate = 1\n", "c.toml")
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("c.toml:4") && msg.contains("ppo.learnin_rate"), "{msg}");
        let e = RunConfig::parse("bogus = 1\n", "c.toml").unwrap_err().to_string();
        assert!(e.contains("c.toml:1") && e.contains("`bogus`"), "{e}");
        let e = RunConfig::parse("env = \"x\"\n\n[ppo]\nnum_envs = \"four\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("c.toml:4") && e.contains("ppo.num_envs"), "{e}");
        let e = RunConfig::parse("total_steps = -3\n", "c.toml").unwrap_err().to_string();
        assert!(e.contains("c.toml:1") && e.contains("total_steps"), "{e}");
        let e = RunConfig::parse("env = \n", "c.toml").unwrap_err().to_string();
        assert!(e.contains("c.toml:1") && e.contains("invalid TOML"), "{e}");
    }
}
