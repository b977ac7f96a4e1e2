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
use alignrl_agents::sac::{SacConfig, SacStats};
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
/// Observation statistics of the final PPO checkpoint (`ppo.norm_obs = true`).
pub const OBS_NORM_FILE: &str = "checkpoints/obs_norm.json";
/// Observation statistics of the periodic PPO checkpoint.
pub const LATEST_OBS_NORM_FILE: &str = "checkpoints/latest_obs_norm.json";
/// The folder of resumable checkpoints (`update_<k>/` folders and a `LATEST` pointer file).
pub const RESUME_DIR: &str = "checkpoints/resume";
/// One row per finished training episode.
pub const EPISODES_FILE: &str = "episodes.csv";
/// The header of `episodes.csv`.
pub const EPISODES_HEADER: &str = "episode,step,wall_time_s,return,length";
/// The learning curve plot, relative to the run directory.
pub const PLOT_FILE: &str = "plots/learning_curve.png";

/// The header of a SAC run's `metrics.csv` (one row per log interval).
pub const SAC_METRICS_HEADER: &str = "log,step,wall_time_s,updates,episodes,episode_return_mean,q_loss,\
actor_loss,alpha,alpha_loss,updates_per_sec";

/// The header of a PPO run's `metrics.csv`.
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
    /// The algorithm (`ppo` or `sac`).
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
    /// The PPO hyperparameters; `ppo.seed` is a PPO run's seed.
    #[serde(default)]
    pub ppo: PpoConfig,
    /// The SAC hyperparameters; `sac.seed` is a SAC run's seed. A SAC run checkpoints every
    /// `checkpoint_every` log intervals (`sac.log_interval` env steps each).
    #[serde(default)]
    pub sac: SacConfig,
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
            sac: SacConfig::default(),
        }
    }
}

