//! The `alignrl` binary's contract: `--json` prints one JSON object, bad input exits 2 with a
//! message naming the problem, and runs are reproducible from their seed.

use std::process::{Command, Output};

fn alignrl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alignrl")).args(args).output().expect("binary runs")
}

fn stdout_json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "exactly one line on stdout: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn envs_json_lists_the_classic_envs_with_spaces() {
    let out = alignrl(&["envs", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = stdout_json(&out);
    let envs = v["envs"].as_array().unwrap();
    let cartpole = envs.iter().find(|e| e["id"] == "CartPole-v1").expect("CartPole-v1 listed");
    assert_eq!(cartpole["action_space"], "Discrete(2)");
    assert!(cartpole["observation_space"].as_str().unwrap().starts_with("Box("));
    for id in ["Pendulum-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Acrobot-v1", "DeliveryWorld-v0"]
    {
        assert!(envs.iter().any(|e| e["id"] == id), "{id} missing");
    }
}

#[test]
fn rollout_is_reproducible_and_writes_csv() {
    let dir = std::env::temp_dir().join(format!("alignrl-cli-{}", std::process::id()));
    let csv = dir.join("r.csv");
    let args = ["rollout", "--env", "CartPole-v1", "--episodes", "5", "--seed", "3", "--json"];
    let a = alignrl(&[&args[..], &["--out", csv.to_str().unwrap()]].concat());
    assert!(a.status.success(), "{}", stderr(&a));
    let b = alignrl(&args);
    let (a, b) = (stdout_json(&a), stdout_json(&b));
    assert_eq!(a["returns"], b["returns"]);
    assert_eq!(a["episodes"], 5);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 6);
    assert!(text.starts_with("episode,seed,length,return,terminated,truncated"));
    let c = stdout_json(&alignrl(&[
        "rollout",
        "--env",
        "CartPole-v1",
        "--episodes",
        "5",
        "--seed",
        "4",
        "--json",
    ]));
    assert_ne!(a["returns"], c["returns"], "different seeds give different rollouts");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn unknown_env_id_lists_close_matches_and_exits_2() {
    let out = alignrl(&["rollout", "--env", "CartPol-v1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("unknown environment id") && err.contains("CartPole-v1"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn action_outside_the_space_is_an_error_not_a_panic() {
    let out = alignrl(&["rollout", "--env", "CartPole-v1", "--actions", "0;1;7"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("step 2") && err.contains("not in the action space"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let out = alignrl(&["rollout", "--env", "Pendulum-v1", "--actions", "0.5,1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("needs 1"), "{}", stderr(&out));
}

#[test]
fn bad_options_name_the_option() {
    let out = alignrl(&["rollout", "--env", "Pendulum-v1", "--opt", "gravity=9.81"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("\"gravity\"") && err.contains("g"), "{err}");
    let out = alignrl(&["rollout", "--env", "Pendulum-v1", "--opt", "g=heavy"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("\"g\""), "{}", stderr(&out));
    let out = alignrl(&["rollout", "--env", "Pendulum-v1", "--opt", "g"]);
    assert_eq!(out.status.code(), Some(2));
    // clap's own usage errors also exit 2.
    assert_eq!(alignrl(&["rollout", "--episodes", "many"]).status.code(), Some(2));
}

#[test]
fn bench_env_json_reports_steps_per_sec() {
    for extra in [&[][..], &["--num-envs", "4"][..], &["--num-envs", "4", "--threads", "2"][..]] {
        let out = alignrl(
            &[&["bench", "env", "--env", "CartPole-v1", "--steps", "2000", "--json"][..], extra].concat(),
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let v = stdout_json(&out);
        assert!(v["steps_per_sec"].as_f64().unwrap() > 0.0);
        assert!(v["steps"].as_u64().unwrap() >= 2000);
    }
}

#[test]
fn check_passes_on_every_registered_env() {
    let out = alignrl(&["check", "--json"]);
    let v = stdout_json(&out);
    assert_eq!(v["passed"], true, "{v}");
    assert!(out.status.success());
}

#[test]
fn bench_ppo_update_reports_losses_and_gradients_deterministically() {
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_alignrl"))
            .args(["bench", "ppo-update", "--batch", "256", "--iters", "1", "--seed", "3", "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let (a, b) = (run(), run());
    assert_eq!(a["losses"], b["losses"]);
    assert_eq!(a["grad_norms"], b["grad_norms"]);
    // Actor and critic: 3 layers × (weight, bias) each.
    assert_eq!(a["grad_norms"].as_array().unwrap().len(), 12);
    // Entropy of a near-uniform 2-action policy is close to ln 2.
    let h = a["losses"][2].as_f64().unwrap();
    assert!((h - std::f64::consts::LN_2).abs() < 0.01, "{h}");
}
