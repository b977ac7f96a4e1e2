//! Trajectory readers and writers on the real recordings in `shared/data/real` (skipped when that
//! folder is missing), their round trips, and their errors on malformed input.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::PathBuf;

use alignrl_envs::sensors::cdr::Endianness;
use alignrl_envs::sensors::euroc::ns_to_seconds;
use alignrl_envs::sensors::ros2::{
    Header, Imu, Odometry, Pose, PoseStamped, PoseWithCovarianceStamped, Ros2Message, TfMessage, Time,
    TransformStamped,
};
use alignrl_envs::sensors::{
    Location, McapLog, ReadReport, RepairKind, SensorIoErrorKind, Trajectory, list_mcap_tf_frames,
    list_mcap_topics, parse_euroc, parse_kitti, parse_tum, read_euroc, read_kitti, read_mcap_imu,
    read_mcap_poses, read_mcap_tf, read_tum, to_euroc_string, to_kitti_strings, to_tum_string, write_euroc,
    write_kitti, write_tum,
};
use nalgebra::{Isometry3, Matrix3, Quaternion, UnitQuaternion, Vector3};

const REAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/real");

/// The path of a real data file, or `None` (after printing "skipped") when the folder is missing.
fn real(file: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(REAL);
    if !dir.is_dir() {
        println!("skipped: {REAL} is missing");
        return None;
    }
    Some(dir.join(file))
}

/// The non-blank, non-comment lines of a text file (counted here, independently of the readers).
fn data_lines(path: &PathBuf) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// A number as the file writes it, parsed to the nearest f64.
fn num(text: &str) -> f64 {
    text.parse().unwrap()
}

fn numbers(line: &str, separator: Option<char>) -> Vec<f64> {
    match separator {
        Some(c) => line.split(c).map(|t| t.trim().parse().unwrap()).collect(),
        None => line.split_whitespace().map(|t| t.parse().unwrap()).collect(),
    }
}

/// Checks a pose against a TUM line's numbers: stamp and translation bit-exact, quaternion
/// (x, y, z, w, sign kept) equal to the normalised file values.
fn assert_tum_pose(t: f64, pose: &Isometry3<f64>, line: &str) {
    let v = numbers(line, None);
    assert_eq!(t, v[0], "stamp of {line}");
    assert_eq!(pose.translation.vector, Vector3::new(v[1], v[2], v[3]), "translation of {line}");
    let q = Quaternion::new(v[7], v[4], v[5], v[6]);
    let q = q / q.norm();
    assert!((pose.rotation.coords - q.coords).amax() < 1e-12, "rotation of {line}: {:?}", pose.rotation);
}

fn assert_tum_file(file: &str, expected_lines: usize, expected_dropped: usize) -> Option<ReadReport> {
    let path = real(file)?;
    let lines = data_lines(&path);
    assert_eq!(lines.len(), expected_lines, "{file}: data lines counted by the test");
    let report = read_tum(&path).unwrap();
    let traj = &report.data;
    assert_eq!(report.dropped(), expected_dropped, "{file}");
    assert_eq!(traj.len(), expected_lines - expected_dropped, "{file}");
    assert_tum_pose(traj.stamps()[0], &traj.poses()[0], &lines[0]);
    let n = traj.len() - 1;
    assert_tum_pose(traj.stamps()[n], &traj.poses()[n], lines.last().unwrap());
    for repair in &report.repairs {
        match repair.kind {
            RepairKind::NormalisedQuaternion { norm } => assert!((norm - 1.0).abs() <= 1e-3),
            RepairKind::DroppedDuplicateStamp { .. } => {}
            ref other => panic!("{file}: unexpected repair {other:?}"),
        }
    }
    Some(report)
}

// ---------------------------------------------------------------------------------------------
// TUM

#[test]
fn fr2_desk_groundtruth_loads() {
    let Some(report) = assert_tum_file("fr2_desk_groundtruth.txt", 20957, 1) else { return };
    // The one duplicate stamp (with a different pose): line 10863 repeats line 10862; the first
    // one is kept.
    let dropped: Vec<_> = report
        .repairs
        .iter()
        .filter(|r| matches!(r.kind, RepairKind::DroppedDuplicateStamp { .. }))
        .collect();
    assert_eq!(dropped[0].location, Location::Line(10863));
    assert_eq!(
        dropped[0].kind,
        RepairKind::DroppedDuplicateStamp { stamp: 1311868229.576, kept: Location::Line(10862) }
    );
    assert!(dropped[0].to_string().contains("line 10863"), "{}", dropped[0]);
    // Four decimals in the file: the quaternions are off unit norm by up to ~1e-4, each repair
    // reported.
    assert!(report.repairs.len() > 10_000);
}

#[test]
fn fr2_desk_orb_loads() {
    let Some(report) = assert_tum_file("fr2_desk_ORB.txt", 2893, 0) else { return };
    assert_eq!(report.data.poses()[0], Isometry3::identity());
}

#[test]
fn v102_tum_estimate_loads() {
    // Four stamps repeat (lines 433, 684, 736, 788), with different poses.
    let Some(report) = assert_tum_file("V102.txt", 807, 4) else { return };
    let dropped: Vec<Location> = report
        .repairs
        .iter()
        .filter(|r| matches!(r.kind, RepairKind::DroppedDuplicateStamp { .. }))
        .map(|r| r.location.clone())
        .collect();
    assert_eq!(dropped, [433, 684, 736, 788].map(Location::Line));
}

