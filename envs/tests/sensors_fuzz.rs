//! Property tests of the trajectory readers: on arbitrary bytes, arbitrary token soup, mutated
//! valid inputs and mutated copies of the real MCAP recording they return `Ok` or `Err`, never
//! panic; what they return is valid; writers round-trip.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::PathBuf;
use std::sync::OnceLock;

use alignrl_envs::sensors::cdr::Endianness;
use alignrl_envs::sensors::ros2::{
    Header, Imu, Odometry, Pose, PoseStamped, PoseWithCovariance, PoseWithCovarianceStamped, Ros2Message,
    TfMessage, Time, TransformStamped, Twist, TwistWithCovariance,
};
use alignrl_envs::sensors::{
    McapLog, ReadReport, SensorIoError, Trajectory, parse_euroc, parse_kitti, parse_tum, to_euroc_string,
    to_kitti_strings, to_tum_string,
};
use nalgebra::{Isometry3, Quaternion, Translation3, UnitQuaternion, Vector3};
use proptest::prelude::*;

/// `cases` cases, or `PROPTEST_CASES` when set (for longer runs).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(cases);
    // No regression files: this test must not write into the source tree.
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Whatever a reader returned is consistent: stamps strictly increasing, rotations unit.
fn check_report(result: &Result<ReadReport, SensorIoError>) {
    match result {
        Ok(report) => {
            let t = &report.data;
            assert!(t.stamps().windows(2).all(|w| w[1] > w[0]));
            for p in t.poses() {
                assert!((p.rotation.norm() - 1.0).abs() < 1e-12);
                assert!(p.translation.vector.iter().all(|x| x.is_finite()));
            }
        }
        Err(e) => {
            // Errors always render (and name their source).
            assert!(!e.to_string().is_empty());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Text strategies

const TOKENS: &[&str] = &[
    "0",
    "1",
    "-1.5",
    "0.5",
    "0.7071067811865476",
    "1.0000001",
    "1.01",
    "1e308",
    "1e999",
    "-1e999",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "abc",
    "",
    "#",
    "# comment",
    "1403715524907143168",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
    "1e-320",
    "+3",
    "0x10",
    "ä",
    "1,2",
    "\u{0}",
];

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(TOKENS).prop_map(String::from),
        2 => any::<f64>().prop_map(|x| x.to_string()),
        1 => any::<i64>().prop_map(|x| x.to_string()),
        1 => "[ -~]{0,6}",
    ]
}

/// Lines of 0..16 tokens joined by `separator`, lines joined by `\n` or `\r\n`.
fn token_text(separators: &'static [&'static str]) -> impl Strategy<Value = String> {
    let line = (prop::collection::vec(token(), 0..16), prop::sample::select(separators))
        .prop_map(|(tokens, sep)| tokens.join(sep));
    (prop::collection::vec(line, 0..24), any::<bool>()).prop_map(|(lines, crlf)| {
        let mut text = lines.join(if crlf { "\r\n" } else { "\n" });
        text.push('\n');
        text
    })
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

/// Text with mostly valid lines: random stamps (sometimes repeated or decreasing), finite
/// values, quaternions near and far from unit norm.
fn near_valid_rows() -> impl Strategy<Value = Vec<(f64, [f64; 3], [f64; 4])>> {
    let row = (
        prop_oneof![Just(0.0), 0.0..0.1, -0.05..0.1],
        prop::array::uniform3(-1e6..1e6f64),
        prop::array::uniform4(-1.0..1.0f64),
        prop_oneof![Just(1.0), Just(1.0 + 1e-12), Just(1.0 + 1e-6), Just(1.0 + 1e-2), 0.0..2.0],
    );
    prop::collection::vec(row, 0..40).prop_map(|rows| {
        let mut t = 1.3e9;
        rows.into_iter()
            .map(|(dt, p, q, scale)| {
                t += dt;
                let n = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]).sqrt().max(1e-3);
                (t, p, q.map(|c| c / n * scale))
            })
            .collect()
    })
}

// ---------------------------------------------------------------------------------------------
// Valid trajectories for round trips

