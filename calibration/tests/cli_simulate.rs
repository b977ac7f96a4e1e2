//! `alignrl-calibrate simulate`: the dataset folder, its files, JSON output and exit codes.

use std::collections::BTreeMap;
use std::f64::consts::FRAC_1_SQRT_2;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use alignrl_envs::sensors::{Trajectory, parse_tum};
use nalgebra::{Isometry3, Quaternion, Translation3, UnitQuaternion};

const FILES: [&str; 4] = ["body.tum", "sensor.tum", "imu.csv", "ground_truth.yaml"];

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_alignrl-calibrate"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

/// A fresh folder under Cargo's per-target temporary directory.
fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_simulate").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn simulate(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["simulate", "--out", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert!(
        out.status.success(),
        "simulate {extra:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn read_tum(path: &Path) -> Trajectory {
    let text = std::fs::read_to_string(path).unwrap();
    let report = parse_tum(&text, &path.display().to_string()).unwrap();
    assert!(report.is_clean(), "{}: repairs {:?}", path.display(), report.repairs);
    report.into_data()
}

/// Minimal YAML reader for the generated file: `key: value` lines, nesting by indentation, keys
/// joined with dots; comments stripped.
fn read_yaml(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let content = line.split(" #").next().unwrap();
        if content.trim().is_empty() || content.trim_start().starts_with('#') {
            continue;
        }
        let indent = content.len() - content.trim_start().len();
        let (key, value) =
            content.trim().split_once(':').unwrap_or_else(|| panic!("not a YAML mapping line: {line}"));
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        let path: Vec<&str> = stack.iter().map(|(_, k)| k.as_str()).chain([key]).collect();
        let value = value.trim();
        if value.is_empty() {
            stack.push((indent, key.to_string()));
        } else {
            map.insert(path.join("."), value.to_string());
        }
    }
    map
}

fn yaml_numbers(map: &BTreeMap<String, String>, key: &str) -> Vec<f64> {
    let v = map.get(key).unwrap_or_else(|| panic!("ground_truth.yaml lacks {key}"));
    let inner = v.strip_prefix('[').and_then(|v| v.strip_suffix(']')).unwrap_or(v);
    inner.split(',').map(|x| x.trim().parse().unwrap_or_else(|_| panic!("{key}: {v}"))).collect()
}

fn pose(t: [f64; 3], q_wxyz: [f64; 4]) -> Isometry3<f64> {
    let [w, x, y, z] = q_wxyz;
    Isometry3::from_parts(
        Translation3::new(t[0], t[1], t[2]),
        UnitQuaternion::from_quaternion(Quaternion::new(w, x, y, z)),
    )
}

fn assert_pose_close(a: &Isometry3<f64>, b: &Isometry3<f64>, tol: f64, what: &str) {
    let dt = (a.translation.vector - b.translation.vector).norm();
    let dr = a.rotation.angle_to(&b.rotation);
    assert!(dt < tol && dr < tol, "{what}: translation error {dt}, rotation error {dr}");
}

