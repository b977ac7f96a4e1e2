//! `alignrl envs`: lists the registry.

use alignrl_envs::Registry;
use serde_json::json;

use crate::io::print_json;

/// Lists every registered environment (with `json`, one object on stdout).
pub fn run(json: bool) -> anyhow::Result<()> {
    let reg = Registry::builtin();
    let mut rows = Vec::new();
    for spec in reg.specs() {
        let env = reg.make_with(spec.id, &[])?;
        let options: Vec<_> = spec
            .options
            .iter()
            .map(|o| json!({"name": o.name, "type": o.default.kind().to_string(), "default": o.default, "doc": o.doc}))
            .collect();
        rows.push(json!({
            "id": spec.id,
            "description": spec.description,
            "observation_space": env.observation_space().to_string(),
            "action_space": env.action_space().to_string(),
            "max_episode_steps": spec.max_episode_steps,
            "reward_threshold": spec.reward_threshold,
            "options": options,
        }));
        if !json {
            eprintln!(
                "{:<26} obs {:<40} act {:<28} {}",
                spec.id,
                env.observation_space().to_string(),
                env.action_space().to_string(),
                spec.description
            );
            for o in &spec.options {
                eprintln!("{:<28}--opt {}={} ({}): {}", "", o.name, o.default, o.default.kind(), o.doc);
            }
        }
    }
    if json {
        print_json(&json!({ "envs": rows }));
    }
    Ok(())
}
