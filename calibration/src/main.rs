//! `alignrl-calibrate`: extrinsic calibration from recorded trajectories.
//!
//! Subcommands:
//! - `pose`: the extrinsic `T_ref_sensor` between a reference and a sensor pose trajectory
//!   (TUM, EuRoC or KITTI files): data selection, hand-eye baselines, Levenberg–Marquardt
//!   refinement over all poses, uncertainty, observability and time offset; writes `calib.yaml`
//!   (and with `--rrd FILE` a rerun recording of the trajectories before and after calibration).
//! - `mcap`: the same from two pose topics of a ROS 2 MCAP recording.
//! - `imu`: the extrinsic (rotation from the gyroscope, lever arm from the accelerometer) and time
//!   offset between an odometry trajectory and an IMU.
//! - `simulate`: writes a synthetic dataset with known ground truth (body trajectory, a rigidly
//!   mounted pose sensor, an IMU) using [`alignrl_envs::sensors`]'s simulated rigs.
//!
//! Exit codes: 0 success, 1 I/O failure, 2 bad input (the message names the file, line and
//! field), 3 data too degenerate for a trustworthy answer (the result file is still written and
//! says why). Never a panic.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use alignrl_calibration::align::{self, AssociateOptions, SyncMethod};
use alignrl_calibration::handeye::{self, HandEyeMethod, MotionPairs, PairSelection, PairStrategy};
use alignrl_calibration::imu_odom::{self, ImuOdomConfig};
use alignrl_calibration::lever_arm::{LeverArmConfig, estimate_lever_arm};
use alignrl_calibration::refine::{self, RefineConfig, Refinement, TimeOffsetConfig};
use alignrl_calibration::report::{CalibrationReport, Candidate};
use alignrl_calibration::selection::{self, SelectionConfig};
use alignrl_envs::EnvRng;
use alignrl_envs::sensors::{
    BodyMotionConfig, BodyTrajectory, ExcitationProfile, ImuConfig, ImuSample, ReadReport, RigidSensorConfig,
    SensorIoError, SimError, Trajectory, read_euroc, read_kitti, read_mcap_poses, read_tum, simulate_imu,
    simulate_sensor, to_tum_string,
};
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nalgebra::{Isometry3, Quaternion, Translation3, UnitQuaternion, Vector3};
use rand::{RngCore, SeedableRng};

/// Extrinsic calibration of sensor rigs from recorded trajectories.
#[derive(Debug, Parser)]
#[command(name = "alignrl-calibrate", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Pose(PoseArgs),
    Mcap(McapArgs),
    Imu(ImuArgs),
    Simulate(SimulateArgs),
}

/// The default `--extrinsic`: t = (0.1, −0.05, 0.2) m, roll 5°, pitch −10°, yaw 30°.
const DEFAULT_EXTRINSIC: &str =
    "0.1 -0.05 0.2 0.9603503907240057 0.0645088599532745 -0.0728592883050978 0.2612609005026451";

/// Write a simulated calibration dataset with known ground truth.
///
/// A smooth random body trajectory (cubic B-spline in position, cumulative B-spline on SO(3)) is
/// sampled into body.tum (T_world_body); a pose sensor rigidly mounted at T_body_sensor (--extrinsic)
/// gives sensor.tum (T_sensorworld_sensor, with noise, drift, time offset); an IMU mounted at
/// T_body_imu gives imu.csv (t,gx,gy,gz,ax,ay,az: rad/s and specific force in m/s², +9.81 up at
/// rest); ground_truth.yaml records every setting. TUM lines are `t x y z qx qy qz qw`. Files are
/// written atomically (temporary file, then rename).
///
/// Time offset convention: the sensor clock reads body time + --time-offset, so the sensor.tum pose
/// stamped s is the body pose at s − offset. The IMU shares the body clock.
///
/// Exit codes: 0 success, 1 I/O failure, 2 bad arguments.
#[derive(Debug, Args)]
#[command(long_about)]
struct SimulateArgs {
    /// Output folder (created if missing; files of the same names are replaced).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Excitation profile (alias --motion): full (6-DoF), planar (x-y translation + yaw; z, roll, pitch exactly 0),
    /// yaw-only (rotation about z in place, no translation), straight-line (one direction, no rotation).
    #[arg(long, visible_alias = "motion", default_value = "full", value_parser = parse_profile)]
    profile: ExcitationProfile,
    /// Duration of the body trajectory (s).
    #[arg(long, default_value_t = 60.0, value_parser = positive, allow_negative_numbers = true)]
    duration: f64,
    /// Pose rate of body.tum, and of sensor.tum unless --sensor-rate is given (Hz).
    #[arg(long, default_value_t = 100.0, value_parser = positive, allow_negative_numbers = true)]
    rate: f64,
    /// Pose rate of sensor.tum on the sensor clock (Hz); defaults to --rate.
    #[arg(long, value_parser = positive, allow_negative_numbers = true)]
    sensor_rate: Option<f64>,
    /// IMU rate (Hz).
    #[arg(long, default_value_t = 200.0, value_parser = positive, allow_negative_numbers = true)]
    imu_rate: f64,
    /// Random seed; the same seed and settings give bit-identical files.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Per-axis std of the sensor's rotation noise, per pose (degrees).
    #[arg(long, default_value_t = 0.5, value_parser = non_negative, allow_negative_numbers = true)]
    rot_noise_deg: f64,
    /// Per-axis std of the sensor's translation noise, per pose (m).
    #[arg(long, default_value_t = 0.01, value_parser = non_negative, allow_negative_numbers = true)]
    trans_noise_m: f64,
    /// Sensor rotation drift: per-axis random-walk std after 1 s (rad/√s).
    #[arg(long, default_value_t = 0.0, value_parser = non_negative, allow_negative_numbers = true)]
    rot_drift: f64,
    /// Sensor translation drift: per-axis random-walk std after 1 s (m/√s).
    #[arg(long, default_value_t = 0.0, value_parser = non_negative, allow_negative_numbers = true)]
    trans_drift: f64,
    /// Sensor time offset (s): sensor clock = body clock + offset (positive: sensor stamps late).
    #[arg(long, default_value_t = 0.0, value_parser = finite, allow_negative_numbers = true)]
    time_offset: f64,
    /// Ground-truth T_body_sensor as "x y z qw qx qy qz" (metres; unit quaternion, w first;
    /// spaces or commas).
    #[arg(long, default_value = DEFAULT_EXTRINSIC, value_parser = parse_pose, allow_hyphen_values = true)]
    extrinsic: Isometry3<f64>,
    /// T_sensorworld_world, the sensor's own world frame, as "x y z qw qx qy qz".
    #[arg(long, default_value = "0 0 0 1 0 0 0", value_parser = parse_pose, allow_hyphen_values = true)]
    sensor_world: Isometry3<f64>,
    /// T_body_imu (IMU mounting, its translation is the lever arm) as "x y z qw qx qy qz".
    #[arg(long, default_value = "0 0 0 1 0 0 0", value_parser = parse_pose, allow_hyphen_values = true)]
    imu_extrinsic: Isometry3<f64>,
    /// Rotation amplitude of the body motion (rad): control rotation-vector components in ±this.
    #[arg(long, default_value_t = 0.5, value_parser = non_negative, allow_negative_numbers = true)]
    rot_amplitude: f64,
    /// Translation amplitude of the body motion (m): control position components in ±this.
    #[arg(long, default_value_t = 1.0, value_parser = non_negative, allow_negative_numbers = true)]
    trans_amplitude: f64,
    /// Time between spline control points (s); smaller means more aggressive motion.
    #[arg(long, default_value_t = 1.0, value_parser = positive, allow_negative_numbers = true)]
    knot_interval: f64,
    /// Gyroscope white-noise density (rad/s/√Hz); discretised as density·√rate.
    #[arg(long, default_value_t = 1.6968e-4, value_parser = non_negative, allow_negative_numbers = true)]
    gyro_noise: f64,
    /// Accelerometer white-noise density (m/s²/√Hz); discretised as density·√rate.
    #[arg(long, default_value_t = 2.0e-3, value_parser = non_negative, allow_negative_numbers = true)]
    accel_noise: f64,
    /// Gyroscope bias random walk (rad/s²/√Hz); per-sample step std density/√rate.
    #[arg(long, default_value_t = 1.9393e-5, value_parser = non_negative, allow_negative_numbers = true)]
    gyro_bias_walk: f64,
    /// Accelerometer bias random walk (m/s³/√Hz); per-sample step std density/√rate.
    #[arg(long, default_value_t = 3.0e-3, value_parser = non_negative, allow_negative_numbers = true)]
    accel_bias_walk: f64,
    /// Print exactly one JSON object on stdout ({"out", "files", "poses", "imu_samples", ...});
    /// human-readable text goes to stderr. On failure stdout stays empty.
    #[arg(long)]
    json: bool,
}

