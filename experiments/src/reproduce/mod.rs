//! `alignrl reproduce SUITE`: the reproduction suites of the six methods.
//!
//! Every suite prints a human table on stderr and, with `--json`, exactly one JSON object on
//! stdout in the shared long format:
//! `{"suite": SUITE, "rows": [{"method", "metric", "value", "seeds", ...settings}]}`, one row per
//! method × setting × metric. With `--out DIR` (default `results/<suite>/`) it also writes
//! `rows.json`, `rows.csv` and the suite's PNG plots there, atomically.

pub mod barfi;
pub mod calib_sweep;
pub mod knox;
pub mod l2calib_toy;
pub mod parl;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::io::{atomic_write, print_json};

/// One row of a suite's long-format table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Method name as the issue spells it (e.g. `regret`, `a-parl`).
    pub method: String,
    /// Metric name as the issue spells it (e.g. `scaled_return`).
    pub metric: String,
    /// The measured value (NaN is written as JSON `null`).
    pub value: f64,
    /// How many seeds the value aggregates (1 for a per-seed row).
    pub seeds: usize,
    /// Settings that identify the row (e.g. `pairs`, `domain`), in insertion order.
    pub settings: Vec<(String, Value)>,
}

impl Row {
    /// A row without settings.
    pub fn new(method: impl Into<String>, metric: impl Into<String>, value: f64, seeds: usize) -> Self {
        Self { method: method.into(), metric: metric.into(), value, seeds, settings: Vec::new() }
    }

    /// Adds a setting (builder style).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.settings.push((key.into(), value.into()));
        self
    }

    /// The row as a flat JSON object.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("method".into(), json!(self.method));
        m.insert("metric".into(), json!(self.metric));
        m.insert("value".into(), if self.value.is_finite() { json!(self.value) } else { Value::Null });
        m.insert("seeds".into(), json!(self.seeds));
        for (k, v) in &self.settings {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }
}

/// A suite's result: its name, rows and plots (file name → PNG bytes).
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Suite name as typed on the command line (e.g. `knox-regret`).
    pub suite: String,
    /// The long-format rows.
    pub rows: Vec<Row>,
    /// PNG plots to write into the output folder, `(file name, bytes)`.
    pub plots: Vec<(String, Vec<u8>)>,
    /// Extra human-readable lines printed after the table (findings, caveats).
    pub notes: Vec<String>,
}

impl Report {
    /// The `--json` object.
    pub fn to_json(&self) -> Value {
        json!({"suite": self.suite, "rows": self.rows.iter().map(Row::to_json).collect::<Vec<_>>()})
    }

    /// The rows as CSV: method, metric, value, seeds, then the union of setting keys.
    pub fn to_csv(&self) -> String {
        let mut keys: Vec<String> = Vec::new();
        for r in &self.rows {
            for (k, _) in &r.settings {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
        let mut out = String::from("method,metric,value,seeds");
        for k in &keys {
            out.push(',');
            out.push_str(k);
        }
        out.push('\n');
        for r in &self.rows {
            out.push_str(&format!("{},{},{},{}", r.method, r.metric, r.value, r.seeds));
            for k in &keys {
                out.push(',');
                if let Some((_, v)) = r.settings.iter().find(|(kk, _)| kk == k) {
                    match v {
                        Value::String(s) => out.push_str(s),
                        other => out.push_str(&other.to_string()),
                    }
                }
            }
            out.push('\n');
        }
        out
    }

    /// The human table (one line per row), for stderr.
    pub fn to_table(&self) -> String {
        let mut lines =
            vec![format!("{:<16} {:<26} {:>12} {:>5}  settings", "method", "metric", "value", "seeds")];
        for r in &self.rows {
            let settings: Vec<String> = r
                .settings
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}={s}"),
                    other => format!("{k}={other}"),
                })
                .collect();
            lines.push(format!(
                "{:<16} {:<26} {:>12.4} {:>5}  {}",
                r.method,
                r.metric,
                r.value,
                r.seeds,
                settings.join(" ")
            ));
        }
        lines.extend(self.notes.iter().cloned());
        lines.join("\n")
    }

    /// Writes `rows.json`, `rows.csv` and the plots into `dir` (created if missing).
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let pretty = serde_json::to_string_pretty(&self.to_json()).expect("JSON values serialise");
        atomic_write(&dir.join("rows.json"), pretty.as_bytes())?;
        atomic_write(&dir.join("rows.csv"), self.to_csv().as_bytes())?;
        for (name, bytes) in &self.plots {
            atomic_write(&dir.join(name), bytes)?;
        }
        Ok(())
    }
}

/// Options every suite accepts.
#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    /// Print one JSON object {"suite", "rows": [{"method", "metric", "value", "seeds", ...settings}]}
    /// on stdout.
    #[arg(long)]
    pub json: bool,
    /// Folder for rows.json, rows.csv and the PNG plots (default: results/<suite>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Prints the table on stderr, the JSON on stdout when asked, and writes the files.
pub fn emit(report: &Report, common: &Common) -> anyhow::Result<()> {
    let dir = common.out.clone().unwrap_or_else(|| PathBuf::from("results").join(&report.suite));
    report.write(&dir)?;
    eprintln!("{}", report.to_table());
    eprintln!("wrote {}", dir.display());
    if common.json {
        print_json(&report.to_json());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_csv_are_long_format() {
        let report = Report {
            suite: "s".into(),
            rows: vec![
                Row::new("regret", "scaled_return", 0.5, 3).with("pairs", 30).with("domain", "delivery"),
                Row::new("partial-return", "scaled_return", f64::NAN, 3).with("pairs", 30),
            ],
            ..Default::default()
        };
        let j = report.to_json();
        assert_eq!(j["suite"], "s");
        assert_eq!(j["rows"][0]["pairs"], 30);
        assert_eq!(j["rows"][0]["domain"], "delivery");
        assert!(j["rows"][1]["value"].is_null());
        let csv = report.to_csv();
        assert_eq!(csv.lines().next().unwrap(), "method,metric,value,seeds,pairs,domain");
        assert_eq!(csv.lines().nth(1).unwrap(), "regret,scaled_return,0.5,3,30,delivery");
        assert_eq!(csv.lines().nth(2).unwrap(), "partial-return,scaled_return,NaN,3,30,");
    }
}
