//! `alignrl check`: runs `check_env` on registered environments.

use alignrl_envs::Registry;
use alignrl_envs::checker::{Severity, check_env};
use serde_json::json;

use crate::commands::make_env;
use crate::io::print_json;

/// Checks `id` (or every registered env when `None`); fails when any check has an error.
pub fn run(id: Option<&str>, opts: &[String], json: bool) -> anyhow::Result<()> {
    let ids: Vec<String> = match id {
        Some(i) => vec![i.to_string()],
        None => Registry::builtin().specs().iter().map(|s| s.id.to_string()).collect(),
    };
    let mut rows = Vec::new();
    let mut n_errors = 0;
    for id in &ids {
        let mut env = make_env(id, opts)?;
        let report = check_env(env.as_mut());
        let errors = report.iter().filter(|f| f.severity == Severity::Error).count();
        n_errors += errors;
        if !json {
            eprintln!("{id}: {}", if errors == 0 { "ok" } else { "FAILED" });
            for f in &report {
                eprintln!("  {f}");
            }
        }
        let findings: Vec<_> = report
            .iter()
            .map(|f| {
                json!({"check": f.check, "severity": if f.severity == Severity::Error {"error"} else {"warning"}, "message": f.message})
            })
            .collect();
        rows.push(json!({"id": id, "passed": errors == 0, "findings": findings}));
    }
    if json {
        print_json(&json!({"envs": rows, "passed": n_errors == 0}));
    }
    if n_errors > 0 {
        anyhow::bail!("check_env found {n_errors} error(s)");
    }
    Ok(())
}