fn parse_profile(s: &str) -> Result<ExcitationProfile, String> {
    s.parse().map_err(|e: SimError| e.to_string())
}

fn number(s: &str) -> Result<f64, String> {
    let x: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number"))?;
    if x.is_finite() { Ok(x) } else { Err(format!("{s} is not finite")) }
}

fn finite(s: &str) -> Result<f64, String> {
    number(s)
}

fn positive(s: &str) -> Result<f64, String> {
    let x = number(s)?;
    if x > 0.0 { Ok(x) } else { Err(format!("must be positive, got {x}")) }
}

fn unit_interval(s: &str) -> Result<f64, String> {
    let x = number(s)?;
    if (0.0..=1.0).contains(&x) { Ok(x) } else { Err(format!("must be in [0, 1], got {x}")) }
}

fn non_negative(s: &str) -> Result<f64, String> {
    let x = number(s)?;
    if x >= 0.0 { Ok(x) } else { Err(format!("must be non-negative, got {x}")) }
}

/// Parses "x y z qw qx qy qz" (whitespace and/or commas); the quaternion must be unit to 1 %
/// and is normalised.
fn parse_pose(s: &str) -> Result<Isometry3<f64>, String> {
    let fields: Vec<&str> =
        s.split(|c: char| c.is_whitespace() || c == ',').filter(|f| !f.is_empty()).collect();
    if fields.len() != 7 {
        return Err(format!("expected 7 numbers \"x y z qw qx qy qz\", got {}", fields.len()));
    }
    let v = fields.iter().map(|f| number(f)).collect::<Result<Vec<f64>, String>>()?;
    let q = Quaternion::new(v[3], v[4], v[5], v[6]);
    let norm = q.norm();
    if (norm - 1.0).abs() > 0.01 {
        return Err(format!(
            "quaternion (qw qx qy qz) = ({} {} {} {}) has norm {norm}, expected a unit quaternion, w first",
            v[3], v[4], v[5], v[6]
        ));
    }
    Ok(Isometry3::from_parts(Translation3::new(v[0], v[1], v[2]), UnitQuaternion::from_quaternion(q)))
}

/// A failure, with its exit code.
enum Failure {
    /// Bad arguments or input data (exit 2).
    Usage(String),
    /// I/O (exit 1).
    Io(anyhow::Error),
}

impl From<SensorIoError> for Failure {
    fn from(e: SensorIoError) -> Self {
        Failure::Usage(e.to_string())
    }
}

/// How a calibration ended.
enum Outcome {
    /// Trusted result (exit 0).
    Trusted,
    /// Written, but not trustworthy (exit 3).
    Degenerate,
}