#[test]
fn freiburg1_xyz_loads() {
    assert_tum_file("freiburg1_xyz-groundtruth.txt", 3000, 0);
    assert_tum_file("freiburg1_xyz-rgbdslam.txt", 788, 0);
}

#[test]
fn georeferenced_keeps_full_precision() {
    let Some(report) = assert_tum_file("georeferenced.tum", 1000, 0) else { return };
    // Quaternions in the file are unit to 3e-16: nothing to repair.
    assert!(report.is_clean(), "{:?}", report.repairs.first());
    let traj = report.data;
    let p0 = traj.poses()[0].translation.vector;
    let p1 = traj.poses()[1].translation.vector;
    assert_eq!(p0.x, num("4.580746042933629942e+05"));
    assert_eq!(p0.y, num("5.429380172093272209e+06"));
    // Sub-millimetre digits of UTM coordinates survive (f32 would keep ~0.5 m at 5.4e6).
    assert!((p0.x - 458074.0 - 0.6042933629942).abs() < 1e-9);
    assert!((p0.y - 5429380.0 - 0.172093272209).abs() < 1e-8);
    // Consecutive poses 0.64 mm apart in x: the step survives next to the 4.6e5 m offset.
    assert_eq!(p1.x, num("4.580746049374275026e+05"));
    assert!((p1.x - p0.x - 6.440645084e-4).abs() < 1e-10, "{}", p1.x - p0.x);
    assert_ne!(p0.y as f32 as f64, p0.y, "the file is a precision test: f32 cannot hold it");
    assert_eq!(traj.stamps()[0], num("1.706282470098386526e+09"));
}

// ---------------------------------------------------------------------------------------------
// EuRoC

#[test]
fn v102_euroc_groundtruth_loads() {
    let Some(path) = real("V102_groundtruth.csv") else { return };
    let lines = data_lines(&path);
    assert_eq!(lines.len(), 16702);
    let report = read_euroc(&path).unwrap();
    let traj = &report.data;
    assert_eq!(traj.len(), 16702);
    assert_eq!(report.dropped(), 0);
    for (k, line) in [(0, &lines[0]), (traj.len() - 1, lines.last().unwrap())] {
        let ns: i64 = line.split(',').next().unwrap().parse().unwrap();
        let v = numbers(line, Some(','));
        assert_eq!(traj.stamps()[k], ns_to_seconds(ns));
        let pose = traj.poses()[k];
        assert_eq!(pose.translation.vector, Vector3::new(v[1], v[2], v[3]));
        // The file's quaternion is w x y z.
        let q = Quaternion::new(v[4], v[5], v[6], v[7]);
        let q = q / q.norm();
        assert!((pose.rotation.coords - q.coords).amax() < 1e-12);
    }
    assert_eq!(
        traj.poses()[0].rotation.w,
        0.161996 / 0.161996f64.hypot(0.789985).hypot(0.205376).hypot(0.554528)
    );
    // Every stamp is the f64 nearest the nanosecond stamp: within half an ulp (~119 ns at 1.4e9 s).
    for (t, line) in traj.stamps().iter().zip(&lines) {
        let ns: i64 = line.split(',').next().unwrap().parse().unwrap();
        let (s, n) = (ns / 1_000_000_000, ns % 1_000_000_000);
        let error_ns = (t - s as f64) * 1e9 - n as f64; // t - s is exact (Sterbenz)
        assert!(error_ns.abs() <= 0.5 * 2f64.powi(-22) * 1e9 + 1e-3, "{line}: {error_ns} ns");
    }
    // 200 Hz: 5 ms steps (to the stamp resolution of 238 ns).
    let dt = traj.stamps()[1] - traj.stamps()[0];
    assert!((dt - 0.004999936).abs() < 3e-7, "{dt}");
}

// ---------------------------------------------------------------------------------------------
// KITTI

fn assert_kitti_pose(pose: &Isometry3<f64>, line: &str) {
    let v = numbers(line, None);
    assert_eq!(pose.translation.vector, Vector3::new(v[3], v[7], v[11]), "{line}");
    let r = Matrix3::new(v[0], v[1], v[2], v[4], v[5], v[6], v[8], v[9], v[10]);
    let diff = (pose.rotation.to_rotation_matrix().into_inner() - r).amax();
    assert!(diff < 1e-6, "{line}: {diff}");
}

#[test]
fn kitti_00_loads() {
    let (Some(gt), Some(times), Some(orb)) =
        (real("KITTI_00_gt.txt"), real("KITTI_00_gt_times.txt"), real("KITTI_00_ORB.txt"))
    else {
        return;
    };
    let time_lines = data_lines(&times);
    assert_eq!(time_lines.len(), 4541);
    for (path, file) in [(&gt, "gt"), (&orb, "ORB")] {
        let lines = data_lines(path);
        assert_eq!(lines.len(), 4541, "{file}");
        let report = read_kitti(path, &times).unwrap();
        let traj = &report.data;
        assert_eq!(traj.len(), 4541, "{file}");
        assert_eq!(traj.stamps()[0], 0.0);
        assert_eq!(traj.stamps()[4540], 4.705816e+02);
        assert_kitti_pose(&traj.poses()[0], &lines[0]);
        assert_kitti_pose(&traj.poses()[4540], &lines[4540]);
        // The 7–9 digit matrices are orthonormal to ~1e-7: repaired and reported, never more.
        for repair in &report.repairs {
            match repair.kind {
                RepairKind::OrthonormalisedRotation { deviation } => assert!(deviation < 1e-5, "{repair}"),
                ref other => panic!("{file}: unexpected repair {other:?}"),
            }
        }
        // A car on near-planar roads: the camera's y (pointing down) stays within 25 m while x and z
        // span ~560 m and ~500 m.
        let max_y = traj.positions().map(|p| p.y.abs()).fold(0.0, f64::max);
        let span_x = traj.positions().map(|p| p.x).fold(f64::MIN, f64::max)
            - traj.positions().map(|p| p.x).fold(f64::MAX, f64::min);
        assert!(max_y < 25.0 && span_x > 400.0, "{file}: {max_y} {span_x}");
    }
    let report = read_kitti(&gt, &times).unwrap();
    assert_eq!(report.data.poses()[4540].translation.vector, Vector3::new(-5.583931, -3.562758, 96.96153));
}

