//! `alignrl-calibrate pose --rrd FILE`: the recording is a valid `.rrd` (rerun's own decoder reads
//! it back), holds the before/after trajectories and the frames, and the mapped sensor
//! trajectory overlays the reference while the raw one does not.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Command;

use alignrl_viz::calib::{
    AFTER_REFERENCE, AFTER_SENSOR, BEFORE_REFERENCE, BEFORE_SENSOR, MEASURED_SENSOR_FRAME, REFERENCE_FRAME,
    SENSOR_FRAME, TIMELINE,
};
use re_log_encoding::DecoderApp;
use rerun::log::{Chunk, LogMsg};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_alignrl-calibrate"))
}

fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_rrd").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[derive(Debug, Default)]
struct Rows {
    static_rows: usize,
    times: Vec<i64>,
    strip: Vec<[f32; 3]>,
    scalars: Vec<f64>,
}

/// Entity path → what was logged there.
fn decode(path: &Path) -> BTreeMap<String, Rows> {
    let file = std::fs::File::open(path).unwrap();
    let decoder = DecoderApp::decode_eager(BufReader::new(file)).expect("an .rrd file");
    let timeline = rerun::TimelineName::try_new(TIMELINE).unwrap();
    let strips = rerun::LineStrips3D::descriptor_strips().component;
    let scalars = rerun::Scalars::descriptor_scalars().component;
    let mut rows: BTreeMap<String, Rows> = BTreeMap::new();
    for msg in decoder {
        let LogMsg::ArrowMsg(_, arrow) = msg.expect("decodes") else { continue };
        let chunk = Chunk::from_arrow_msg(&arrow).expect("a chunk");
        let entity = chunk.entity_path().to_string().trim_start_matches('/').to_string();
        let e = rows.entry(entity).or_default();
        for s in chunk.iter_component::<rerun::components::LineStrip3D>(strips) {
            e.strip.extend(s.iter().flat_map(|strip| strip.0.iter().map(|p| [p.x(), p.y(), p.z()])));
        }
        for v in chunk.iter_component::<rerun::components::Scalar>(scalars) {
            e.scalars.extend(v.iter().map(|x| x.0.0));
        }
        if chunk.is_static() {
            e.static_rows += chunk.num_rows();
        } else {
            e.times.extend(chunk.iter_indices(&timeline).map(|(t, _)| t.as_i64()));
        }
    }
    rows
}

fn rms_distance(a: &[[f32; 3]], b: &[[f32; 3]]) -> f64 {
    let sum: f64 = a
        .iter()
        .zip(b)
        .map(|(p, q)| (0..3).map(|k| (f64::from(p[k]) - f64::from(q[k])).powi(2)).sum::<f64>())
        .sum();
    (sum / a.len() as f64).sqrt()
}