impl From<SimError> for Failure {
    fn from(e: SimError) -> Self {
        Failure::Usage(e.to_string())
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Io(e)
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // clap prints help/version (exit 0) or the usage error (exit 2).
        Err(e) => e.exit(),
    };
    let result = match &cli.command {
        Command::Simulate(args) => simulate(args).map(|()| Outcome::Trusted),
        Command::Pose(args) => run_pose(args),
        Command::Mcap(args) => run_mcap(args),
        Command::Imu(args) => run_imu(args),
    };
    match result {
        Ok(Outcome::Trusted) => ExitCode::SUCCESS,
        Ok(Outcome::Degenerate) => ExitCode::from(3),
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Io(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Writes `bytes` to `path` atomically ([`alignrl_envs::fsio::atomic_write`]).
fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    alignrl_envs::fsio::atomic_write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

fn imu_csv(samples: &[ImuSample]) -> String {
    let mut out = String::from("t,gx,gy,gz,ax,ay,az\n");
    for s in samples {
        let [gx, gy, gz] = s.gyro;
        let [ax, ay, az] = s.accel;
        let _ = writeln!(out, "{},{gx},{gy},{gz},{ax},{ay},{az}", s.stamp);
    }
    out
}

fn yaml_list(v: &[f64]) -> String {
    // `+ 0.0` prints −0 as 0.
    let items: Vec<String> = v.iter().map(|x| format!("{}", x + 0.0)).collect();
    format!("[{}]", items.join(", "))
}

/// A YAML block for a transform `T_a_b`, indented by `indent` spaces.
fn yaml_pose(out: &mut String, indent: usize, name: &str, t: &Isometry3<f64>) {
    let pad = " ".repeat(indent);
    let v = t.translation.vector;
    let q = t.rotation;
    let (roll, pitch, yaw) = q.euler_angles();
    let _ = writeln!(out, "{pad}{name}:");
    let _ = writeln!(out, "{pad}  translation_m: {}", yaml_list(&[v.x, v.y, v.z]));
    let _ = writeln!(out, "{pad}  quaternion_wxyz: {}", yaml_list(&[q.w, q.i, q.j, q.k]));
    let _ = writeln!(out, "{pad}  quaternion_xyzw: {}", yaml_list(&[q.i, q.j, q.k, q.w]));
    let _ = writeln!(
        out,
        "{pad}  rpy_deg: {}  # R = Rz(yaw) * Ry(pitch) * Rx(roll)",
        yaml_list(&[roll.to_degrees(), pitch.to_degrees(), yaw.to_degrees()])
    );
}

struct Dataset<'a> {
    args: &'a SimulateArgs,
    motion: &'a BodyMotionConfig,
    sensor: &'a RigidSensorConfig,
    imu: &'a ImuConfig,
    body_poses: usize,
    sensor_poses: usize,
    imu_samples: usize,
}

fn ground_truth_yaml(d: &Dataset) -> String {
    let (a, m, s, i) = (d.args, d.motion, d.sensor, d.imu);
    let mut out = String::new();
    // Writing into a String cannot fail.
    macro_rules! line {
        ($($arg:tt)*) => {{
            let _ = writeln!(out, $($arg)*);
        }};
    }
    line!("# Ground truth of a dataset written by `alignrl-calibrate simulate`.");
    line!("# T_a_b maps b coordinates into frame a. Units: m, rad, s unless the key says otherwise.");
    line!("format_version: 1");
    line!("profile: {}", m.profile);
    line!("seed: {}", a.seed);
    line!(
        "# body, sensor and IMU generators: EnvRng (Pcg64) seeded with three u64 drawn in that order \
         from Pcg64::seed_from_u64(seed)"
    );
    line!("duration_s: {}", m.duration);
    line!("body_rate_hz: {}", m.rate);
    line!("sensor_rate_hz: {}", s.rate);
    line!("imu_rate_hz: {}", i.rate);
    line!("motion:");
    line!("  rotation_amplitude_rad: {}", m.rotation_amplitude);
    line!("  translation_amplitude_m: {}", m.translation_amplitude);
    line!("  knot_interval_s: {}", m.knot_interval);
    yaml_pose(&mut out, 0, "T_body_sensor", &s.t_body_sensor);
    line!(
        "time_offset_s: {}  # sensor clock = body clock + time_offset_s: the sensor.tum pose stamped s is \
         the body pose at s - time_offset_s",
        s.time_offset
    );
    yaml_pose(&mut out, 0, "T_sensorworld_world", &s.t_sensorworld_world);
    line!("sensor_noise:");
    line!("  rotation_std_deg: {}  # per axis, per pose, right-multiplied (sensor frame)", a.rot_noise_deg);
    line!("  rotation_std_rad: {}", s.rotation_noise);
    line!(
        "  translation_std_m: {}  # per axis, per pose, added in the sensor world frame",
        s.translation_noise
    );
    line!("  rotation_drift_rad_per_sqrt_s: {}  # random walk, left-multiplied", s.rotation_drift);
    line!("  translation_drift_m_per_sqrt_s: {}", s.translation_drift);
    line!("imu:");
    yaml_pose(&mut out, 2, "T_body_imu", &i.t_body_imu);
    line!("  time_offset_s: {}  # the IMU shares the body clock", i.time_offset);
    line!("  gravity_world_m_s2: {}", yaml_list(i.gravity.as_slice()));
    line!("  gyro_noise_density_rad_s_sqrt_hz: {}", i.gyro_noise_density);
    line!("  accel_noise_density_m_s2_sqrt_hz: {}", i.accel_noise_density);
    line!("  gyro_bias_random_walk_rad_s2_sqrt_hz: {}", i.gyro_bias_random_walk);
    line!("  accel_bias_random_walk_m_s3_sqrt_hz: {}", i.accel_bias_random_walk);
    line!("  gyro_bias_initial_rad_s: {}", yaml_list(i.gyro_bias_initial.as_slice()));
    line!("  accel_bias_initial_m_s2: {}", yaml_list(i.accel_bias_initial.as_slice()));
    line!("  # white noise per sample: density * sqrt(rate); bias step per sample: walk / sqrt(rate)");
    line!("files:");
    line!("  body: body.tum  # T_world_body, body clock, {} poses", d.body_poses);
    line!("  sensor: sensor.tum  # T_sensorworld_sensor, sensor clock, {} poses", d.sensor_poses);
    line!("  imu: imu.csv  # t,gx,gy,gz,ax,ay,az in the IMU frame, {} samples", d.imu_samples);
    out
}

fn simulate(args: &SimulateArgs) -> Result<(), Failure> {
    let motion = BodyMotionConfig {
        profile: args.profile,
        duration: args.duration,
        rate: args.rate,
        rotation_amplitude: args.rot_amplitude,
        translation_amplitude: args.trans_amplitude,
        knot_interval: args.knot_interval,
    };
    let sensor = RigidSensorConfig {
        t_body_sensor: args.extrinsic,
        t_sensorworld_world: args.sensor_world,
        rate: args.sensor_rate.unwrap_or(args.rate),
        time_offset: args.time_offset,
        rotation_noise: args.rot_noise_deg.to_radians(),
        translation_noise: args.trans_noise_m,
        rotation_drift: args.rot_drift,
        translation_drift: args.trans_drift,
    };
    let imu = ImuConfig {
        t_body_imu: args.imu_extrinsic,
        rate: args.imu_rate,
        gyro_noise_density: args.gyro_noise,
        accel_noise_density: args.accel_noise,
        gyro_bias_random_walk: args.gyro_bias_walk,
        accel_bias_random_walk: args.accel_bias_walk,
        gravity: Vector3::new(0.0, 0.0, -alignrl_envs::sensors::STANDARD_GRAVITY),
        ..ImuConfig::default()
    };
    // Validate everything before touching the file system.
    motion.validate()?;
    sensor.validate()?;
    imu.validate()?;
    if args.out.exists() && !args.out.is_dir() {
        return Err(Failure::Usage(format!("--out {} exists and is not a folder", args.out.display())));
    }

    let mut master = EnvRng::seed_from_u64(args.seed);
    let (body_seed, sensor_seed, imu_seed) = (master.next_u64(), master.next_u64(), master.next_u64());
    let body = BodyTrajectory::generate(&motion, &mut EnvRng::seed_from_u64(body_seed))?;
    let body_traj: Trajectory = body.sample();
    let rec = simulate_sensor(&body, &sensor, &mut EnvRng::seed_from_u64(sensor_seed))?;
    let imu_rec = simulate_imu(&body, &imu, &mut EnvRng::seed_from_u64(imu_seed))?;

    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let dataset = Dataset {
        args,
        motion: &motion,
        sensor: &sensor,
        imu: &imu,
        body_poses: body_traj.len(),
        sensor_poses: rec.measured.len(),
        imu_samples: imu_rec.samples.len(),
    };
    let files: [(&str, String); 4] = [
        ("body.tum", to_tum_string(&body_traj)),
        ("sensor.tum", to_tum_string(&rec.measured)),
        ("imu.csv", imu_csv(&imu_rec.samples)),
        ("ground_truth.yaml", ground_truth_yaml(&dataset)),
    ];
    let mut paths = Vec::new();
    for (name, text) in &files {
        let path = args.out.join(name);
        write_atomic(&path, text.as_bytes())?;
        paths.push(path.display().to_string());
    }

    let summary = format!(
        "wrote {}: body.tum ({} poses, {} profile), sensor.tum ({} poses), imu.csv ({} samples), \
         ground_truth.yaml",
        args.out.display(),
        dataset.body_poses,
        motion.profile,
        dataset.sensor_poses,
        dataset.imu_samples
    );
    if args.json {
        eprintln!("{summary}");
        let json = serde_json::json!({
            "out": args.out.display().to_string(),
            "files": paths,
            "poses": dataset.sensor_poses,
            "body_poses": dataset.body_poses,
            "sensor_poses": dataset.sensor_poses,
            "imu_samples": dataset.imu_samples,
            "profile": motion.profile.name(),
            "seed": args.seed,
        });
        println!("{json}");
    } else {
        println!("{summary}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Calibration subcommands.

/// Trajectory file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// `t x y z qx qy qz qw` per line (seconds, metres), `#` comments.
    Tum,
    /// EuRoC CSV: nanosecond stamps, position, quaternion w x y z.
    Euroc,
    /// KITTI: 12 numbers per line (3×4 row-major); needs --kitti-times.
    Kitti,
}

/// The calibration method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Method {
    /// The L2Calib RL search (random search + bandit PPO with a Bingham policy on the pose–pose
    /// scorer), refined by Levenberg–Marquardt.
    Rl,
    /// The hand-eye baselines (Tsai–Lenz, Park–Martin, Daniilidis, AX=YB), each refined by
    /// Levenberg–Marquardt; the best by residual wins.
    Handeye,
    /// Both, the best by residual wins.
    Both,
}

/// Settings shared by `pose` and `mcap`.
#[derive(Debug, Args)]
struct CalibOptions {
    /// Result file (YAML, written atomically): the 4×4 matrix, quaternion, translation, roll-pitch-yaw,
    /// a static_transform_publisher line, per-parameter standard deviations, residuals, the
    /// excitation report, findings and warnings.
    #[arg(long, default_value = "calib.yaml", value_name = "FILE")]
    out: PathBuf,
    /// Print exactly one JSON object on stdout (human text goes to stderr). Fields:
    /// method (string), trusted (bool), unobservable (list of directions, e.g. "translation along z"),
    /// translation_m [x,y,z] (metres, T_ref_sensor), quaternion_wxyz [w,x,y,z], rpy_deg
    /// [roll,pitch,yaw], matrix (4×4 rows), std_translation_m [3] and std_rotation_deg [3] (null =
    /// unbounded), residuals {poses, rotation_rms_deg, translation_rms_m, correlation_time},
    /// time_offset_s, time_offset_std_s, time_offset_applied, windows {total, kept, fallback_all,
    /// dropped}, candidates [{name, score, error}], findings, warnings, static_transform_publisher,
    /// out (the YAML path), exit_code.
    #[arg(long)]
    json: bool,
    /// Calibration method.
    #[arg(long, value_enum, default_value = "handeye")]
    method: Method,
    /// Random seed (RL method; the hand-eye path is deterministic).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// RL: the translation search box is ±this in every axis (metres).
    #[arg(long, default_value_t = 1.0, value_parser = positive, allow_negative_numbers = true)]
    translation_range: f64,
    /// RL: PPO episodes (after an 8192-candidate random search).
    #[arg(long, default_value_t = 300)]
    rl_episodes: usize,
    /// RL: at most this many (evenly spaced) poses feed the scorer; the refinement uses all.
    #[arg(long, default_value_t = 600)]
    rl_poses: usize,
    /// Largest stamp difference when associating sensor and reference poses (seconds); the denser
    /// trajectory is interpolated at the sparser one's stamps.
    #[arg(long, default_value_t = 0.02, value_parser = non_negative, allow_negative_numbers = true)]
    max_dt: f64,
    /// Known time offset (seconds): sensor clock = reference clock + offset. Applied before
    /// association; the estimate then refines it.
    #[arg(long, default_value_t = 0.0, value_parser = finite, allow_negative_numbers = true)]
    time_offset: f64,
    /// Do not estimate the time offset.
    #[arg(long)]
    no_time_offset: bool,
    /// Search window of the time-offset estimate (± seconds).
    #[arg(long, default_value_t = 0.2, value_parser = positive, allow_negative_numbers = true)]
    max_time_offset: f64,
    /// Give each segment of this many seconds its own world alignment (absorbs sensor drift);
    /// default: one alignment for the whole recording.
    #[arg(long, value_parser = positive, allow_negative_numbers = true)]
    segment: Option<f64>,
    /// Share of the rotation noise that comes from the reference, in [0, 1]: 0 for a reference far
    /// better than the sensor (motion capture), 0.5 for two similar sensors. The refinement
    /// weights each pose by it (the reference's rotation noise moves the lever arm).
    #[arg(long, default_value_t = 0.5, value_parser = unit_interval, allow_negative_numbers = true)]
    reference_noise_share: f64,
    /// Data-selection window length (seconds).
    #[arg(long, default_value_t = 15.0, value_parser = positive, allow_negative_numbers = true)]
    window: f64,
    /// Smallest kept rotational excitation of a window, e2 in (rad/s)^4.
    #[arg(long, default_value_t = 1e-4, value_parser = non_negative, allow_negative_numbers = true)]
    min_excitation: f64,
    /// Use every pose (no data selection).
    #[arg(long)]
    no_selection: bool,
    /// Largest time gap of a hand-eye motion pair (seconds).
    #[arg(long, default_value_t = 10.0, value_parser = positive, allow_negative_numbers = true)]
    pair_max_gap: f64,
    /// Largest trusted standard deviation of the rotation (degrees).
    #[arg(long, default_value_t = 0.2, value_parser = positive, allow_negative_numbers = true)]
    max_rotation_std_deg: f64,
    /// Largest trusted standard deviation of the translation (metres).
    #[arg(long, default_value_t = 0.01, value_parser = positive, allow_negative_numbers = true)]
    max_translation_std: f64,
    /// Also write a rerun recording (.rrd, written atomically; open it with `rerun FILE`): the
    /// reference and sensor trajectories before calibration (each in its own world, as recorded)
    /// and after (the sensor trajectory mapped into the reference world through the estimated
    /// extrinsic X and world alignment Y, as Y·T_ws·X⁻¹, overlaying the reference), the moving
    /// reference frame with the sensor frame X on it, and the measured sensor frame Y·T_ws; the
    /// poses are those the calibration used (after association and data selection). Entities:
    /// world/before/{reference,sensor}, world/after/{reference,sensor}, world/rig,
    /// world/rig/sensor, world/measured_sensor; timeline `time` (seconds, reference clock).
    #[arg(long, value_name = "FILE")]
    rrd: Option<PathBuf>,
    /// Parent frame name of the static_transform_publisher line.
    #[arg(long, default_value = "reference")]
    reference_frame: String,
    /// Child frame name of the static_transform_publisher line.
    #[arg(long, default_value = "sensor")]
    sensor_frame: String,
}

/// Calibrate T_ref_sensor from a reference and a sensor pose trajectory.
///
/// The reference gives T_wr(t), the sensor T_ws(t), each in its own world; the extrinsic
/// X = T_ref_sensor satisfies T_wr(t) · X = Y · T_ws(t) for an unknown fixed Y (a point p in the
/// sensor frame is X·p in the reference frame). Steps: association in time, data selection by
/// rotational excitation, hand-eye baselines, Levenberg–Marquardt over X and Y on all kept poses,
/// per-parameter standard deviations, observability in words, time-offset estimate.
///
/// Exit codes: 0 trusted result, 3 written but too degenerate to trust (the file says why), 2 bad
/// input (file, line and field in the message), 1 I/O failure.
#[derive(Debug, Args)]
#[command(long_about)]
struct PoseArgs {
    /// Reference trajectory T_wr(t).
    #[arg(long, value_name = "FILE")]
    reference: PathBuf,
    /// Sensor trajectory T_ws(t).
    #[arg(long, value_name = "FILE")]
    sensor: PathBuf,
    /// Format of --reference (default: euroc for .csv, tum otherwise).
    #[arg(long, value_enum)]
    reference_format: Option<Format>,
    /// Format of --sensor (default: euroc for .csv, tum otherwise).
    #[arg(long, value_enum)]
    sensor_format: Option<Format>,
    /// Times file (one stamp in seconds per line) of the KITTI trajectories.
    #[arg(long, value_name = "FILE")]
    kitti_times: Option<PathBuf>,
    #[command(flatten)]
    opts: CalibOptions,
}

/// Calibrate T_ref_sensor from two pose topics of a ROS 2 MCAP recording (nav_msgs/Odometry,
/// geometry_msgs/PoseStamped or PoseWithCovarianceStamped; header stamps). Same outputs and exit
/// codes as `pose`.
#[derive(Debug, Args)]
#[command(long_about)]
struct McapArgs {
    /// The MCAP file.
    file: PathBuf,
    /// Topic of the reference poses.
    #[arg(long)]
    reference_topic: String,
    /// Topic of the sensor poses.
    #[arg(long)]
    sensor_topic: String,
    #[command(flatten)]
    opts: CalibOptions,
}

/// Calibrate T_odom_imu (rotation and lever arm) and the time offset between an odometry
/// trajectory and an IMU.
///
/// Gyroscope angular velocities are matched with the odometry's (finite differences): R_odom_imu,
/// the time offset (t_imu = t_odom + offset) and the gyro bias. Then the lever arm (the IMU origin in
/// the odometry frame, metres) by least squares over the accelerometer residuals, with the angular
/// and centripetal acceleration terms from local quadratic fits of the odometry, gravity and the
/// accelerometer bias solved in closed form; its standard deviations (model and block jackknife)
/// and the directions the motion leaves unobservable (the lever arm is seen only through rotation:
/// a rig that only yaws cannot see it along the yaw axis).
/// Exit codes as for `pose` (3 when the rotation or a lever-arm direction is not observable).
#[derive(Debug, Args)]
#[command(long_about)]
struct ImuArgs {
    /// Odometry trajectory T_world_odom(t).
    #[arg(long, value_name = "FILE")]
    odometry: PathBuf,
    /// Format of --odometry (default: euroc for .csv, tum otherwise).
    #[arg(long, value_enum)]
    odometry_format: Option<Format>,
    /// IMU samples: CSV `t,gx,gy,gz,ax,ay,az` (seconds, rad/s, m/s²), optional header line.
    #[arg(long, value_name = "FILE.csv")]
    imu: PathBuf,
    /// Result file (YAML, written atomically).
    #[arg(long, default_value = "calib.yaml", value_name = "FILE")]
    out: PathBuf,
    /// Print exactly one JSON object on stdout (fields as for `pose`; translation_m is null with
    /// --no-lever-arm), plus time_offset_s, gyro_bias_rad_s, rotation_std_deg, lever_arm_std_m,
    /// lever_arm_jackknife_std_m, gravity_m_s2, accel_bias_m_s2, accel_residual_rms_m_s2.
    #[arg(long)]
    json: bool,
    /// Search window of the time offset (± seconds).
    #[arg(long, default_value_t = 0.5, value_parser = positive, allow_negative_numbers = true)]
    max_time_offset: f64,
    /// Do not estimate the lever arm (the translation of T_odom_imu is then reported as unestimated).
    #[arg(long)]
    no_lever_arm: bool,
    /// Largest trusted standard deviation of the lever arm along any direction (metres).
    #[arg(long, default_value_t = 0.01, value_parser = positive, allow_negative_numbers = true)]
    max_translation_std: f64,
    /// Also write a rerun recording (.rrd, written atomically; open it with `rerun FILE`): the
    /// odometry trajectory with the moving odometry frame and the IMU frame T_odom_imu on it, and
    /// the gyroscope rates (rad/s, IMU frame) measured against those the odometry predicts before
    /// calibration (ω_odom(t)) and after (R_imu_odom·ω_odom(t − δ) + bias), with the residual
    /// norms. Entities: world/odometry, world/rig, world/rig/imu, gyro/measured/{x,y,z},
    /// gyro/predicted_before/{x,y,z}, gyro/predicted_after/{x,y,z}, gyro/residual_before,
    /// gyro/residual_after; timeline `time` (seconds, IMU clock).
    #[arg(long, value_name = "FILE")]
    rrd: Option<PathBuf>,
    /// Parent frame name of the static_transform_publisher line.
    #[arg(long, default_value = "odom")]
    reference_frame: String,
    /// Child frame name of the static_transform_publisher line.
    #[arg(long, default_value = "imu")]
    sensor_frame: String,
}

fn progress(steps: u64) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg} ({elapsed})") {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

fn step(pb: &ProgressBar, msg: &str) {
    pb.inc(1);
    pb.set_message(msg.to_string());
}

fn infer_format(path: &Path, given: Option<Format>) -> Format {
    given.unwrap_or_else(|| {
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
            Format::Euroc
        } else {
            Format::Tum
        }
    })
}

fn read_trajectory(
    path: &Path,
    format: Format,
    kitti_times: Option<&Path>,
    warnings: &mut Vec<String>,
) -> Result<Trajectory, Failure> {
    let report: ReadReport = match format {
        Format::Tum => read_tum(path)?,
        Format::Euroc => read_euroc(path)?,
        Format::Kitti => {
            let times = kitti_times.ok_or_else(|| {
                Failure::Usage(format!("{}: the KITTI format needs --kitti-times FILE", path.display()))
            })?;
            read_kitti(path, times)?
        }
    };
    repair_warnings(&path.display().to_string(), &report, warnings);
    if report.data.len() < 3 {
        return Err(Failure::Usage(format!(
            "{}: {} poses, at least 3 needed",
            path.display(),
            report.data.len()
        )));
    }
    Ok(report.data)
}

/// Summarises a reader's repairs: dropped duplicate stamps are worth a warning each kind; the
/// normalisation of nearly unit quaternions / rotation matrices (within 1e-3) is routine.
fn repair_warnings(source: &str, report: &ReadReport, warnings: &mut Vec<String>) {
    let dropped = report.dropped();
    if dropped > 0 {
        let first = report
            .repairs
            .iter()
            .find(|r| matches!(r.kind, alignrl_envs::sensors::RepairKind::DroppedDuplicateStamp { .. }))
            .map(|r| r.to_string())
            .unwrap_or_default();
        warnings.push(format!("{source}: {dropped} entries with repeated stamps dropped (first: {first})"));
    }
    let normalised = report.repairs.len() - dropped;
    if normalised > 0 {
        warnings.push(format!(
            "{source}: {normalised} rotations renormalised (off unit norm or orthonormality by at most 1e-3)"
        ));
    }
}

fn run_pose(args: &PoseArgs) -> Result<Outcome, Failure> {
    let mut warnings = Vec::new();
    let rf = infer_format(&args.reference, args.reference_format);
    let sf = infer_format(&args.sensor, args.sensor_format);
    let times = args.kitti_times.as_deref();
    let reference = read_trajectory(&args.reference, rf, times, &mut warnings)?;
    let sensor = read_trajectory(&args.sensor, sf, times, &mut warnings)?;
    let inputs = vec![
        ("reference".to_string(), args.reference.display().to_string()),
        ("reference_format".to_string(), format!("{rf:?}").to_lowercase()),
        ("reference_poses".to_string(), reference.len().to_string()),
        ("sensor".to_string(), args.sensor.display().to_string()),
        ("sensor_format".to_string(), format!("{sf:?}").to_lowercase()),
        ("sensor_poses".to_string(), sensor.len().to_string()),
    ];
    calibrate_and_write(&reference, &sensor, &args.opts, inputs, warnings)
}

fn run_mcap(args: &McapArgs) -> Result<Outcome, Failure> {
    let mut warnings = Vec::new();
    let mut read = |topic: &str| -> Result<Trajectory, Failure> {
        let r = read_mcap_poses(&args.file, topic)?;
        repair_warnings(&format!("{} {topic}", args.file.display()), &r, &mut warnings);
        if r.data.len() < 3 {
            return Err(Failure::Usage(format!(
                "{}: topic {topic} has {} poses, at least 3 needed",
                args.file.display(),
                r.data.len()
            )));
        }
        Ok(r.data)
    };
    let reference = read(&args.reference_topic)?;
    let sensor = read(&args.sensor_topic)?;
    let inputs = vec![
        ("mcap".to_string(), args.file.display().to_string()),
        ("reference_topic".to_string(), args.reference_topic.clone()),
        ("reference_poses".to_string(), reference.len().to_string()),
        ("sensor_topic".to_string(), args.sensor_topic.clone()),
        ("sensor_poses".to_string(), sensor.len().to_string()),
    ];
    calibrate_and_write(&reference, &sensor, &args.opts, inputs, warnings)
}

/// Associated and selected poses.
struct Prepared {
    stamps: Vec<f64>,
    a: Vec<Isometry3<f64>>,
    b: Vec<Isometry3<f64>>,
    selection: Option<selection::Selection>,
}

fn prepare(
    reference: &Trajectory,
    sensor: &Trajectory,
    opts: &CalibOptions,
    offset_s: f64,
) -> Result<Prepared, Failure> {
    let assoc = align::associate(
        reference,
        sensor,
        // t_ref ≈ t_sensor + offset with offset = −δ (sensor clock = reference clock + δ).
        &AssociateOptions { max_diff: opts.max_dt, offset: -offset_s, method: SyncMethod::Interpolation },
    )
    .map_err(|e| {
        Failure::Usage(format!(
            "cannot associate the sensor with the reference ({e}); reference stamps {:.3}..{:.3} s, sensor \
             stamps {:.3}..{:.3} s: check that both use the same clock (or pass --time-offset) and --max-dt",
            reference.stamps()[0],
            reference.stamps()[reference.len() - 1],
            sensor.stamps()[0],
            sensor.stamps()[sensor.len() - 1]
        ))
    })?;
    if assoc.len() < 10 {
        return Err(Failure::Usage(format!(
            "only {} sensor poses have a reference pose within {} s: check the clocks, --time-offset and --max-dt",
            assoc.len(),
            opts.max_dt
        )));
    }
    let stamps = assoc.reference_stamps().to_vec();
    let (a, b) = (assoc.reference().to_vec(), assoc.estimate().to_vec());
    if opts.no_selection {
        return Ok(Prepared { stamps, a, b, selection: None });
    }
    let cfg = SelectionConfig {
        window_s: opts.window,
        min_score: opts.min_excitation,
        ..SelectionConfig::default()
    };
    let sel = selection::select_windows(&stamps, &a, &cfg)
        .map_err(|e| Failure::Usage(format!("data selection: {e}")))?;
    let mask = sel.keep_mask(stamps.len());
    fn keep<T: Copy>(v: &[T], mask: &[bool]) -> Vec<T> {
        v.iter().zip(mask).filter(|(_, k)| **k).map(|(x, _)| *x).collect()
    }
    let (stamps, a, b) = (keep(&stamps, &mask), keep(&a, &mask), keep(&b, &mask));
    Ok(Prepared { stamps, a, b, selection: Some(sel) })
}

/// Hand-eye starts, each refined; returns the candidates and the best refinement.
fn solve_candidates(
    p: &Prepared,
    opts: &CalibOptions,
    cfg: &RefineConfig,
    pb: &ProgressBar,
) -> Result<(Vec<Candidate>, Refinement, String), Failure> {
    let mut starts: Vec<(String, Result<Isometry3<f64>, String>)> = Vec::new();
    if opts.method != Method::Handeye {
        pb.set_message("RL search and PPO");
        starts.push(("rl".to_string(), rl_solution(p, opts)));
    }
    if opts.method == Method::Rl {
        return refine_candidates(p, cfg, pb, starts);
    }
    let sel = PairSelection {
        strategy: PairStrategy::AllPairs { max_poses: 1000, max_gap_s: Some(opts.pair_max_gap) },
        ..PairSelection::default()
    };
    match MotionPairs::from_poses(&p.stamps, &p.a, &p.b, &sel) {
        Ok(pairs) => {
            for m in HandEyeMethod::ALL {
                starts.push((
                    m.name().to_string(),
                    handeye::solve(&pairs, m).map(|s| s.x).map_err(|e| e.to_string()),
                ));
            }
        }
        Err(e) => {
            for m in HandEyeMethod::ALL {
                starts.push((m.name().to_string(), Err(format!("motion pairs: {e}"))));
            }
        }
    }
    starts.push((
        "AX=YB".to_string(),
        handeye::solve_ax_yb(&p.a, &p.b).map(|s| s.x).map_err(|e| e.to_string()),
    ));
    if starts.iter().all(|(_, r)| r.is_err()) {
        starts.push(("identity".to_string(), Ok(Isometry3::identity())));
    }
    refine_candidates(p, cfg, pb, starts)
}

/// The L2Calib answer (mode of the best episode) on at most `--rl-poses` evenly spaced poses.
fn rl_solution(p: &Prepared, opts: &CalibOptions) -> Result<Isometry3<f64>, String> {
    use alignrl_calibration::l2calib::{PoseScorer, PoseScorerConfig, TrainerConfig, train};
    type Cpu = burn::backend::Flex;
    let stride = p.a.len().div_ceil(opts.rl_poses).max(1);
    let a: Vec<Isometry3<f64>> = p.a.iter().step_by(stride).copied().collect();
    let b: Vec<Isometry3<f64>> = p.b.iter().step_by(stride).copied().collect();
    let device = Default::default();
    let mut scorer =
        PoseScorer::<Cpu>::new(&a, &b, PoseScorerConfig::default(), &device).map_err(|e| e.to_string())?;
    let r = opts.translation_range;
    let cfg = TrainerConfig {
        translation_min: [-r; 3],
        translation_max: [r; 3],
        episodes: opts.rl_episodes,
        seed: opts.seed,
        ..TrainerConfig::default()
    };
    let out = train::<burn::backend::Autodiff<Cpu>, _>(&mut scorer, &cfg, None, &device)
        .map_err(|e| e.to_string())?;
    Ok(out.best_mode)
}

/// Refines every start; the best by residual under common noise levels wins.
fn refine_candidates(
    p: &Prepared,
    cfg: &RefineConfig,
    pb: &ProgressBar,
    starts: Vec<(String, Result<Isometry3<f64>, String>)>,
) -> Result<(Vec<Candidate>, Refinement, String), Failure> {
    step(pb, "refining");
    let mut candidates = Vec::new();
    let mut refined: Vec<(usize, Refinement)> = Vec::new();
    for (name, start) in starts {
        let mut c = Candidate {
            name,
            initial: Isometry3::identity(),
            refined: None,
            refined_rms: None,
            score: None,
            error: None,
        };
        match start {
            Err(e) => c.error = Some(e),
            Ok(x0) => {
                c.initial = x0;
                match refine::refine(&p.a, &p.b, &p.stamps, &x0, cfg) {
                    Ok(r) => {
                        c.refined = Some(r.x);
                        c.refined_rms = Some((r.residuals.rotation_rms_rad, r.residuals.translation_rms_m));
                        refined.push((candidates.len(), r));
                    }
                    Err(e) => c.error = Some(format!("refinement: {e}")),
                }
            }
        }
        candidates.push(c);
    }
    // Common noise levels: the smallest found, so that every candidate is scored alike.
    let st = refined.iter().map(|(_, r)| r.noise_translation_m).fold(f64::INFINITY, f64::min);
    let sr = refined.iter().map(|(_, r)| r.noise_rotation_rad).fold(f64::INFINITY, f64::min);
    let mut best: Option<(f64, usize)> = None;
    for (k, (i, r)) in refined.iter().enumerate() {
        let score = 3.0
            * r.residuals.poses as f64
            * ((r.residuals.translation_rms_m / st).powi(2) + (r.residuals.rotation_rms_rad / sr).powi(2));
        candidates[*i].score = Some(score);
        if best.is_none_or(|(s, _)| score < s) {
            best = Some((score, k));
        }
    }
    let Some((_, k)) = best else {
        let why: Vec<String> = candidates
            .iter()
            .map(|c| format!("{}: {}", c.name, c.error.clone().unwrap_or_default()))
            .collect();
        return Err(Failure::Usage(format!("no candidate could be refined ({})", why.join("; "))));
    };
    let (i, r) = refined.swap_remove(k);
    let name = candidates[i].name.clone();
    Ok((candidates, r, name))
}

fn calibrate_and_write(
    reference: &Trajectory,
    sensor: &Trajectory,
    opts: &CalibOptions,
    inputs: Vec<(String, String)>,
    mut warnings: Vec<String>,
) -> Result<Outcome, Failure> {
    if opts.out.is_dir() {
        return Err(Failure::Usage(format!("--out {} is a folder, expected a file", opts.out.display())));
    }
    if let Some(rrd) = &opts.rrd
        && rrd.is_dir()
    {
        return Err(Failure::Usage(format!("--rrd {} is a folder, expected a file", rrd.display())));
    }
    if opts.method != Method::Handeye && (opts.rl_episodes == 0 || opts.rl_poses < 3) {
        return Err(Failure::Usage("--rl-episodes must be positive and --rl-poses at least 3".into()));
    }
    let pb = progress(5);
    step(&pb, "associating and selecting data");
    let mut prepared = prepare(reference, sensor, opts, opts.time_offset)?;
    if prepared.a.len() < 10 {
        return Err(Failure::Usage(format!("only {} poses left after data selection", prepared.a.len())));
    }
    let cfg = RefineConfig {
        segment_s: opts.segment,
        max_rotation_std_rad: opts.max_rotation_std_deg.to_radians(),
        max_translation_std_m: opts.max_translation_std,
        reference_noise_share: opts.reference_noise_share,
        ..RefineConfig::default()
    };
    step(&pb, "hand-eye baselines");
    let (mut candidates, mut best, mut best_name) = solve_candidates(&prepared, opts, &cfg, &pb)?;

    let mut time_offset = None;
    if !opts.no_time_offset {
        step(&pb, "time offset");
        let tcfg = TimeOffsetConfig {
            max_offset_s: opts.max_time_offset,
            step_s: None,
            correlation_time: best.correlation_time,
        };
        // The sensor stamps shifted by the known offset, so that the estimate is the residual offset.
        let shifted = Trajectory::new(
            sensor.stamps().iter().map(|t| t - opts.time_offset).collect(),
            sensor.poses().to_vec(),
        )
        .map_err(|e| Failure::Usage(format!("sensor trajectory: {e}")))?;
        match refine::estimate_time_offset(
            reference,
            &shifted,
            &best.x,
            best.noise_translation_m,
            best.noise_rotation_rad,
            opts.segment,
            &tcfg,
        ) {
            Ok(mut est) => {
                est.offset_s += opts.time_offset;
                let residual = est.offset_s - opts.time_offset;
                let significant = residual.abs() > (3.0 * est.std_s).max(1e-4) && est.std_s.is_finite();
                let mut applied = false;
                if est.at_window_edge {
                    warnings.push(format!(
                        "time offset: the best offset lies on the edge of the ±{} s window; widen --max-time-offset",
                        opts.max_time_offset
                    ));
                } else if significant {
                    let p2 = prepare(reference, sensor, opts, est.offset_s)?;
                    if p2.a.len() >= 10
                        && let Ok(r) = refine::refine(&p2.a, &p2.b, &p2.stamps, &best.x, &cfg)
                    {
                        best = r;
                        prepared = p2;
                        applied = true;
                        best_name = format!("{best_name}, time offset applied");
                    }
                }
                time_offset = Some((est, applied));
            }
            Err(e) => warnings.push(format!("time offset not estimated: {e}")),
        }
    }
    step(&pb, "writing");
    if let Some(sel) = &prepared.selection {
        for w in sel.dropped() {
            warnings.push(format!(
                "dropped window {:.1}–{:.1} s: {}",
                w.start_s,
                w.end_s,
                w.reason.clone().unwrap_or_default()
            ));
        }
        if sel.fallback_all {
            warnings.push("no window passed the excitation threshold: all data was used anyway".into());
        }
    }
    if best.correlation_time > 10.0 && opts.segment.is_none() {
        warnings.push(format!(
            "the residuals are correlated over about {:.0} consecutive poses: the sensor (or the reference) probably \
             drifts; the standard deviations account for it, and --segment 10 (a world alignment per 10 s) may \
             absorb the drift",
            best.correlation_time
        ));
    }
    if !best.converged {
        warnings.push(format!("refinement stopped after {} iterations without converging", best.iterations));
    }
    for c in &mut candidates {
        if c.error.is_some() {
            warnings.push(format!("{} failed: {}", c.name, c.error.clone().unwrap_or_default()));
        }
    }
    let trusted = best.is_trusted();
    let mut extra = vec![];
    if let Some(path) = &opts.rrd {
        let bytes = write_rrd(path, &prepared, &best)?;
        eprintln!("wrote {} ({bytes} bytes)", path.display());
        extra.push(("rrd".to_string(), serde_json::json!(path.display().to_string())));
    }
    let report = CalibrationReport {
        method: format!(
            "{}+refine (start: {best_name})",
            match opts.method {
                Method::Rl => "rl",
                Method::Handeye => "handeye",
                Method::Both => "rl|handeye",
            }
        ),
        x: best.x,
        translation_estimated: true,
        std: Some(best.std),
        trusted,
        unobservable: best.observability.unobservable(),
        findings: best.observability.findings.iter().map(|f| f.message.clone()).collect(),
        warnings,
        time_offset,
        selection: prepared.selection.clone(),
        candidates,
        inputs,
        frames: (opts.reference_frame.clone(), opts.sensor_frame.clone()),
        extra,
        refinement: Some(best),
    };
    pb.finish_and_clear();
    emit(&report, &opts.out, opts.json)
}

fn viz_pose(t: &Isometry3<f64>) -> alignrl_viz::calib::Pose {
    let v = t.translation.vector;
    let q = t.rotation;
    ([v.x, v.y, v.z], [q.i, q.j, q.k, q.w])
}

/// Writes the `--rrd` recording of the poses the calibration used (see [`alignrl_viz::calib`]).
fn write_rrd(path: &Path, p: &Prepared, best: &Refinement) -> Result<usize, Failure> {
    use alignrl_viz::calib::{CalibrationScene, write_calibration_rrd};
    let reference: Vec<_> = p.a.iter().map(viz_pose).collect();
    let sensor: Vec<_> = p.b.iter().map(viz_pose).collect();
    // One world alignment per segment of the refinement, per pose.
    let y0 = best.y.first().map_or(([0.0; 3], [0.0, 0.0, 0.0, 1.0]), viz_pose);
    let mut per_pose = vec![y0; p.a.len()];
    for (range, y) in best.segments.iter().zip(&best.y) {
        for slot in per_pose.get_mut(range.clone()).unwrap_or_default() {
            *slot = viz_pose(y);
        }
    }
    // Frame axes at a tenth of the reference trajectory's extent, within [5 cm, 1 m].
    let (mut lo, mut hi) = (Vector3::repeat(f64::INFINITY), Vector3::repeat(f64::NEG_INFINITY));
    for a in &p.a {
        lo = lo.inf(&a.translation.vector);
        hi = hi.sup(&a.translation.vector);
    }
    let axis_length = (0.1 * (hi - lo).norm()).clamp(0.05, 1.0);
    let scene = CalibrationScene {
        name: "alignrl-calibrate",
        stamps: &p.stamps,
        reference: &reference,
        sensor: &sensor,
        extrinsic: viz_pose(&best.x),
        alignment: y0,
        alignment_per_pose: Some(&per_pose),
        axis_length,
        max_frames: 2000,
    };
    write_calibration_rrd(path, &scene).map_err(|e| match e {
        alignrl_viz::calib::CalibRecordError::Record(alignrl_viz::record::RecordError::Write { .. }) => {
            Failure::Io(anyhow::anyhow!("--rrd: {e}"))
        }
        other => Failure::Usage(format!("--rrd {}: {other}", path.display())),
    })
}

/// Writes the `imu --rrd` recording (see [`alignrl_viz::imu_calib`]): odometry, the IMU frame
/// `x = T_odom_imu`, and the gyroscope against the odometry's prediction before and after.
fn write_imu_rrd(
    path: &Path,
    odom: &Trajectory,
    samples: &[ImuSample],
    x: &Isometry3<f64>,
    cal: &imu_odom::ImuOdomCalibration,
) -> Result<usize, Failure> {
    use alignrl_viz::imu_calib::{ImuCalibrationScene, ImuRecordError, write_imu_calibration_rrd};
    let stamps: Vec<f64> = samples.iter().map(|s| s.stamp).collect();
    let gyro: Vec<[f64; 3]> = samples.iter().map(|s| s.gyro).collect();
    let arr = |v: Option<Vector3<f64>>| v.map(|v| [v.x, v.y, v.z]);
    let before: Vec<_> =
        imu_odom::predicted_gyro(&stamps, odom, &UnitQuaternion::identity(), &Vector3::zeros(), 0.0)
            .into_iter()
            .map(arr)
            .collect();
    let after: Vec<_> =
        imu_odom::predicted_gyro(&stamps, odom, &cal.r_imu_odom, &cal.gyro_bias, cal.time_offset_s)
            .into_iter()
            .map(arr)
            .collect();
    let poses: Vec<_> = odom.poses().iter().map(viz_pose).collect();
    let (mut lo, mut hi) = (Vector3::repeat(f64::INFINITY), Vector3::repeat(f64::NEG_INFINITY));
    for p in odom.poses() {
        lo = lo.inf(&p.translation.vector);
        hi = hi.sup(&p.translation.vector);
    }
    let scene = ImuCalibrationScene {
        name: "alignrl-calibrate imu",
        odometry_stamps: odom.stamps(),
        odometry: &poses,
        extrinsic: viz_pose(x),
        time_offset_s: cal.time_offset_s,
        imu_stamps: &stamps,
        gyro: &gyro,
        predicted_before: &before,
        predicted_after: &after,
        axis_length: (0.1 * (hi - lo).norm()).clamp(0.05, 1.0),
        max_frames: 2000,
        max_samples: 20_000,
    };
    write_imu_calibration_rrd(path, &scene).map_err(|e| match e {
        ImuRecordError::Record(alignrl_viz::record::RecordError::Write { .. }) => {
            Failure::Io(anyhow::anyhow!("--rrd: {e}"))
        }
        other => Failure::Usage(format!("--rrd {}: {other}", path.display())),
    })
}

/// Writes the YAML, prints the summary (or the JSON object) and returns the outcome.
fn emit(report: &CalibrationReport, out: &Path, json: bool) -> Result<Outcome, Failure> {
    write_atomic(out, report.to_yaml().as_bytes())?;
    let outcome = if report.trusted { Outcome::Trusted } else { Outcome::Degenerate };
    let t = report.x.translation.vector;
    let [w, x, y, z] = alignrl_calibration::se3::quat_wxyz(&report.x.rotation);
    let mut summary = format!(
        "T_ref_sensor: translation [{:.4}, {:.4}, {:.4}] m, quaternion wxyz [{w:.6}, {x:.6}, {y:.6}, {z:.6}] ({})\n",
        t.x, t.y, t.z, report.method
    );
    if let Some(s) = &report.std {
        let _ = writeln!(
            summary,
            "std: translation [{:.2}, {:.2}, {:.2}] mm, rotation [{:.3}, {:.3}, {:.3}]°",
            s[0] * 1e3,
            s[1] * 1e3,
            s[2] * 1e3,
            s[3].to_degrees(),
            s[4].to_degrees(),
            s[5].to_degrees()
        );
    }
    if report.trusted {
        summary.push_str("trusted: every direction is observable within the tolerances\n");
    } else {
        summary.push_str("NOT TRUSTED (exit code 3):\n");
        for f in &report.findings {
            let _ = writeln!(summary, "  - {f}");
        }
    }
    for w in &report.warnings {
        let _ = writeln!(summary, "warning: {w}");
    }
    let _ = writeln!(summary, "wrote {}", out.display());
    if json {
        eprint!("{summary}");
        let mut j = report.to_json();
        if let Some(o) = j.as_object_mut() {
            o.insert("out".into(), serde_json::json!(out.display().to_string()));
            o.insert("exit_code".into(), serde_json::json!(if report.trusted { 0 } else { 3 }));
        }
        println!("{j}");
    } else {
        print!("{summary}");
    }
    Ok(outcome)
}

/// Reads `t,gx,gy,gz,ax,ay,az` lines (an optional non-numeric header line first).
fn read_imu_csv(path: &Path) -> Result<Vec<ImuSample>, Failure> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
    const FIELDS: [&str; 7] = ["t", "gx", "gy", "gz", "ax", "ay", "az"];
    let mut samples: Vec<ImuSample> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if i == 0 && fields[0].parse::<f64>().is_err() {
            continue; // header
        }
        if fields.len() != 7 {
            return Err(Failure::Usage(format!(
                "{}:{}: expected 7 fields t,gx,gy,gz,ax,ay,az, found {}",
                path.display(),
                i + 1,
                fields.len()
            )));
        }
        let mut v = [0.0; 7];
        for (k, f) in fields.iter().enumerate() {
            v[k] = f.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| {
                Failure::Usage(format!(
                    "{}:{}: field {}: {f:?} is not a finite number",
                    path.display(),
                    i + 1,
                    FIELDS[k]
                ))
            })?;
        }
        if let Some(last) = samples.last().map(|s| s.stamp)
            && v[0] <= last
        {
            return Err(Failure::Usage(format!(
                "{}:{}: field t: stamp {} is not after the previous stamp {last}",
                path.display(),
                i + 1,
                v[0]
            )));
        }
        samples.push(ImuSample { stamp: v[0], gyro: [v[1], v[2], v[3]], accel: [v[4], v[5], v[6]] });
    }
    Ok(samples)
}