// ---------------------------------------------------------------------------------------------
// Round trips

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("alignrl-sensors-readers-{}-{name}", std::process::id()))
}

/// A synthetic trajectory with awkward values: large stamps, negative-w quaternions, tiny and
/// huge translations.
fn synthetic() -> Trajectory {
    let mut stamps = Vec::new();
    let mut poses = Vec::new();
    for i in 0..50 {
        let f = i as f64;
        stamps.push(1.7e9 + f * 0.013 + 1e-7 * f.sin());
        let q = UnitQuaternion::from_euler_angles(0.3 * f, -0.2 * f, 0.11 * f * f);
        let q = if i % 2 == 0 { q } else { UnitQuaternion::new_unchecked(-q.into_inner()) };
        poses
            .push(Isometry3::from_parts(Vector3::new(4.58e5 + f / 3.0, 5.4e6 - f * 1e-9, -1e-300).into(), q));
    }
    Trajectory::new(stamps, poses).unwrap()
}

#[test]
fn tum_round_trip() {
    let mut inputs = vec![synthetic()];
    if let Some(path) = real("fr2_desk_ORB.txt") {
        inputs.push(read_tum(path).unwrap().data);
    }
    for traj in inputs {
        let path = temp_path("round.tum");
        write_tum(&path, &traj).unwrap();
        let back = read_tum(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(back.is_clean(), "{:?}", back.repairs.first());
        assert_eq!(back.data.stamps(), traj.stamps());
        for (a, b) in back.data.poses().iter().zip(traj.poses()) {
            assert_eq!(a.translation, b.translation);
            // Same quaternion convention, sign included.
            assert!((a.rotation.coords - b.rotation.coords).amax() < 1e-15);
        }
        let text = to_tum_string(&traj);
        assert_eq!(parse_tum(&text, "text").unwrap().data.len(), traj.len());
    }
}

#[test]
fn euroc_round_trip() {
    let mut inputs = vec![synthetic()];
    if let Some(path) = real("V102_groundtruth.csv") {
        inputs.push(read_euroc(path).unwrap().data);
    }
    for traj in inputs {
        let path = temp_path("round.csv");
        write_euroc(&path, &traj).unwrap();
        let back = read_euroc(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(back.is_clean());
        // Nanosecond stamps: at 1.4e9 s the f64 grid (238 ns) is coarser, so the stamps come back
        // bit-exact.
        assert_eq!(back.data.stamps(), traj.stamps());
        for (a, b) in back.data.poses().iter().zip(traj.poses()) {
            assert_eq!(a.translation, b.translation);
            assert!((a.rotation.coords - b.rotation.coords).amax() < 1e-15);
        }
    }
    // Small stamps: within half a nanosecond.
    let traj = Trajectory::new(vec![-2.5, 0.25, 3.0000000004], vec![Isometry3::identity(); 3]).unwrap();
    let back = parse_euroc(to_euroc_string(&traj).unwrap(), "mem").unwrap().data;
    for (a, b) in back.stamps().iter().zip(traj.stamps()) {
        assert!((a - b).abs() <= 0.5e-9 + 1e-15, "{a} {b}");
    }
    let far = Trajectory::new(vec![1e11], vec![Isometry3::identity()]).unwrap();
    let err = to_euroc_string(&far).unwrap_err();
    assert!(matches!(err.kind(), SensorIoErrorKind::Unwritable { .. }), "{err}");
}

#[test]
fn kitti_round_trip() {
    let mut inputs = vec![synthetic()];
    if let (Some(gt), Some(times)) = (real("KITTI_00_gt.txt"), real("KITTI_00_gt_times.txt")) {
        inputs.push(read_kitti(gt, times).unwrap().data);
    }
    for traj in inputs {
        let (poses, times) = (temp_path("round_poses.txt"), temp_path("round_times.txt"));
        write_kitti(&poses, &times, &traj).unwrap();
        let back = read_kitti(&poses, &times).unwrap();
        std::fs::remove_file(&poses).unwrap();
        std::fs::remove_file(&times).unwrap();
        assert!(back.is_clean(), "{:?}", back.repairs.first());
        assert_eq!(back.data.stamps(), traj.stamps());
        for (a, b) in back.data.poses().iter().zip(traj.poses()) {
            assert_eq!(a.translation, b.translation);
            // A matrix does not carry the quaternion's sign: compare rotations.
            assert!(a.rotation.angle_to(&b.rotation) < 1e-12);
        }
        let (p, t) = to_kitti_strings(&traj);
        assert_eq!(parse_kitti(p, "p", t, "t").unwrap().data.len(), traj.len());
    }
}

// ---------------------------------------------------------------------------------------------
// Errors and repairs on malformed text

fn tum_err(text: &str) -> String {
    parse_tum(text, "fr2.txt").unwrap_err().to_string()
}

#[test]
fn tum_errors_name_line_and_field() {
    let ok = "1 0 0 0 0 0 0 1\n";
    assert_eq!(
        tum_err(&format!("# c\n{ok}\n2 0 0 0 0 0 0 abc\n")),
        r#"fr2.txt:4: field qw: "abc" is not a number"#
    );
    assert_eq!(tum_err("1 0 nan 0 0 0 0 1"), "fr2.txt:1: field y: NaN is not finite");
    assert_eq!(tum_err("1 0 0 0 0 0 0 inf"), "fr2.txt:1: field qw: inf is not finite");
    assert_eq!(tum_err("1 0 0 1e999 0 0 0 1"), "fr2.txt:1: field z: inf is not finite");
    assert_eq!(tum_err("x 0 0 0 0 0 0 1"), r#"fr2.txt:1: field t: "x" is not a number"#);
    assert_eq!(tum_err(&format!("{ok}1 2 3")), "fr2.txt:2: expected 8 fields, found 3");
    assert_eq!(tum_err("1 0 0 0 0 0 0 1 9"), "fr2.txt:1: expected 8 fields, found 9");
    assert_eq!(
        tum_err(&format!("{ok}1 0 0 0 0 0 0 1.01")),
        "fr2.txt:2: field q: quaternion norm 1.01 differs from 1 by more than 0.001"
    );
    assert!(tum_err("1 0 0 0 0 0 0 0").contains("quaternion norm 0 differs"));
    assert_eq!(
        tum_err("1 0 0 0 0 0 0 1\n3 0 0 0 0 0 0 1\n\n2 0 0 0 0 0 0 1\n"),
        "fr2.txt:4: stamp 2 s is before stamp 3 s at line 2"
    );
    let err = parse_tum(b"1 0 0 0 0 0 0 1\n2 0 0 0 \xff 0 0 1\n", "fr2.txt").unwrap_err();
    assert_eq!(err.to_string(), "fr2.txt:2: not valid UTF-8");
    assert_eq!(err.location(), &Location::Line(2));
    let err = read_tum("/nonexistent/dir/fr2.txt").unwrap_err();
    assert!(err.to_string().starts_with("/nonexistent/dir/fr2.txt: "), "{err}");
    assert!(matches!(err.kind(), SensorIoErrorKind::Io(_)));
}

#[test]
fn tum_repairs_are_reported() {
    // 1e-6 off: normalised and reported; 1e-12 off: rounding, normalised silently.
    let report = parse_tum("1 0 0 0 0 0 0 1.000001\r\n2 0 0 0 0 0 0 1.000000000001\r\n", "a.txt").unwrap();
    assert_eq!(report.repairs.len(), 1);
    assert_eq!(report.repairs[0].location, Location::Line(1));
    assert!(matches!(report.repairs[0].kind, RepairKind::NormalisedQuaternion { norm } if norm == 1.000001));
    assert!(report.data.poses().iter().all(|p| (p.rotation.norm() - 1.0).abs() < 1e-15));
    // A duplicate stamp: the later line is dropped, naming both lines.
    let report = parse_tum("1 0 0 0 0 0 0 1\n1 5 0 0 0 0 0 1\n2 0 0 0 0 0 0 1\n", "a.txt").unwrap();
    assert_eq!(report.data.len(), 2);
    assert_eq!(report.data.poses()[0].translation.x, 0.0);
    assert_eq!(report.repairs[0].to_string(), "line 2: dropped: stamp 1 s repeats that of line 1");
    // Empty input is an empty trajectory.
    assert!(parse_tum("", "e").unwrap().data.is_empty());
    assert!(parse_tum("# only a comment\n\n", "e").unwrap().data.is_empty());
}

#[test]
fn euroc_errors_name_line_and_field() {
    let header =
        "#timestamp [ns],p_RS_R_x [m],p_RS_R_y [m],p_RS_R_z [m],q_RS_w [],q_RS_x [],q_RS_y [],q_RS_z []\n";
    let row = "1403715524907143168,0.5,2.0,0.9,1,0,0,0\n";
    let err = |text: String| parse_euroc(text, "V1.csv").unwrap_err().to_string();
    assert_eq!(
        err(format!("{header}{row}1403715524912143104,0.5,2.0,0.9,1,0,0,zz\n")),
        r#"V1.csv:3: field q_RS_z: "zz" is not a number"#
    );
    assert_eq!(
        err(format!("{header}1.5e18,0.5,2.0,0.9,1,0,0,0\n")),
        r#"V1.csv:2: field timestamp [ns]: "1.5e18" is not a number"#
    );
    assert_eq!(err(format!("{header}{row}1,2,3\n")), "V1.csv:3: expected 8 fields as in the header, found 3");
    assert_eq!(
        err(format!("{header}1,0.5,2.0,NaN,1,0,0,0\n")),
        "V1.csv:2: field p_RS_R_z: NaN is not finite"
    );
    // An equal stamp is a dropped duplicate, not an error (1 ns apart is equal in f64 at 1.4e9 s).
    let report =
        parse_euroc(format!("{header}{row}{row}1403715524907143167,0,0,0,1,0,0,0\n"), "V1.csv").unwrap();
    assert_eq!(report.dropped(), 2);
    assert_eq!(report.data.len(), 1);
    assert_eq!(
        err(format!("{header}{row}1403715524000000000,0,0,0,1,0,0,0\n")),
        format!(
            "V1.csv:3: stamp 1403715524 s is before stamp {} s at line 2",
            ns_to_seconds(1403715524907143168)
        )
    );
    // The quaternion is w first: (w=0, x=1) is a half turn about x.
    let report = parse_euroc(format!("{header}1,0,0,0,0,1,0,0\n"), "V1.csv").unwrap();
    assert_eq!(report.data.poses()[0].rotation.coords, nalgebra::Vector4::new(1.0, 0.0, 0.0, 0.0));
    // Without a header, extra columns are allowed; nanosecond stamps become seconds.
    let report = parse_euroc("2000000001,1,2,3,1,0,0,0,9,9,9\n", "V1.csv").unwrap();
    assert_eq!(report.data.stamps()[0], 2.000000001);
    // A comment before the header is not the header.
    let report = parse_euroc(format!("# exported by a tool\n{header}{row}"), "V1.csv").unwrap();
    assert_eq!(report.data.len(), 1);
    // Columns found by name in the header.
    let shuffled = "#timestamp,q_RS_w,q_RS_x,q_RS_y,q_RS_z,p_RS_R_x,p_RS_R_y,p_RS_R_z\n5,1,0,0,0,7,8,9\n";
    let report = parse_euroc(shuffled, "V1.csv").unwrap();
    assert_eq!(report.data.poses()[0].translation.vector, Vector3::new(7.0, 8.0, 9.0));
}

#[test]
fn kitti_errors_name_file_line_and_field() {
    let identity = "1 0 0 0 0 1 0 0 0 0 1 0\n";
    let err = |poses: String, times: &str| {
        parse_kitti(poses, "00.txt", times, "times.txt").unwrap_err().to_string()
    };
    assert_eq!(
        err(format!("{identity}1 0 0 0 0 1 0 0 0 0 one 0\n"), "0\n1\n"),
        r#"00.txt:2: field r22: "one" is not a number"#
    );
    assert_eq!(err(identity.repeat(2), "0\n"), "00.txt: 2 entries but 1 in times.txt");
    assert_eq!(err(identity.to_owned(), "0\n1\n"), "00.txt: 1 entries but 2 in times.txt");
    assert_eq!(err(identity.to_owned(), "zero\n"), r#"times.txt:1: field t: "zero" is not a number"#);
    assert_eq!(err(identity.repeat(2), "1\n0\n"), "times.txt:2: stamp 0 s is before stamp 1 s at line 1");
    assert_eq!(err("1 0 0 0 0 1 0 0 0 0 1\n".into(), "0\n"), "00.txt:1: expected 12 fields, found 11");
    // A scaled matrix and a reflection are not rotations.
    assert!(
        err("1.1 0 0 0 0 1 0 0 0 0 1 0\n".into(), "0\n")
            .starts_with("00.txt:1: field R: not a rotation matrix")
    );
    assert!(err("1 0 0 0 0 1 0 0 0 0 -1 0\n".into(), "0\n").contains("det = -1"));
    // Slightly off: orthonormalised and reported.
    let report = parse_kitti("1.000001 0 0 0 0 1 0 0 0 0 1 0\n", "00.txt", "0\n", "times.txt").unwrap();
    assert!(matches!(report.repairs[0].kind, RepairKind::OrthonormalisedRotation { .. }));
    assert!((report.data.poses()[0].rotation.angle()).abs() < 1e-12);
}

// ---------------------------------------------------------------------------------------------
// MCAP: the real TurtleBot recording

#[test]
fn mcap_topics_and_frames() {
    let Some(path) = real("nav2_turtlebot.mcap") else { return };
    let topics: Vec<(String, String, usize)> = list_mcap_topics(&path)
        .unwrap()
        .into_iter()
        .map(|t| {
            assert_eq!(t.message_encoding, "cdr");
            (t.topic, t.schema_name, t.message_count)
        })
        .collect();
    let expected = [
        ("/amcl_pose", "geometry_msgs/msg/PoseWithCovarianceStamped", 135),
        ("/odom", "nav_msgs/msg/Odometry", 2639),
        ("/tf", "tf2_msgs/msg/TFMessage", 5422),
        ("/tf_static", "tf2_msgs/msg/TFMessage", 1),
    ];
    let expected: Vec<(String, String, usize)> =
        expected.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), *c)).collect();
    assert_eq!(topics, expected);

    // The frames in the file: dynamic ones on /tf, the robot's static tree on /tf_static.
    let edges = list_mcap_tf_frames(&path).unwrap();
    let dynamic: Vec<(&str, &str, usize)> = edges
        .iter()
        .filter(|e| e.topic == "/tf")
        .map(|e| (e.parent.as_str(), e.child.as_str(), e.count))
        .collect();
    assert_eq!(
        dynamic,
        [
            ("base_link", "left_wheel", 1862),
            ("base_link", "right_wheel", 1862),
            ("map", "odom", 921),
            ("odom", "base_link", 2639),
        ]
    );
    let statics: Vec<(&str, &str)> = edges
        .iter()
        .filter(|e| e.topic == "/tf_static")
        .map(|e| (e.parent.as_str(), e.child.as_str()))
        .collect();
    assert_eq!(statics.len(), 29, "{statics:?}");
    for edge in [
        ("base_link", "base_footprint"),
        ("base_link", "imu_link"),
        ("shell_link", "rplidar_link"),
        ("oakd_link", "oakd_imu_frame"),
    ] {
        assert!(statics.contains(&edge), "{edge:?}");
    }
    assert!(edges.iter().all(|e| e.topic == "/tf" || (e.topic == "/tf_static" && e.count == 1)));
}

fn assert_planar(traj: &Trajectory, what: &str) {
    for (t, p) in traj.stamps().iter().zip(traj.poses()) {
        assert!(p.translation.z.abs() < 1e-9, "{what} at {t}: z = {}", p.translation.z);
        let (roll, pitch, _) = p.rotation.euler_angles();
        assert!(roll.abs() < 1e-9 && pitch.abs() < 1e-9, "{what} at {t}: roll {roll} pitch {pitch}");
    }
    assert!(
        traj.positions().map(|p| p.x).fold(f64::NAN, f64::max)
            - traj.positions().map(|p| p.x).fold(f64::NAN, f64::min)
            > 0.1,
        "{what} moves"
    );
}

#[test]
fn mcap_odom_and_amcl_load_planar() {
    let Some(path) = real("nav2_turtlebot.mcap") else { return };
    let log = McapLog::open(&path).unwrap();
    let odom = log.poses("/odom").unwrap();
    assert!(odom.is_clean(), "{:?}", odom.repairs.first());
    assert_eq!(odom.data.len(), 2639);
    // Header stamps (simulation time), not the log time.
    assert_eq!(odom.data.stamps()[0], 928.8);
    assert!(odom.data.stamps().windows(2).all(|w| w[1] > w[0]));
    assert_planar(&odom.data, "/odom");
    let messages: Vec<Odometry> = log.messages("/odom").unwrap();
    assert_eq!(messages.len(), 2639);
    assert_eq!(
        (messages[0].header.frame_id.as_str(), messages[0].child_frame_id.as_str()),
        ("odom", "base_link")
    );
    assert_eq!(messages[0].header.stamp, Time { sec: 928, nanosec: 800_000_000 });
    assert_eq!(odom.data.poses()[0].translation.vector, messages[0].pose.pose.position);

    let amcl = read_mcap_poses(&path, "/amcl_pose").unwrap();
    assert!(amcl.is_clean());
    assert_eq!(amcl.data.len(), 135);
    assert!(amcl.data.stamps().windows(2).all(|w| w[1] > w[0]));
    assert_planar(&amcl.data, "/amcl_pose");
    let amcl_messages: Vec<PoseWithCovarianceStamped> = log.messages("/amcl_pose").unwrap();
    assert_eq!(amcl_messages[0].header.frame_id, "map");
    // A planar localiser: the z, roll, pitch variances are 0, x and y ones are not.
    let c = amcl_messages[0].pose.covariance;
    assert!(c[0] > 0.0 && c[7] > 0.0 && c[14] == 0.0 && c[35] > 0.0);
}

#[test]
fn mcap_tf_loads() {
    let Some(path) = real("nav2_turtlebot.mcap") else { return };
    let log = McapLog::open(&path).unwrap();
    // The file has odom -> base_link (not odom -> base_footprint: that one is odom -> base_link
    // composed with the static base_link -> base_footprint).
    let odom_base = read_mcap_tf(&path, "odom", "base_link").unwrap();
    assert_eq!(odom_base.data.len(), 2639);
    assert_planar(&odom_base.data, "tf odom->base_link");
    // The same poses and stamps as /odom.
    let odom = log.poses("/odom").unwrap().data;
    assert_eq!(odom_base.data.stamps(), odom.stamps());
    for (a, b) in odom_base.data.poses().iter().zip(odom.poses()) {
        assert!((a.translation.vector - b.translation.vector).amax() < 1e-12);
        assert!(a.rotation.angle_to(&b.rotation) < 1e-9);
    }
    let map_odom = log.transforms("/map", "odom").unwrap();
    assert_eq!(map_odom.data.len(), 921);
    assert_planar(&map_odom.data, "tf map->odom");
    // Static transforms, from /tf_static.
    let footprint = log.transforms("base_link", "base_footprint").unwrap();
    assert_eq!(footprint.data.len(), 1);
    let t_odom_footprint = odom_base.data.map_poses(|p| p * footprint.data.poses()[0]);
    assert_eq!(t_odom_footprint.len(), 2639);
    for p in t_odom_footprint.poses() {
        let (roll, pitch, _) = p.rotation.euler_angles();
        assert!(roll.abs() < 1e-9 && pitch.abs() < 1e-9);
    }
    // A pair the file lacks: the error lists the pairs it has.
    let err = log.transforms("odom", "base_footprint").unwrap_err();
    assert!(matches!(err.kind(), SensorIoErrorKind::TransformNotFound { .. }));
    assert!(err.to_string().contains("odom -> base_link on /tf"), "{err}");
}

#[test]
fn mcap_errors_name_topic() {
    let Some(path) = real("nav2_turtlebot.mcap") else { return };
    let log = McapLog::open(&path).unwrap();
    let err = log.poses("/nope").unwrap_err().to_string();
    assert!(err.ends_with("topic /nope not found (topics: /amcl_pose, /odom, /tf, /tf_static)"), "{err}");
    let err = log.poses("/tf").unwrap_err();
    assert_eq!(err.location(), &Location::Message { index: 0, topic: "/tf".into() });
    assert!(
        err.to_string().contains(": message 0 on /tf: unsupported schema \"tf2_msgs/msg/TFMessage\""),
        "{err}"
    );
    let err = read_mcap_imu(&path, "/odom").unwrap_err();
    assert!(matches!(err.kind(), SensorIoErrorKind::UnsupportedSchema { .. }), "{err}");
    let err = log.messages::<Imu>("/odom").unwrap_err();
    assert!(matches!(err.kind(), SensorIoErrorKind::UnsupportedSchema { .. }), "{err}");
    // Not an MCAP file.
    let err = McapLog::open(real("V102.txt").unwrap()).unwrap().topics().unwrap_err();
    assert!(matches!(err.kind(), SensorIoErrorKind::Mcap(_)), "{err}");
    assert!(err.to_string().contains("V102.txt: MCAP: "), "{err}");
}

// ---------------------------------------------------------------------------------------------
// MCAP: synthetic logs (IMU, PoseStamped, big-endian CDR, bad messages)

/// An MCAP file (zstd chunks) with the given `(topic, schema, payloads)` channels, messages
/// interleaved in order.
fn build_mcap(channels: &[(&str, &str, Vec<Vec<u8>>)]) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    let mut writer = mcap::WriteOptions::new().create(&mut out).unwrap();
    let mut ids = Vec::new();
    for (topic, schema, _) in channels {
        let schema_id = writer.add_schema(schema, "ros2msg", b"").unwrap();
        ids.push(writer.add_channel(schema_id, topic, "cdr", &BTreeMap::new()).unwrap());
    }
    let longest = channels.iter().map(|c| c.2.len()).max().unwrap_or(0);
    let mut sequence = 0;
    for i in 0..longest {
        for ((_, _, payloads), &id) in channels.iter().zip(&ids) {
            if let Some(data) = payloads.get(i) {
                sequence += 1;
                let header = mcap::records::MessageHeader {
                    channel_id: id,
                    sequence,
                    log_time: 1_000 * sequence as u64,
                    publish_time: 1_000 * sequence as u64,
                };
                writer.write_to_known_channel(&header, data).unwrap();
            }
        }
    }
    writer.finish().unwrap();
    drop(writer);
    out.into_inner()
}