fn trajectory() -> impl Strategy<Value = Trajectory> {
    let pose = (
        prop::array::uniform3(prop_oneof![-1e7..1e7f64, -1.0..1.0f64, Just(0.0), Just(-0.0)]),
        prop::array::uniform4(-1.0..1.0f64),
    );
    (0.0..2e9f64, prop::collection::vec((1e-6..10.0f64, pose), 0..30)).prop_map(|(t0, rows)| {
        let mut t = t0;
        let mut stamps = Vec::new();
        let mut poses = Vec::new();
        for (dt, (p, q)) in rows {
            t += dt;
            let q = Quaternion::new(q[3], q[0], q[1], q[2]);
            let q = if q.norm() < 1e-3 { Quaternion::identity() } else { q };
            stamps.push(t);
            poses.push(Isometry3::from_parts(
                Translation3::new(p[0], p[1], p[2]),
                UnitQuaternion::new_normalize(q),
            ));
        }
        Trajectory::new(stamps, poses).unwrap()
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn tum_never_panics_on_bytes(data in bytes(600)) {
        check_report(&parse_tum(&data, "fuzz.txt"));
    }

    #[test]
    fn tum_never_panics_on_tokens(text in token_text(&[" ", "\t", "  "])) {
        check_report(&parse_tum(&text, "fuzz.txt"));
    }

    #[test]
    fn tum_near_valid(rows in near_valid_rows()) {
        let text: String = rows
            .iter()
            .map(|(t, p, q)| format!("{t} {} {} {} {} {} {} {}\n", p[0], p[1], p[2], q[0], q[1], q[2], q[3]))
            .collect();
        let result = parse_tum(&text, "fuzz.txt");
        check_report(&result);
        if let Ok(report) = result {
            prop_assert_eq!(report.data.len() + report.dropped(), rows.len());
        }
    }

    #[test]
    fn euroc_never_panics_on_bytes(data in bytes(600)) {
        check_report(&parse_euroc(&data, "fuzz.csv"));
    }

    #[test]
    fn euroc_never_panics_on_tokens(
        header in any::<bool>(),
        text in token_text(&[",", ", ", ",,"]),
    ) {
        let header = if header { "#timestamp [ns],p_RS_R_x [m],p_RS_R_y [m],p_RS_R_z [m],q_RS_w [],q_RS_x [],q_RS_y [],q_RS_z []\n" } else { "" };
        check_report(&parse_euroc(format!("{header}{text}"), "fuzz.csv"));
    }

    #[test]
    fn euroc_near_valid(rows in near_valid_rows()) {
        let text: String = rows
            .iter()
            .map(|(t, p, q)| format!("{},{},{},{},{},{},{},{}\n", (t * 1e9) as i64, p[0], p[1], p[2], q[3], q[0], q[1], q[2]))
            .collect();
        check_report(&parse_euroc(&text, "fuzz.csv"));
    }

    #[test]
    fn kitti_never_panics_on_bytes(poses in bytes(600), times in bytes(200)) {
        check_report(&parse_kitti(&poses, "p.txt", &times, "t.txt"));
    }

    #[test]
    fn kitti_never_panics_on_tokens(poses in token_text(&[" "]), times in token_text(&[" "])) {
        check_report(&parse_kitti(&poses, "p.txt", &times, "t.txt"));
    }

    #[test]
    fn kitti_near_valid(rows in near_valid_rows(), noise in -2e-3..2e-3f64) {
        let mut poses = String::new();
        let mut times = String::new();
        for (i, (t, p, q)) in rows.iter().enumerate() {
            let q = Quaternion::new(q[3], q[0], q[1], q[2]);
            let r = if q.norm() > 0.5 { UnitQuaternion::new_normalize(q) } else { UnitQuaternion::identity() };
            let mut m = r.to_rotation_matrix().into_inner();
            m[(i % 3, (i / 3) % 3)] += noise;
            poses.push_str(&format!(
                "{} {} {} {} {} {} {} {} {} {} {} {}\n",
                m[(0, 0)], m[(0, 1)], m[(0, 2)], p[0], m[(1, 0)], m[(1, 1)], m[(1, 2)], p[1],
                m[(2, 0)], m[(2, 1)], m[(2, 2)], p[2]
            ));
            times.push_str(&format!("{t}\n"));
        }
        check_report(&parse_kitti(&poses, "p.txt", &times, "t.txt"));
    }

    #[test]
    fn tum_round_trip(traj in trajectory()) {
        let back = parse_tum(to_tum_string(&traj), "rt.txt").unwrap();
        prop_assert!(back.is_clean());
        prop_assert_eq!(back.data.stamps(), traj.stamps());
        for (a, b) in back.data.poses().iter().zip(traj.poses()) {
            prop_assert_eq!(a.translation, b.translation);
            prop_assert!((a.rotation.coords - b.rotation.coords).amax() < 1e-15);
        }
    }

    #[test]
    fn euroc_round_trip(traj in trajectory()) {
        let back = parse_euroc(to_euroc_string(&traj).unwrap(), "rt.csv").unwrap();
        prop_assert!(back.is_clean());
        prop_assert_eq!(back.data.len(), traj.len());
        for (a, b) in back.data.stamps().iter().zip(traj.stamps()) {
            // Whole nanoseconds: within half a nanosecond plus rounding.
            prop_assert!((a - b).abs() <= 0.5e-9 + 2.0 * f64::EPSILON * b.abs(), "{} {}", a, b);
        }
        for (a, b) in back.data.poses().iter().zip(traj.poses()) {
            prop_assert_eq!(a.translation, b.translation);
            prop_assert!((a.rotation.coords - b.rotation.coords).amax() < 1e-15);
        }
    }

    #[test]
    fn kitti_round_trip(traj in trajectory()) {
        let (poses, times) = to_kitti_strings(&traj);
        let back = parse_kitti(poses, "p.txt", times, "t.txt").unwrap();
        prop_assert!(back.is_clean());
        prop_assert_eq!(back.data.stamps(), traj.stamps());
        for (a, b) in back.data.poses().iter().zip(traj.poses()) {
            prop_assert_eq!(a.translation, b.translation);
            prop_assert!(a.rotation.angle_to(&b.rotation) < 1e-12);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CDR

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![-1e300..1e300f64, -10.0..10.0f64, Just(0.0), Just(-0.0)]
}

fn vec3() -> impl Strategy<Value = Vector3<f64>> {
    cov::<3>().prop_map(Vector3::from)
}

fn quat() -> impl Strategy<Value = Quaternion<f64>> {
    cov::<4>().prop_map(|q| Quaternion::new(q[3], q[0], q[1], q[2]))
}

fn header() -> impl Strategy<Value = Header> {
    (any::<i32>(), 0..1_000_000_000u32, "\\PC{0,12}")
        .prop_map(|(sec, nanosec, frame_id)| Header { stamp: Time { sec, nanosec }, frame_id })
}

fn pose() -> impl Strategy<Value = Pose> {
    (vec3(), quat()).prop_map(|(position, orientation)| Pose { position, orientation })
}

fn cov<const N: usize>() -> impl Strategy<Value = [f64; N]> {
    // A Vec strategy keeps the value tree on the heap (arrays of unions overflow the test stack).
    prop::collection::vec(finite(), N).prop_map(|v| {
        let mut out = [0.0; N];
        out.copy_from_slice(&v);
        out
    })
}

fn odometry() -> impl Strategy<Value = Odometry> {
    (header(), "\\PC{0,12}", pose(), cov::<36>(), vec3(), vec3(), cov::<36>()).prop_map(
        |(header, child_frame_id, pose, pc, linear, angular, tc)| Odometry {
            header,
            child_frame_id,
            pose: PoseWithCovariance { pose, covariance: pc },
            twist: TwistWithCovariance { twist: Twist { linear, angular }, covariance: tc },
        },
    )
}

fn transform() -> impl Strategy<Value = TransformStamped> {
    (header(), "\\PC{0,12}", vec3(), quat()).prop_map(|(header, child_frame_id, translation, rotation)| {
        TransformStamped { header, child_frame_id, translation, rotation }
    })
}

fn imu() -> impl Strategy<Value = Imu> {
    (header(), quat(), cov::<9>(), vec3(), cov::<9>(), vec3(), cov::<9>()).prop_map(
        |(header, q, c0, w, c1, a, c2)| Imu {
            header,
            orientation: q,
            orientation_covariance: c0,
            angular_velocity: w,
            angular_velocity_covariance: c1,
            linear_acceleration: a,
            linear_acceleration_covariance: c2,
        },
    )
}

fn endianness() -> impl Strategy<Value = Endianness> {
    prop_oneof![Just(Endianness::Little), Just(Endianness::Big)]
}

/// Decodes `data` as every message type; none may panic.
fn decode_all(data: &[u8]) {
    let _ = Odometry::from_cdr(data);
    let _ = PoseStamped::from_cdr(data);
    let _ = PoseWithCovarianceStamped::from_cdr(data);
    let _ = TransformStamped::from_cdr(data);
    let _ = TfMessage::from_cdr(data);
    let _ = Imu::from_cdr(data);
}

/// Applies `(position, byte)` overwrites and a truncation.
fn mutate(
    mut data: Vec<u8>,
    edits: &[(prop::sample::Index, u8)],
    cut: Option<prop::sample::Index>,
) -> Vec<u8> {
    if !data.is_empty() {
        for (at, byte) in edits {
            let i = at.index(data.len());
            data[i] = *byte;
        }
    }
    if let Some(cut) = cut {
        let n = cut.index(data.len() + 1);
        data.truncate(n);
    }
    data
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn cdr_never_panics_on_bytes(data in bytes(400), le in any::<bool>()) {
        decode_all(&data);
        // Past the encapsulation header.
        let mut with_header = vec![0, u8::from(le), 0, 0];
        with_header.extend_from_slice(&data);
        decode_all(&with_header);
    }

    #[test]
    fn cdr_round_trips(
        o in odometry(),
        t in prop::collection::vec(transform(), 0..4),
        i in imu(),
        h in header(),
        p in pose(),
        c in cov::<36>(),
        e in endianness(),
    ) {
        prop_assert_eq!(Odometry::from_cdr(&o.to_cdr(e)).unwrap(), o);
        let tf = TfMessage { transforms: t };
        prop_assert_eq!(TfMessage::from_cdr(&tf.to_cdr(e)).unwrap(), tf);
        prop_assert_eq!(Imu::from_cdr(&i.to_cdr(e)).unwrap(), i);
        let ps = PoseStamped { header: h.clone(), pose: p };
        prop_assert_eq!(PoseStamped::from_cdr(&ps.to_cdr(e)).unwrap(), ps);
        let pwcs = PoseWithCovarianceStamped { header: h, pose: PoseWithCovariance { pose: p, covariance: c } };
        prop_assert_eq!(PoseWithCovarianceStamped::from_cdr(&pwcs.to_cdr(e)).unwrap(), pwcs);
    }

    #[test]
    fn cdr_never_panics_on_mutated_messages(
        o in odometry(),
        t in prop::collection::vec(transform(), 0..4),
        i in imu(),
        e in endianness(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        for data in [o.to_cdr(e), TfMessage { transforms: t }.to_cdr(e), i.to_cdr(e)] {
            decode_all(&mutate(data, &edits, cut));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// MCAP

const MCAP_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/real/nav2_turtlebot.mcap");

/// The real recording, or `None` ("skipped") when the data folder is missing.
fn real_mcap() -> Option<&'static [u8]> {
    static BYTES: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    BYTES
        .get_or_init(|| {
            let bytes = std::fs::read(PathBuf::from(MCAP_PATH)).ok();
            if bytes.is_none() {
                println!("skipped: {MCAP_PATH} is missing");
            }
            bytes
        })
        .as_deref()
}

/// The real recording's messages rewritten without chunks or compression (no CRC over the
/// messages before the end), so that mutations reach the CDR decoders; plus an IMU topic.
fn plain_mcap() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let mut out = Cursor::new(Vec::new());
        let mut writer =
            mcap::WriteOptions::new().use_chunks(false).compression(None).create(&mut out).unwrap();
        let mut channels = BTreeMap::new();
        let mut sequence = 0u32;
        let mut write = |writer: &mut mcap::Writer<_>, topic: &str, schema: &str, data: &[u8]| {
            let id = *channels.entry(topic.to_owned()).or_insert_with(|| {
                let schema_id = writer.add_schema(schema, "ros2msg", b"").unwrap();
                writer.add_channel(schema_id, topic, "cdr", &BTreeMap::new()).unwrap()
            });
            sequence += 1;
            let header = mcap::records::MessageHeader {
                channel_id: id,
                sequence,
                log_time: u64::from(sequence),
                publish_time: u64::from(sequence),
            };
            writer.write_to_known_channel(&header, data).unwrap();
        };
        if let Some(real) = real_mcap() {
            // Every 10th message keeps the file small.
            for message in mcap::MessageStream::new(real).unwrap().step_by(10) {
                let message = message.unwrap();
                let schema = message.channel.schema.as_ref().map(|s| s.name.clone()).unwrap_or_default();
                write(&mut writer, &message.channel.topic, &schema, &message.data);
            }
        }
        for k in 0..50u32 {
            let imu = Imu {
                header: Header { stamp: Time { sec: 1, nanosec: k * 1000 }, frame_id: "imu".into() },
                ..Imu::default()
            };
            write(&mut writer, "/imu", Imu::SCHEMA_NAME, &imu.to_cdr(Endianness::Little));
        }
        writer.finish().unwrap();
        drop(writer);
        out.into_inner()
    })
}

/// Runs every MCAP reader on `bytes`; none may panic, pose results must be valid.
fn read_everything(bytes: Vec<u8>) {
    let log = McapLog::from_bytes(bytes, "fuzz.mcap");
    let _ = log.topics();
    check_report(&log.poses("/odom"));
    check_report(&log.poses("/amcl_pose"));
    check_report(&log.transforms("odom", "base_link"));
    let _ = log.tf_edges();
    if let Ok(imu) = log.imu("/imu") {
        assert!(imu.data.windows(2).all(|w| w[1].stamp > w[0].stamp));
    }
}

/// Flips the given bits.
fn flip(mut data: Vec<u8>, bits: &[prop::sample::Index]) -> Vec<u8> {
    let n = data.len() * 8;
    if n > 0 {
        for bit in bits {
            let b = bit.index(n);
            data[b / 8] ^= 1 << (b % 8);
        }
    }
    data
}

#[test]
fn plain_copy_reads_like_the_real_file() {
    if real_mcap().is_none() {
        return;
    }
    let log = McapLog::from_bytes(plain_mcap().to_vec(), "plain.mcap");
    let every_tenth_odom = mcap::MessageStream::new(real_mcap().unwrap())
        .unwrap()
        .step_by(10)
        .filter(|m| m.as_ref().unwrap().channel.topic == "/odom")
        .count();
    assert!(every_tenth_odom > 200);
    assert_eq!(log.poses("/odom").unwrap().data.len(), every_tenth_odom);
    assert_eq!(log.imu("/imu").unwrap().data.len(), 50);
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn mcap_never_panics_on_bytes(data in bytes(2000), magic in any::<bool>()) {
        let bytes = if magic {
            let mut b = mcap::MAGIC.to_vec();
            b.extend_from_slice(&data);
            b.extend_from_slice(mcap::MAGIC);
            b
        } else {
            data
        };
        read_everything(bytes);
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn mcap_never_panics_on_truncated_real_file(cut in any::<prop::sample::Index>()) {
        let Some(real) = real_mcap() else { return Ok(()) };
        let n = cut.index(real.len());
        read_everything(real[..n].to_vec());
    }

    #[test]
    fn mcap_never_panics_on_bit_flipped_real_file(
        bits in prop::collection::vec(any::<prop::sample::Index>(), 1..8),
        head in prop::collection::vec(any::<prop::sample::Index>(), 0..3),
    ) {
        let Some(real) = real_mcap() else { return Ok(()) };
        let mut data = flip(real.to_vec(), &bits);
        // Also hit the header, schemas and the first chunk's header.
        let head_len = data.len().min(512);
        let flipped = flip(data[..head_len].to_vec(), &head);
        data[..head_len].copy_from_slice(&flipped);
        read_everything(data);
    }

    #[test]
    fn mcap_never_panics_on_mutated_plain_copy(
        bits in prop::collection::vec(any::<prop::sample::Index>(), 1..16),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let mut data = flip(plain_mcap().to_vec(), &bits);
        if let Some(cut) = cut {
            let n = cut.index(data.len() + 1);
            data.truncate(n);
        }
        read_everything(data);
    }
}
