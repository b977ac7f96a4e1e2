//! `alignrl train` / `alignrl eval`: the run directory's files, checkpoint round trip, and the
//! exit codes of bad input (2) and diverged training (1).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn alignrl_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alignrl")).current_dir(cwd).args(args).output().expect("binary runs")
}

fn stdout_json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "exactly one line on stdout: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh, empty scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("alignrl-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn train_writes_the_run_dir_and_eval_reproduces_the_in_memory_agent() {
    let tmp = scratch("full");
    let run = tmp.join("run");
    let run_s = run.to_str().unwrap();
    let out = alignrl_in(
        &tmp,
        &[
            "train",
            "--env",
            "CartPole-v1",
            "--total-steps",
            "2048",
            "--seed",
            "7",
            "--run-dir",
            run_s,
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = stdout_json(&out);
    assert_eq!(summary["status"], "completed");
    assert_eq!(summary["steps"], 2048);

    for f in
        ["config.toml", "metrics.csv", "summary.json", "checkpoints/final.mpk", "plots/learning_curve.png"]
    {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    // config.toml re-parses (as a TOML table and as the run's config) and is resolved.
    let cfg_text = std::fs::read_to_string(run.join("config.toml")).unwrap();
    let cfg: toml::Table = toml::from_str(&cfg_text).unwrap();
    assert_eq!(cfg["env"].as_str(), Some("CartPole-v1"));
    assert_eq!(cfg["total_steps"].as_integer(), Some(2048));
    assert_eq!(cfg["ppo"]["seed"].as_integer(), Some(7));
    // rl-zoo's CartPole-v1 hyperparameters are the defaults.
    assert_eq!(cfg["ppo"]["num_envs"].as_integer(), Some(8));
    assert_eq!(cfg["ppo"]["num_steps"].as_integer(), Some(32));
    alignrl_experiments::run_dir::RunConfig::parse(&cfg_text, "config.toml").unwrap();

    // metrics.csv: header + one row per update (2048 / (8 envs * 32 steps) = 8 updates).
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let lines: Vec<&str> = metrics.lines().collect();
    assert_eq!(lines.len(), 1 + 8, "{metrics}");
    assert!(lines[0].starts_with("update,step,wall_time_s,"), "{}", lines[0]);
    for col in
        ["episode_return_mean", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_frac", "sps"]
    {
        assert!(lines[0].split(',').any(|c| c == col), "{col} column missing");
    }
    assert!(lines[8].starts_with("8,2048,"), "{}", lines[8]);
    // episodes.csv: one row per finished episode, as many as the updates counted.
    let episodes = std::fs::read_to_string(run.join("episodes.csv")).unwrap();
    assert_eq!(episodes.lines().next(), Some("episode,step,wall_time_s,return,length"));
    assert_eq!(episodes.lines().count() as u64 - 1, summary["episodes"].as_u64().unwrap());

    // summary.json on disk is valid and matches stdout.
    let on_disk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(on_disk, summary);
    assert!(summary["wall_time_s"].as_f64().unwrap() > 0.0);
    assert!(summary["final_mean_return"].as_f64().is_some());

    let png = std::fs::read(run.join("plots/learning_curve.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    // eval: the three fields, deterministic for a seed, different for another seed's resets.
    let eval = |seed: &str| {
        let out =
            alignrl_in(&tmp, &["eval", "--run-dir", run_s, "--episodes", "10", "--seed", seed, "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout_json(&out)
    };
    let (a, b) = (eval("0"), eval("0"));
    assert_eq!(a, b, "two loads of the checkpoint evaluate identically");
    assert_eq!(a["episodes"], 10);
    assert!(a["mean_return"].as_f64().is_some() && a["std_return"].as_f64().is_some());
    // The loaded agent acts as the in-memory one did at the end of training (same seeds 0..9):
    // every episode's return, a function of every greedy action, agrees.
    assert_eq!(a["returns"], summary["final_eval"]["returns"]);
    assert_eq!(a["mean_return"], summary["final_eval"]["mean_return"]);

    // Human output.
    let out = alignrl_in(&tmp, &["eval", "--run-dir", run_s, "--episodes", "2"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("±"));

    // The run dir is not overwritten.
    let out =
        alignrl_in(&tmp, &["train", "--env", "CartPole-v1", "--total-steps", "512", "--run-dir", run_s]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("already exists"));

    // --config with the run's own config.toml reproduces the run (CPU losses are deterministic).
    let again = tmp.join("again");
    let cfg_path = run.join("config.toml");
    let out = alignrl_in(
        &tmp,
        &["train", "--config", cfg_path.to_str().unwrap(), "--run-dir", again.to_str().unwrap(), "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["final_eval"]["returns"], summary["final_eval"]["returns"]);
    let drop_time = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| {
                l.split(',')
                    .enumerate()
                    .filter(|(i, _)| ![2, 13].contains(i))
                    .map(|(_, c)| c)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect()
    };
    assert_eq!(drop_time(&std::fs::read_to_string(again.join("metrics.csv")).unwrap()), drop_time(&metrics));
    std::fs::remove_dir_all(tmp).unwrap();
}

#[test]
fn default_run_dir_is_named_after_env_algo_and_seed() {
    let tmp = scratch("default");
    let out = alignrl_in(&tmp, &["train", "--env", "CartPole-v1", "--total-steps", "512"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let runs: Vec<String> = std::fs::read_dir(tmp.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(runs.len(), 1);
    assert!(runs[0].starts_with("CartPole-v1__ppo__1__"), "{}", runs[0]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.trim().ends_with(&runs[0]), "stdout names the run dir: {printed}");
    std::fs::remove_dir_all(tmp).unwrap();
}

#[test]
fn bad_config_key_or_value_exits_2_naming_file_line_and_key() {
    let tmp = scratch("badcfg");
    let cfg = tmp.join("c.toml");
    std::fs::write(&cfg, "env = \"CartPole-v1\"\n\n[ppo]\nnum_envs = 2\nlerning_rate = 0.001\n").unwrap();
    let out = alignrl_in(&tmp, &["train", "--config", cfg.to_str().unwrap(), "--run-dir", "r"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("c.toml:5") && err.contains("ppo.lerning_rate"), "{err}");
    assert!(!tmp.join("r").exists(), "nothing is created for a bad config");

    std::fs::write(&cfg, "env = \"CartPole-v1\"\ntotal_steps = \"many\"\n").unwrap();
    let out = alignrl_in(&tmp, &["train", "--config", cfg.to_str().unwrap(), "--run-dir", "r"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("c.toml:2") && err.contains("total_steps"), "{err}");
    std::fs::remove_dir_all(tmp).unwrap();
}

#[test]
fn unavailable_algo_device_and_env_exit_2_with_a_clear_message() {
    let tmp = scratch("usage");
    let out = alignrl_in(&tmp, &["train", "--env", "CartPole-v1", "--algo", "sac", "--total-steps", "512"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("SAC supports bounded one-dimensional Box"), "{}", stderr(&out));
    let out = alignrl_in(&tmp, &["train", "--env", "CartPole-v1", "--algo", "dqn"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("expected ppo or sac"), "{}", stderr(&out));

    #[cfg(not(feature = "cuda"))]
    {
        let out =
            alignrl_in(&tmp, &["train", "--env", "CartPole-v1", "--device", "cuda", "--total-steps", "512"]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("without CUDA support"), "{}", stderr(&out));
    }
    let out = alignrl_in(&tmp, &["train", "--env", "NoSuchEnv-v0", "--total-steps", "512"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = alignrl_in(&tmp, &["train", "--env", "CartPole-v1", "--total-steps", "100"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("less than one rollout"), "{}", stderr(&out));
    let out = alignrl_in(&tmp, &["eval", "--run-dir", "nowhere", "--json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!tmp.join("runs").exists(), "nothing is created for bad input");
    std::fs::remove_dir_all(tmp).unwrap();
}

#[test]
fn nan_during_training_exits_1_naming_step_and_quantity() {
    let tmp = scratch("nan");
    let cfg = tmp.join("nan.toml");
    std::fs::write(&cfg, "env = \"CartPole-v1\"\ntotal_steps = 1024\n[ppo]\nent_coef = nan\n").unwrap();
    let out = alignrl_in(&tmp, &["train", "--config", cfg.to_str().unwrap(), "--run-dir", "r"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("non-finite total_loss at global step 256"), "{err}");
    assert!(err.contains("no checkpoint was written yet"), "{err}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.join("r/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["status"], "failed");
    assert_eq!(std::fs::read_to_string(tmp.join("r/metrics.csv")).unwrap().lines().count(), 1);
    std::fs::remove_dir_all(tmp).unwrap();
}

#[test]
fn periodic_checkpoints_are_written() {
    let tmp = scratch("ckpt");
    let cfg = tmp.join("c.toml");
    std::fs::write(&cfg, "env = \"CartPole-v1\"\ntotal_steps = 2048\ncheckpoint_every = 3\n").unwrap();
    let out = alignrl_in(&tmp, &["train", "--config", cfg.to_str().unwrap(), "--run-dir", "r"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let latest = tmp.join("r/checkpoints/latest.mpk");
    assert!(latest.exists(), "latest.mpk after update 3 of 4");
    // Update 3's networks differ from the final (update 4) ones.
    assert_ne!(std::fs::read(&latest).unwrap(), std::fs::read(tmp.join("r/checkpoints/final.mpk")).unwrap());
    let config = std::fs::read_to_string(tmp.join("r/config.toml")).unwrap();
    assert!(config.contains("checkpoint_every = 3"), "{config}");
    std::fs::remove_dir_all(tmp).unwrap();
}

/// metrics.csv / episodes.csv without the wall-clock columns.
fn without_columns(text: &str, drop: &[usize]) -> Vec<String> {
    text.lines()
        .map(|l| {
            l.split(',')
                .enumerate()
                .filter(|(i, _)| !drop.contains(i))
                .map(|(_, c)| c)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

#[test]
fn stop_and_resume_continue_the_same_run() {
    let tmp = scratch("resume");
    let cfg = tmp.join("c.toml");
    std::fs::write(&cfg, "env = \"CartPole-v1\"\ntotal_steps = 2048\ncheckpoint_every = 2\n").unwrap();
    let cfg_s = cfg.to_str().unwrap();
    let out = alignrl_in(&tmp, &["train", "--config", cfg_s, "--run-dir", "straight", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let straight = stdout_json(&out);

    let out =
        alignrl_in(&tmp, &["train", "--config", cfg_s, "--run-dir", "split", "--stop-after", "3", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stopped = stdout_json(&out);
    assert_eq!(stopped["status"], "stopped");
    assert_eq!(stopped["updates"], 3);
    assert_eq!(
        std::fs::read_to_string(tmp.join("split/checkpoints/resume/LATEST")).unwrap().trim(),
        "update_0000003"
    );
    // Resuming with other settings is refused.
    let out = alignrl_in(&tmp, &["train", "--resume", "split", "--seed", "4"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = alignrl_in(&tmp, &["train", "--resume", "split", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let resumed = stdout_json(&out);
    assert_eq!(resumed["status"], "completed");
    assert_eq!(resumed["final_eval"]["returns"], straight["final_eval"]["returns"]);
    assert_eq!(resumed["episodes"], straight["episodes"]);
    for (file, drop) in [("metrics.csv", &[2usize, 13][..]), ("episodes.csv", &[2][..])] {
        let a = std::fs::read_to_string(tmp.join("straight").join(file)).unwrap();
        let b = std::fs::read_to_string(tmp.join("split").join(file)).unwrap();
        assert_eq!(without_columns(&b, drop), without_columns(&a, drop), "{file}");
    }
    // A damaged checkpoint is a clear error (exit 2), not a panic.
    std::fs::write(tmp.join("split/checkpoints/resume/update_0000008/actions.bin"), b"xx").unwrap();
    let out = alignrl_in(&tmp, &["train", "--resume", "split", "--total-steps", "4096"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("actions.bin"), "{}", stderr(&out));
    std::fs::remove_dir_all(tmp).unwrap();
}

#[test]
fn sac_trains_evaluates_and_resumes() {
    let tmp = scratch("sac");
    let cfg = tmp.join("c.toml");
    std::fs::write(
        &cfg,
        "env = \"Pendulum-v1\"\nalgo = \"sac\"\ntotal_steps = 300\ncheckpoint_every = 1\n[sac]\n\
         learning_starts = 50\nbatch_size = 32\nhidden = [32, 32]\nlog_interval = 100\n",
    )
    .unwrap();
    let cfg_s = cfg.to_str().unwrap();
    let out = alignrl_in(&tmp, &["train", "--config", cfg_s, "--run-dir", "straight", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let straight = stdout_json(&out);
    assert_eq!((straight["status"].as_str(), straight["logs"].as_u64()), (Some("completed"), Some(3)));
    let metrics = std::fs::read_to_string(tmp.join("straight/metrics.csv")).unwrap();
    assert!(metrics.starts_with("log,step,wall_time_s,updates,"), "{metrics}");
    assert_eq!(metrics.lines().count(), 4);
    let out = alignrl_in(&tmp, &["eval", "--run-dir", "straight", "--episodes", "10", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["returns"], straight["final_eval"]["returns"]);

    let out = alignrl_in(&tmp, &["train", "--config", cfg_s, "--run-dir", "split", "--stop-after", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = alignrl_in(&tmp, &["train", "--resume", "split", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["final_eval"]["returns"], straight["final_eval"]["returns"]);
    let a = std::fs::read_to_string(tmp.join("split/metrics.csv")).unwrap();
    assert_eq!(without_columns(&a, &[2, 10]), without_columns(&metrics, &[2, 10]));
    std::fs::remove_dir_all(tmp).unwrap();
}

#[test]
fn normalised_run_saves_its_statistics_and_eval_uses_them() {
    let tmp = scratch("norm");
    let cfg = tmp.join("c.toml");
    std::fs::write(
        &cfg,
        "env = \"Pendulum-v1\"\ntotal_steps = 1024\ncheckpoint_every = 2\n[ppo]\nnum_envs = 2\nnum_steps = 128\n\
         norm_obs = true\nnorm_reward = true\n",
    )
    .unwrap();
    let cfg_s = cfg.to_str().unwrap();
    let out = alignrl_in(&tmp, &["train", "--config", cfg_s, "--run-dir", "run", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = stdout_json(&out);
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.join("run/checkpoints/obs_norm.json")).unwrap())
            .unwrap();
    assert_eq!(stats["rms"]["mean"].as_array().unwrap().len(), 3);
    assert_eq!(stats["clip"], 10.0);
    assert!(tmp.join("run/checkpoints/latest_obs_norm.json").is_file());
    // eval normalises with the saved statistics: the same greedy returns as training's own eval.
    let out = alignrl_in(&tmp, &["eval", "--run-dir", "run", "--episodes", "10", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let eval = stdout_json(&out);
    assert_eq!(eval["returns"], summary["final_eval"]["returns"]);
    assert_eq!(eval["success_rate"], serde_json::Value::Null);
    // Without the statistics the checkpoint cannot be used: a clear error naming the file.
    std::fs::write(tmp.join("run/checkpoints/obs_norm.json"), "{\"rms\": 3}").unwrap();
    let out = alignrl_in(&tmp, &["eval", "--run-dir", "run", "--json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("obs_norm.json"), "{}", stderr(&out));
    std::fs::remove_file(tmp.join("run/checkpoints/obs_norm.json")).unwrap();
    let out = alignrl_in(&tmp, &["eval", "--run-dir", "run", "--json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("normalises observations"), "{}", stderr(&out));
    std::fs::remove_dir_all(tmp).unwrap();
}