fn imu_message(i: u32) -> Imu {
    Imu {
        header: Header { stamp: Time { sec: 100, nanosec: i * 5_000_000 }, frame_id: "imu_link".into() },
        orientation: Quaternion::new(0.0, 0.0, 0.0, 0.0),
        orientation_covariance: [-1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        angular_velocity: Vector3::new(0.01 * i as f64, -0.02, 0.5),
        angular_velocity_covariance: [1e-6; 9],
        linear_acceleration: Vector3::new(0.1, 0.2, 9.81 + i as f64 * 1e-3),
        linear_acceleration_covariance: [1e-4; 9],
    }
}

#[test]
fn mcap_imu_and_pose_stamped() {
    let little: Vec<Vec<u8>> = (0..20).map(|i| imu_message(i).to_cdr(Endianness::Little)).collect();
    let big: Vec<Vec<u8>> = (0..20).map(|i| imu_message(i).to_cdr(Endianness::Big)).collect();
    let poses: Vec<Vec<u8>> = (0..10)
        .map(|i| {
            PoseStamped {
                header: Header { stamp: Time { sec: 7, nanosec: 1000 * i }, frame_id: "map".into() },
                pose: Pose {
                    position: Vector3::new(i as f64, 0.5, -0.25),
                    orientation: Quaternion::new(0.0, 0.0, 0.0, 1.0), // w = 0: half turn about z
                },
            }
            .to_cdr(Endianness::Little)
        })
        .collect();
    let bytes = build_mcap(&[
        ("/imu", Imu::SCHEMA_NAME, little),
        ("/imu_be", Imu::SCHEMA_NAME, big),
        ("/pose", PoseStamped::SCHEMA_NAME, poses),
    ]);
    let log = McapLog::from_bytes(bytes.clone(), "synthetic.mcap");
    for topic in ["/imu", "/imu_be"] {
        let imu = log.imu(topic).unwrap();
        assert!(imu.is_clean());
        assert_eq!(imu.data.len(), 20);
        for (i, s) in imu.data.iter().enumerate() {
            let m = imu_message(i as u32);
            assert_eq!(s.stamp, 100.0 + i as f64 * 0.005);
            assert_eq!(s.gyro, <[f64; 3]>::from(m.angular_velocity));
            assert_eq!(s.accel, <[f64; 3]>::from(m.linear_acceleration));
        }
    }
    let pose = log.poses("/pose").unwrap();
    assert_eq!(pose.data.len(), 10);
    assert_eq!(pose.data.poses()[3].translation.vector, Vector3::new(3.0, 0.5, -0.25));
    assert!((pose.data.poses()[3].rotation.angle() - std::f64::consts::PI).abs() < 1e-12);
    assert_eq!(pose.data.stamps()[1], 7.000001);

    // Through a file, with the free functions.
    let path = temp_path("synthetic.mcap");
    std::fs::write(&path, &bytes).unwrap();
    let imu = read_mcap_imu(&path, "/imu").unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(imu.data.len(), 20);
}

#[test]
fn mcap_bad_messages_are_named() {
    let odom = |i: u32, x: f64, qw: f64| {
        Odometry {
            header: Header { stamp: Time { sec: 1, nanosec: i }, frame_id: "odom".into() },
            child_frame_id: "base_link".into(),
            pose: alignrl_envs::sensors::ros2::PoseWithCovariance {
                pose: Pose {
                    position: Vector3::new(x, 0.0, 0.0),
                    orientation: Quaternion::new(qw, 0.0, 0.0, 0.0),
                },
                covariance: [0.0; 36],
            },
            ..Default::default()
        }
        .to_cdr(Endianness::Little)
    };
    let run = |payloads: Vec<Vec<u8>>| {
        McapLog::from_bytes(build_mcap(&[("/odom", Odometry::SCHEMA_NAME, payloads)]), "bad.mcap")
            .poses("/odom")
    };
    let err = run(vec![odom(0, 0.0, 1.0), odom(1, f64::NAN, 1.0)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad.mcap: message 1 on /odom: field pose.pose.position.x: NaN is not finite"
    );
    let err = run(vec![odom(0, 0.0, 1.0), odom(1, 0.0, 1.0), odom(2, 0.0, 1.5)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad.mcap: message 2 on /odom: field pose.pose.orientation: quaternion norm 1.5 differs from 1 by more than 0.001"
    );
    let mut truncated = odom(1, 0.0, 1.0);
    truncated.truncate(60);
    let err = run(vec![odom(0, 0.0, 1.0), truncated]).unwrap_err();
    assert_eq!(err.location(), &Location::Message { index: 1, topic: "/odom".into() });
    assert!(
        err.to_string().contains("CDR field pose.pose.position.z at payload byte 56: truncated"),
        "{err}"
    );
    let err = run(vec![odom(5, 0.0, 1.0), odom(4, 0.0, 1.0)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad.mcap: message 1 on /odom: stamp 1.000000004 s is before stamp 1.000000005 s at message 0 on /odom"
    );
    let report = run(vec![odom(5, 0.0, 1.0), odom(5, 1.0, 1.0), odom(6, 0.0, 1.0000001)]).unwrap();
    assert_eq!(report.data.len(), 2);
    assert_eq!(report.repairs.len(), 2);
    assert_eq!(
        report.repairs[0].to_string(),
        "message 1 on /odom: dropped: stamp 1.000000005 s repeats that of message 0 on /odom"
    );
    assert_eq!(report.repairs[1].location, Location::Message { index: 2, topic: "/odom".into() });
    // A changing frame is an error.
    let mut other = Odometry::from_cdr(&odom(9, 0.0, 1.0)).unwrap();
    other.child_frame_id = "base_footprint".into();
    let err = run(vec![odom(0, 0.0, 1.0), other.to_cdr(Endianness::Big)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad.mcap: message 1 on /odom: field child_frame_id: frame \"base_footprint\" differs from \"base_link\" of the first message"
    );
    // TF with a bad rotation names the transform.
    let tf = TfMessage {
        transforms: vec![
            TransformStamped::default(),
            TransformStamped {
                header: Header { stamp: Time { sec: 2, nanosec: 0 }, frame_id: "a".into() },
                child_frame_id: "b".into(),
                translation: Vector3::zeros(),
                rotation: Quaternion::new(2.0, 0.0, 0.0, 0.0),
            },
        ],
    };
    let log = McapLog::from_bytes(
        build_mcap(&[("/tf", TfMessage::SCHEMA_NAME, vec![tf.to_cdr(Endianness::Little)])]),
        "tf.mcap",
    );
    let err = log.transforms("a", "b").unwrap_err();
    assert_eq!(
        err.to_string(),
        "tf.mcap: message 0 on /tf: field transforms[1].transform.rotation: quaternion norm 2 differs from 1 by more than 0.001"
    );
}

// ---------------------------------------------------------------------------------------------
// CDR layout

#[test]
fn cdr_alignment_is_relative_to_the_payload() {
    // PoseStamped, little endian: sec, nanosec, "ab\0" (length 3), padding to 16 from the payload
    // start (byte 20 of the message), then seven f64.
    let mut m = vec![0x00, 0x01, 0x00, 0x00];
    m.extend_from_slice(&5i32.to_le_bytes());
    m.extend_from_slice(&7u32.to_le_bytes());
    m.extend_from_slice(&3u32.to_le_bytes());
    m.extend_from_slice(b"ab\0");
    m.push(0); // pad to payload offset 16
    for v in [1.0f64, 2.0, 3.0, 0.0, 0.0, 0.0, 1.0] {
        m.extend_from_slice(&v.to_le_bytes());
    }
    let p = PoseStamped::from_cdr(&m).unwrap();
    assert_eq!(p.header, Header { stamp: Time { sec: 5, nanosec: 7 }, frame_id: "ab".into() });
    assert_eq!(p.pose.position, Vector3::new(1.0, 2.0, 3.0));
    assert_eq!(p.pose.orientation, Quaternion::new(1.0, 0.0, 0.0, 0.0));
    assert_eq!(p.to_cdr(Endianness::Little), m);
    // Big endian: same layout, bytes swapped.
    let be = p.to_cdr(Endianness::Big);
    assert_eq!(&be[..2], &[0x00, 0x00]);
    assert_eq!(&be[4..8], &5i32.to_be_bytes());
    assert_eq!(PoseStamped::from_cdr(&be).unwrap(), p);
    // Errors name the field and the payload offset.
    let err = PoseStamped::from_cdr(&m[..30]).unwrap_err();
    assert_eq!(err.to_string(), "field pose.position.y at payload byte 24: truncated: needs 8 bytes, 2 left");
    let err = PoseStamped::from_cdr(&[0x00, 0x07, 0, 0]).unwrap_err();
    assert_eq!(err.to_string(), "field encapsulation at payload byte 0: unsupported encapsulation 00 07");
    let mut bad = m.clone();
    bad[14] = b'x'; // the NUL of "ab"
    assert!(PoseStamped::from_cdr(&bad).unwrap_err().to_string().contains("header.frame_id"));
    // The real file's messages decode and re-encode to the same bytes.
    if let Some(path) = real("nav2_turtlebot.mcap") {
        let log = McapLog::open(path).unwrap();
        let messages: Vec<TfMessage> = log.messages("/tf_static").unwrap();
        assert_eq!(messages[0].transforms.len(), 29);
        let rt = TfMessage::from_cdr(&messages[0].to_cdr(Endianness::Big)).unwrap();
        assert_eq!(rt, messages[0]);
    }
}