#[test]
fn pose_rrd_reads_back_with_rerun_decoder() {
    let dir = out_dir("pose");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    // A sensor world 2 m away and rotated, so that "before" and "after" differ visibly.
    let out = bin()
        .args(["simulate", "--out", &s(&dir), "--seed", "3", "--duration", "20"])
        .args(["--sensor-world", "2 -1 0.5 0.9 0.1 0.3 -0.2936"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rrd = dir.join("calib.rrd");
    let out = bin()
        .args(["pose", "--reference", &s(&dir.join("body.tum")), "--sensor", &s(&dir.join("sensor.tum"))])
        .args(["--out", &s(&dir.join("calib.yaml")), "--rrd", &s(&rrd), "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["rrd"].as_str(), Some(s(&rrd).as_str()));
    let poses = j["residuals"]["poses"].as_u64().unwrap() as usize;

    let rows = decode(&rrd);
    let keys: Vec<&String> = rows.keys().collect();
    for entity in [
        BEFORE_REFERENCE,
        BEFORE_SENSOR,
        AFTER_REFERENCE,
        AFTER_SENSOR,
        REFERENCE_FRAME,
        SENSOR_FRAME,
        MEASURED_SENSOR_FRAME,
    ] {
        let e = rows.get(entity).unwrap_or_else(|| panic!("no entity {entity}; have {keys:?}"));
        assert!(e.static_rows >= 1, "{entity}: nothing static");
    }
    // Every pose the calibration used is in each strip.
    for entity in [BEFORE_REFERENCE, BEFORE_SENSOR, AFTER_REFERENCE, AFTER_SENSOR] {
        assert_eq!(rows[entity].strip.len(), poses, "{entity}");
    }
    // Moving frames at the same instants, at most 2000.
    let (rig, measured) = (&rows[REFERENCE_FRAME].times, &rows[MEASURED_SENSOR_FRAME].times);
    assert!(rig.len() > 100 && rig.len() <= 2000, "{} frames", rig.len());
    assert_eq!(rig, measured);
    // After calibration the mapped sensor trajectory lies on the reference (1 cm sensor noise);
    // before, the raw one is metres away.
    let after = rms_distance(&rows[AFTER_SENSOR].strip, &rows[AFTER_REFERENCE].strip);
    let before = rms_distance(&rows[BEFORE_SENSOR].strip, &rows[BEFORE_REFERENCE].strip);
    eprintln!("rms distance to the reference: before {before:.3} m, after {after:.4} m");
    assert!(after < 0.03, "after {after} m");
    assert!(before > 1.0, "before {before} m");
}

/// `imu --rrd`: odometry, the IMU frame and the gyroscope series; the rates the odometry predicts
/// after calibration match the measured ones far better than before (the simulated IMU is
/// rotated, biased and offset in time against the odometry).
#[test]
fn imu_rrd_reads_back_with_rerun_decoder() {
    use alignrl_viz::imu_calib::{
        GYRO_AFTER, GYRO_BEFORE, GYRO_MEASURED, IMU_FRAME, ODOMETRY_FRAME, ODOMETRY_PATH, RESIDUAL_AFTER,
        RESIDUAL_BEFORE,
    };
    let dir = out_dir("imu");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let out = bin()
        .args(["simulate", "--out", &s(&dir), "--seed", "4", "--duration", "20", "--time-offset", "0.03"])
        .args(["--imu-extrinsic", "0.05 -0.12 0.2 0.9 0.1 0.3 -0.2936"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rrd = dir.join("imu.rrd");
    let out = bin()
        .args(["imu", "--odometry", &s(&dir.join("body.tum")), "--imu", &s(&dir.join("imu.csv"))])
        .args(["--out", &s(&dir.join("calib.yaml")), "--rrd", &s(&rrd), "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 3)), "{stderr}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["rrd"].as_str(), Some(s(&rrd).as_str()));

    let rows = decode(&rrd);
    let keys: Vec<&String> = rows.keys().collect();
    for entity in [ODOMETRY_PATH, IMU_FRAME] {
        let e = rows.get(entity).unwrap_or_else(|| panic!("no entity {entity}; have {keys:?}"));
        assert!(e.static_rows >= 1, "{entity}: nothing static");
    }
    let frames = &rows[ODOMETRY_FRAME].times;
    assert!(frames.len() > 100 && frames.len() <= 2000, "{} frames", frames.len());
    let imu_lines = std::fs::read_to_string(dir.join("imu.csv")).unwrap().lines().count() - 1;
    for base in [GYRO_MEASURED, GYRO_BEFORE, GYRO_AFTER] {
        for axis in ["x", "y", "z"] {
            let entity = format!("{base}/{axis}");
            let e = rows.get(&entity).unwrap_or_else(|| panic!("no entity {entity}; have {keys:?}"));
            assert!(e.scalars.len() > imu_lines / 2 && e.scalars.len() <= imu_lines, "{entity}");
        }
    }
    assert_eq!(rows[&format!("{GYRO_MEASURED}/x")].scalars.len(), imu_lines);
    let rms = |v: &[f64]| (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt();
    let (before, after) = (rms(&rows[RESIDUAL_BEFORE].scalars), rms(&rows[RESIDUAL_AFTER].scalars));
    eprintln!("gyro residual rms: before {before:.4} rad/s, after {after:.4} rad/s");
    assert!(after < 0.2 * before, "before {before}, after {after}");
    let reported = j["gyro_residual_rms_rad_s"].as_f64().unwrap();
    assert!((after - reported).abs() < 0.1 * reported, "recording {after} vs report {reported}");
}

#[test]
fn rrd_into_a_folder_is_a_usage_error() {
    let dir = out_dir("folder");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let out = bin().args(["simulate", "--out", &s(&dir), "--duration", "5"]).output().unwrap();
    assert!(out.status.success());
    let out = bin()
        .args(["pose", "--reference", &s(&dir.join("body.tum")), "--sensor", &s(&dir.join("sensor.tum"))])
        .args(["--out", &s(&dir.join("calib.yaml")), "--rrd", &s(&dir)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rrd"));
}