fn run_imu(args: &ImuArgs) -> Result<Outcome, Failure> {
    if args.out.is_dir() {
        return Err(Failure::Usage(format!("--out {} is a folder, expected a file", args.out.display())));
    }
    if let Some(rrd) = &args.rrd
        && rrd.is_dir()
    {
        return Err(Failure::Usage(format!("--rrd {} is a folder, expected a file", rrd.display())));
    }
    let mut warnings = Vec::new();
    let pb = progress(3);
    step(&pb, "reading");
    let of = infer_format(&args.odometry, args.odometry_format);
    if of == Format::Kitti {
        return Err(Failure::Usage("--odometry-format kitti is not supported for the IMU mode".into()));
    }
    let odom = read_trajectory(&args.odometry, of, None, &mut warnings)?;
    let samples = read_imu_csv(&args.imu)?;
    let stamps: Vec<f64> = samples.iter().map(|s| s.stamp).collect();
    let gyro: Vec<Vector3<f64>> = samples.iter().map(|s| Vector3::from(s.gyro)).collect();
    step(&pb, "calibrating");
    let cfg = ImuOdomConfig { max_time_offset_s: args.max_time_offset, ..ImuOdomConfig::default() };
    let cal =
        imu_odom::calibrate(&stamps, &gyro, &odom, &cfg).map_err(|e| Failure::Usage(format!("imu: {e}")))?;
    // R_imu_odom maps odometry vectors into the IMU frame; T_odom_imu has the inverse rotation.
    let r_odom_imu = cal.r_imu_odom.inverse();
    let lever = if args.no_lever_arm {
        None
    } else {
        let lcfg =
            LeverArmConfig { max_translation_std_m: args.max_translation_std, ..LeverArmConfig::default() };
        Some(
            estimate_lever_arm(&odom, &samples, &r_odom_imu, cal.time_offset_s, &lcfg)
                .map_err(|e| Failure::Usage(format!("imu lever arm: {e}")))?,
        )
    };
    step(&pb, "writing");
    let t = lever.as_ref().map_or(Vector3::zeros(), |l| l.translation_m);
    let x = Isometry3::from_parts(Translation3::from(t), r_odom_imu);
    warnings.extend(cal.warnings.iter().cloned());
    let mut unobservable = if cal.is_trusted() {
        vec![]
    } else {
        vec![format!("rotation about {}", alignrl_calibration::observability::axis_name(&cal.weakest_axis))]
    };
    let mut findings = cal.warnings.clone();
    let rs = cal.rotation_std_rad;
    let std = match &lever {
        Some(l) => {
            unobservable.extend(l.unobservable.iter().cloned());
            findings.extend(l.findings.iter().cloned());
            // Per component, the larger of the model and jackknife deviations; the rotation's
            // jackknife deviation along its worst axis for all three rotation components.
            let st = l.std_m.zip_map(&l.jackknife_std_m, f64::max);
            Some([st.x, st.y, st.z, rs, rs, rs])
        }
        None => {
            warnings.push("the translation (lever arm) was not estimated (--no-lever-arm)".into());
            None
        }
    };
    let trusted = cal.is_trusted() && lever.as_ref().is_none_or(|l| l.is_trusted());
    let b = cal.gyro_bias;
    let mut extra = vec![
        ("time_offset_s".into(), serde_json::json!(cal.time_offset_s)),
        ("gyro_bias_rad_s".into(), serde_json::json!([b.x, b.y, b.z])),
        ("rotation_std_deg".into(), serde_json::json!(cal.rotation_std_rad.to_degrees())),
        ("gyro_residual_rms_rad_s".into(), serde_json::json!(cal.residual_rms_rad_s)),
    ];
    if let Some(l) = &lever {
        let v = |v: &Vector3<f64>| serde_json::json!([v.x, v.y, v.z]);
        let finite = |x: f64| if x.is_finite() { serde_json::json!(x) } else { serde_json::Value::Null };
        extra.push((
            "lever_arm_std_m".into(),
            serde_json::json!(l.std_m.iter().map(|x| finite(*x)).collect::<Vec<_>>()),
        ));
        extra.push((
            "lever_arm_jackknife_std_m".into(),
            serde_json::json!(l.jackknife_std_m.iter().map(|x| finite(*x)).collect::<Vec<_>>()),
        ));
        extra.push(("gravity_m_s2".into(), v(&l.gravity)));
        extra.push(("accel_bias_m_s2".into(), v(&l.accel_bias)));
        extra.push(("accel_residual_rms_m_s2".into(), serde_json::json!(l.residual_rms_m_s2)));
        extra.push(("accel_residual_correlation_time".into(), serde_json::json!(l.correlation_time)));
    }
    if let Some(path) = &args.rrd {
        let bytes = write_imu_rrd(path, &odom, &samples, &x, &cal)?;
        eprintln!("wrote {} ({bytes} bytes)", path.display());
        extra.push(("rrd".to_string(), serde_json::json!(path.display().to_string())));
    }
    let report = CalibrationReport {
        method: if lever.is_some() {
            "imu-odometry (gyroscope Procrustes + cross-correlation time offset; lever arm by accelerometer \
             least squares)"
                .into()
        } else {
            "imu-odometry (gyroscope Procrustes + cross-correlation time offset)".into()
        },
        x,
        translation_estimated: lever.is_some(),
        std,
        trusted,
        unobservable,
        findings,
        warnings,
        refinement: None,
        time_offset: None,
        selection: None,
        candidates: vec![],
        inputs: vec![
            ("odometry".into(), args.odometry.display().to_string()),
            ("odometry_poses".into(), odom.len().to_string()),
            ("imu".into(), args.imu.display().to_string()),
            ("imu_samples".into(), stamps.len().to_string()),
        ],
        frames: (args.reference_frame.clone(), args.sensor_frame.clone()),
        extra,
    };
    pb.finish_and_clear();
    emit(&report, &args.out, args.json)
}