#[test]
fn writes_the_four_files_and_one_json_object() {
    let dir = out_dir("four_files");
    let out = simulate(&dir, &["--duration", "3", "--seed", "5", "--time-offset", "0.02", "--json"]);

    // Exactly one JSON object on stdout, human text on stderr.
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.trim_end().lines().count(), 1, "stdout: {stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["out"], dir.display().to_string());
    let files: Vec<&str> = json["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert_eq!(files.len(), 4);
    for (f, name) in files.iter().zip(FILES) {
        assert_eq!(Path::new(f), dir.join(name));
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrote"));
    // Nothing else is left in the folder (no temporary files).
    let mut entries: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    entries.sort();
    let mut expected: Vec<String> = FILES.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(entries, expected);

    // body.tum: 3 s at 100 Hz.
    let body = read_tum(&dir.join("body.tum"));
    assert_eq!(body.len(), 301);
    assert_eq!(json["body_poses"], 301);
    // sensor.tum: sensor clock k/100 with body time k/100 − 0.02 in [0, 3] → 0.02 … 3.02.
    let sensor = read_tum(&dir.join("sensor.tum"));
    assert_eq!(json["poses"].as_u64().unwrap() as usize, sensor.len());
    assert_eq!(sensor.len(), 301);
    assert!((sensor.stamps()[0] - 0.02).abs() < 1e-12);

    // imu.csv: header, then 7 numbers a line at 200 Hz.
    let imu = std::fs::read_to_string(dir.join("imu.csv")).unwrap();
    let mut lines = imu.lines();
    assert_eq!(lines.next(), Some("t,gx,gy,gz,ax,ay,az"));
    let rows: Vec<Vec<f64>> =
        lines.map(|l| l.split(',').map(|x| x.parse::<f64>().unwrap()).collect::<Vec<_>>()).collect();
    assert_eq!(rows.len(), 601);
    assert_eq!(json["imu_samples"].as_u64().unwrap() as usize, rows.len());
    assert!(rows.iter().all(|r| r.len() == 7 && r.iter().all(|x| x.is_finite())));
    assert!(rows.windows(2).all(|w| w[1][0] > w[0][0]));
    // Specific force: gravity dominates the mean vertical component in a slow, nearly level motion.
    let mean_norm =
        rows.iter().map(|r| (r[4] * r[4] + r[5] * r[5] + r[6] * r[6]).sqrt()).sum::<f64>() / 601.0;
    assert!((mean_norm - 9.81).abs() < 3.0, "mean |accel| {mean_norm}");

    // ground_truth.yaml: the default extrinsic, both quaternion orders, RPY, offset, noise, seed.
    let gt = read_yaml(&dir.join("ground_truth.yaml"));
    assert_eq!(gt["profile"], "full");
    assert_eq!(gt["seed"], "5");
    assert_eq!(gt["time_offset_s"], "0.02");
    assert_eq!(gt["sensor_noise.rotation_std_deg"], "0.5");
    assert_eq!(gt["sensor_noise.translation_std_m"], "0.01");
    let t = yaml_numbers(&gt, "T_body_sensor.translation_m");
    assert_eq!(t, vec![0.1, -0.05, 0.2]);
    let wxyz = yaml_numbers(&gt, "T_body_sensor.quaternion_wxyz");
    let xyzw = yaml_numbers(&gt, "T_body_sensor.quaternion_xyzw");
    assert_eq!(wxyz, vec![xyzw[3], xyzw[0], xyzw[1], xyzw[2]]);
    let rpy = yaml_numbers(&gt, "T_body_sensor.rpy_deg");
    for (got, want) in rpy.iter().zip([5.0, -10.0, 30.0]) {
        assert!((got - want).abs() < 1e-9, "rpy {rpy:?}");
    }
    let q = UnitQuaternion::from_quaternion(Quaternion::new(wxyz[0], wxyz[1], wxyz[2], wxyz[3]));
    let q_rpy =
        UnitQuaternion::from_euler_angles(rpy[0].to_radians(), rpy[1].to_radians(), rpy[2].to_radians());
    assert!(q.angle_to(&q_rpy) < 1e-12);
    assert_eq!(yaml_numbers(&gt, "imu.T_body_imu.quaternion_wxyz"), vec![1.0, 0.0, 0.0, 0.0]);
    assert_eq!(yaml_numbers(&gt, "imu.gravity_world_m_s2"), vec![0.0, 0.0, -9.81]);
    assert_eq!(gt["duration_s"], "3");
    assert_eq!(gt["imu_rate_hz"], "200");
}

#[test]
fn noiseless_sensor_poses_are_body_poses_times_the_extrinsic() {
    // 90° about z, with a lever arm.
    let ext = "0.2 0.1 -0.3 0.7071067811865476 0 0 0.7071067811865476";
    let expected = pose([0.2, 0.1, -0.3], [FRAC_1_SQRT_2, 0.0, 0.0, FRAC_1_SQRT_2]);
    let common = ["--duration", "4", "--rot-noise-deg", "0", "--trans-noise-m", "0", "--extrinsic", ext];

    let dir = out_dir("noiseless");
    simulate(&dir, &common);
    let body = read_tum(&dir.join("body.tum"));
    let sensor = read_tum(&dir.join("sensor.tum"));
    assert_eq!(body.stamps(), sensor.stamps());
    for (b, s) in body.poses().iter().zip(sensor.poses()) {
        assert_pose_close(s, &(b * expected), 1e-12, "sensor = body * extrinsic");
    }
    let gt = read_yaml(&dir.join("ground_truth.yaml"));
    let rpy = yaml_numbers(&gt, "T_body_sensor.rpy_deg");
    assert!(rpy.iter().zip([0.0, 0.0, 90.0]).all(|(a, b)| (a - b).abs() < 1e-9), "rpy {rpy:?}");

    // Time offset +0.05 s: the sensor pose stamped s is the body pose at s − 0.05.
    let dir = out_dir("noiseless_offset");
    let mut args = common.to_vec();
    args.extend(["--time-offset", "0.05"]);
    simulate(&dir, &args);
    let body = read_tum(&dir.join("body.tum"));
    let sensor = read_tum(&dir.join("sensor.tum"));
    assert_eq!(sensor.len(), body.len());
    let mut matched = 0;
    for (s, p) in sensor.stamps().iter().zip(sensor.poses()) {
        let k =
            body.stamps().iter().position(|t| (t - (s - 0.05)).abs() < 1e-9).expect("body stamp s − 0.05");
        assert_pose_close(p, &(body.poses()[k] * expected), 1e-12, "time-shifted sensor pose");
        matched += 1;
    }
    assert_eq!(matched, 401);
}

#[test]
fn planar_profile_stays_in_the_plane() {
    let dir = out_dir("planar");
    simulate(&dir, &["--profile", "planar", "--duration", "5"]);
    let body = read_tum(&dir.join("body.tum"));
    for p in body.poses() {
        assert_eq!(p.translation.z, 0.0);
        assert_eq!((p.rotation.i, p.rotation.j), (0.0, 0.0));
    }
    assert_eq!(read_yaml(&dir.join("ground_truth.yaml"))["profile"], "planar");
}

#[test]
fn same_seed_gives_identical_files() {
    let args = ["--duration", "2", "--seed", "9", "--rot-drift", "0.001", "--time-offset", "-0.013"];
    let (a, b) = (out_dir("seed_a"), out_dir("seed_b"));
    simulate(&a, &args);
    simulate(&b, &args);
    for name in FILES {
        assert_eq!(
            std::fs::read(a.join(name)).unwrap(),
            std::fs::read(b.join(name)).unwrap(),
            "{name} differs"
        );
    }
    let c = out_dir("seed_c");
    simulate(&c, &["--duration", "2", "--seed", "10", "--rot-drift", "0.001", "--time-offset", "-0.013"]);
    for name in ["body.tum", "sensor.tum", "imu.csv"] {
        assert_ne!(std::fs::read(a.join(name)).unwrap(), std::fs::read(c.join(name)).unwrap(), "{name}");
    }
}

#[test]
fn bad_arguments_exit_2_with_a_message_and_no_panic() {
    let dir = out_dir("bad");
    let d = dir.to_str().unwrap();
    let file = dir.join("a_file");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&file, "x").unwrap();
    // No arguments at all: the usage on stderr, exit 2.
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage"));
    assert!(out.stdout.is_empty());
    let cases: Vec<Vec<&str>> = vec![
        vec!["simulate"],
        vec!["bogus"],
        vec!["simulate", "--out", d, "--profile", "circle"],
        vec!["simulate", "--out", d, "--duration", "-1"],
        vec!["simulate", "--out", d, "--duration", "0"],
        vec!["simulate", "--out", d, "--rate", "0"],
        vec!["simulate", "--out", d, "--imu-rate", "abc"],
        vec!["simulate", "--out", d, "--rot-noise-deg", "-0.5"],
        vec!["simulate", "--out", d, "--time-offset", "nan"],
        vec!["simulate", "--out", d, "--extrinsic", "1 2 3"],
        vec!["simulate", "--out", d, "--extrinsic", "1 2 3 2 0 0 0"],
        vec!["simulate", "--out", d, "--extrinsic", "1 2 3 one 0 0 0"],
        vec!["simulate", "--out", d, "--rate", "1e12"],
        vec!["simulate", "--out", d, "--duration", "1", "--rate", "0.01", "--time-offset", "50"],
        vec!["simulate", "--out", file.to_str().unwrap(), "--duration", "1"],
    ];
    for args in cases {
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: stdout {}", String::from_utf8_lossy(&out.stdout));
    }
    // Nothing was written for the rejected runs.
    let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(entries.len(), 1);
}

#[test]
fn help_documents_the_subcommand() {
    let out = run(&["simulate", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--out",
        "--profile",
        "yaw-only",
        "straight-line",
        "--duration",
        "--rate",
        "--imu-rate",
        "--seed",
        "--rot-noise-deg",
        "--trans-noise-m",
        "--time-offset",
        "--extrinsic",
        "x y z qw qx qy qz",
        "--json",
        "s − offset",
    ] {
        assert!(help.contains(needle), "help lacks {needle:?}");
    }
    let out = run(&["--help"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("simulate"));
}