/// 1-based line of byte offset `pos` in `text`.
fn line_of(text: &str, pos: usize) -> usize {
    text[..pos.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

/// The keys a hyperparameter table accepts (from serialising the default, plus the optional ones
/// that a `None` leaves out).
fn section_keys(section: &str) -> Vec<String> {
    let (table, optional): (toml::Table, &[&str]) = match section {
        "ppo" => (toml::Table::try_from(PpoConfig::default()).expect("serialises"), &["target_kl"]),
        _ => (toml::Table::try_from(SacConfig::default()).expect("serialises"), &["target_entropy"]),
    };
    let mut keys: Vec<String> = table.keys().cloned().collect();
    for &optional in optional {
        if !keys.iter().any(|k| k == optional) {
            keys.push(optional.into());
        }
    }
    keys.sort();
    keys
}

const TOP_KEYS: [&str; 8] =
    ["env", "env_options", "algo", "total_steps", "device", "checkpoint_every", "ppo", "sac"];

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
            if (key == "ppo" || key == "sac")
                && let DeValue::Table(section) = v.get_ref()
            {
                let known = section_keys(key);
                for (pk, _) in section.iter() {
                    if !known.iter().any(|n| n == pk.get_ref().as_ref()) {
                        return Err(usage(format!(
                            "{origin}:{}: unknown key `{key}.{}` (known keys: {})",
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

    /// The defaults for `env` and `algo`: rl-baselines3-zoo's tuned hyperparameters and
    /// training length where rl-zoo has them ([`PpoConfig::zoo`], [`SacConfig::zoo`]), our own
    /// tuned PPO settings for the rapier3d tasks we measured ([`PpoConfig::tuned`]: Reach), else
    /// CleanRL's defaults and 500k steps.
    pub fn for_env(env: &str, algo: &str) -> Self {
        let mut cfg = Self { env: env.to_string(), algo: algo.to_string(), ..Self::default() };
        match algo {
            "ppo" => {
                if let Some((ppo, steps)) = PpoConfig::tuned(env) {
                    (cfg.ppo, cfg.total_steps) = (ppo, steps);
                }
            }
            "sac" => {
                if let Some((sac, steps)) = SacConfig::zoo(env) {
                    (cfg.sac, cfg.total_steps) = (sac, steps);
                }
            }
            _ => {}
        }
        cfg
    }

    /// Parses `text` (checked as [`RunConfig::parse`]) over `base`: keys the file sets replace
    /// the base's, the others keep the base's values (tables merge key by key).
    pub fn parse_over(text: &str, origin: &str, base: &RunConfig) -> anyhow::Result<Self> {
        Self::parse(text, origin)?;
        let file: toml::Table = toml::from_str(text).map_err(|e| usage(format!("{origin}: {e}")))?;
        let mut merged = toml::Table::try_from(base).expect("RunConfig serialises");
        fn merge(into: &mut toml::Table, from: toml::Table) {
            for (k, v) in from {
                match (into.get_mut(&k), v) {
                    (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
                    (_, v) => {
                        into.insert(k, v);
                    }
                }
            }
        }
        merge(&mut merged, file);
        merged.try_into::<RunConfig>().map_err(|e| usage(format!("{origin}: {}", e.message().trim())))
    }

    /// The seed of the configured algorithm (`ppo.seed` or `sac.seed`).
    pub fn seed(&self) -> u64 {
        if self.algo == "sac" { self.sac.seed } else { self.ppo.seed }
    }

    /// Sets the seed of the configured algorithm.
    pub fn set_seed(&mut self, seed: u64) {
        if self.algo == "sac" {
            self.sac.seed = seed;
        } else {
            self.ppo.seed = seed;
        }
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
    /// `checkpoints/obs_norm.json`: the observation statistics that `final.mpk`'s PPO policy
    /// expects (runs with `ppo.norm_obs = true` only).
    pub fn obs_norm(&self) -> PathBuf {
        self.root.join(OBS_NORM_FILE)
    }
    /// `checkpoints/latest_obs_norm.json`: the statistics that go with `latest.mpk`.
    pub fn latest_obs_norm(&self) -> PathBuf {
        self.root.join(LATEST_OBS_NORM_FILE)
    }
    /// `plots/learning_curve.png`.
    pub fn plot(&self) -> PathBuf {
        self.root.join(PLOT_FILE)
    }
    /// `episodes.csv`.
    pub fn episodes(&self) -> PathBuf {
        self.root.join(EPISODES_FILE)
    }
    /// `checkpoints/resume/`.
    pub fn resume_dir(&self) -> PathBuf {
        self.root.join(RESUME_DIR)
    }
}

/// Appends one line per update (PPO) or log interval (SAC) to `metrics.csv`, or one line per
/// episode to `episodes.csv`, flushing each line.
#[derive(Debug)]
pub struct MetricsWriter {
    file: File,
    path: PathBuf,
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

impl MetricsWriter {
    /// Creates `path` with a PPO run's header.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        Self::create_with(path, METRICS_HEADER)
    }

    /// Creates `path` with `header`.
    pub fn create_with(path: &Path, header: &str) -> anyhow::Result<Self> {
        let mut file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        writeln!(file, "{header}").with_context(|| format!("cannot write {}", path.display()))?;
        file.flush()?;
        Ok(Self { file, path: path.to_path_buf() })
    }

    /// Re-opens an existing file for a resumed run, keeping the header and the rows for which
    /// `keep(row)` holds (the rows written after the checkpoint are dropped: the resumed run
    /// writes them again). The file is rewritten atomically before appending resumes.
    pub fn reopen(path: &Path, keep: impl Fn(&str) -> bool) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut kept = String::new();
        for (k, line) in text.lines().enumerate() {
            if k == 0 || keep(line) {
                kept.push_str(line);
                kept.push('\n');
            }
        }
        crate::io::atomic_write(path, kept.as_bytes())?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Self { file, path: path.to_path_buf() })
    }

    /// Appends one line (without its newline).
    pub fn line(&mut self, line: &str) -> anyhow::Result<()> {
        writeln!(self.file, "{line}")
            .and_then(|_| self.file.flush())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// Appends the row of one PPO update.
    pub fn append(&mut self, s: &UpdateStats, wall_time_s: f64) -> anyhow::Result<()> {
        self.line(&format!(
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
        ))
    }

    /// Appends the row of one SAC log interval (`log` counts from 1).
    pub fn append_sac(&mut self, log: usize, s: &SacStats, wall_time_s: f64) -> anyhow::Result<()> {
        self.line(&format!(
            "{log},{},{wall_time_s},{},{},{},{},{},{},{},{}",
            s.global_step,
            s.updates,
            s.episodes,
            opt(s.mean_return),
            s.q_loss,
            s.actor_loss,
            s.alpha,
            s.alpha_loss,
            s.updates_per_sec
        ))
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
