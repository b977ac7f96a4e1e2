//! `alignrl-calibrate`: extrinsic calibration from recorded trajectories.
//!
//! Subcommands:
//! - `simulate`: writes a synthetic dataset with known ground truth (body trajectory, a rigidly
//!   mounted pose sensor, an IMU) using [`alignrl_envs::sensors`]'s simulated rigs.
//!
//! Exit codes: 0 success, 1 I/O failure, 2 bad arguments (never a panic).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use alignrl_envs::EnvRng;
use alignrl_envs::sensors::{
    BodyMotionConfig, BodyTrajectory, ExcitationProfile, ImuConfig, ImuSample, RigidSensorConfig, SimError,
    Trajectory, simulate_imu, simulate_sensor, to_tum_string,
};
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
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
    /// Excitation profile: full (6-DoF), planar (x-y translation + yaw; z, roll, pitch exactly 0),
    /// yaw-only (rotation about z in place, no translation), straight-line (one direction, no rotation).
    #[arg(long, default_value = "full", value_parser = parse_profile)]
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
    /// Bad arguments (exit 2).
    Usage(String),
    /// I/O (exit 1).
    Io(anyhow::Error),
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
        Command::Simulate(args) => simulate(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
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
