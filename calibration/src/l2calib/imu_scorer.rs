//! The odometry–IMU scorer: how well does a candidate `X = T_odom_imu` (reference = odometry body,
//! sensor = IMU) explain the IMU's gyroscope and accelerometer readings from the odometry's motion?
//!
//! # Kinematics from the odometry (host, once)
//!
//! At each interior odometry stamp `s_j` a local quadratic is fitted by least squares to the poses
//! within `±half_window` samples: positions `p(s) ≈ p₀ + v δ + ½ a δ²` give the world
//! acceleration `a_w`, body-frame rotation increments `log(R_jᵀ R(s)) ≈ ω δ + ½ α δ²` give the body
//! angular velocity `ω` and acceleration `α` (δ = s − s_j). The IMU readings are linearly
//! interpolated to `s_j` (the clocks are assumed synchronised).
//!
//! # Model and residuals (per candidate, tensors)
//!
//! With `R_j = R_world_odom(s_j)`, `a_b = R_jᵀ a_w`, gravity `g` (odometry world frame, unknown) and
//! biases `b_g`, `b_a` (unknown, constant):
//!
//! ```text
//! gyro_j  = R_Xᵀ ω_j + b_g
//! accel_j = R_Xᵀ (a_b,j + α_j × t_X + ω_j × (ω_j × t_X) − R_jᵀ g) + b_a
//! ```
//!
//! Residuals are taken rotated by `R_X` (norm-preserving), where the unknowns enter linearly:
//! `e_g,j = R_X gyro_j − ω_j − c_g` with `c_g = R_X b_g` → `c_g` is the mean;
//! `e_a,j = z_j + R_jᵀ g − c_a`, `z_j = R_X accel_j − a_b,j − L_j t_X`, `L_j = [α_j]× + [ω_j]×²`,
//! `c_a = R_X b_a`. Least squares over `(g, c_a)` in closed form:
//!
//! ```text
//! (I − S̄ᵀS̄ + εI) g = S̄ᵀ z̄ − mean_j(R_j z_j),   c_a = z̄ + S̄ g,   S̄ = mean_j R_jᵀ
//! ```
//!
//! (the 3×3 matrix does not depend on the candidate; ε = 1e-6 keeps `g` bounded when the
//! orientation barely changes). The error is
//! `RMS‖e_g‖ / gyro_scale + RMS‖e_a‖ / accel_scale` (dimensionless).

use burn::tensor::{Tensor, TensorData, backend::Backend};
use nalgebra::{Isometry3, Matrix3, Rotation3, SMatrix, SVector, Vector3};

use alignrl_envs::sensors::{ImuSample, Trajectory};

use super::{L2CalibError, Scorer};
use crate::se3::{skew, so3_log};

/// Settings of [`OdomImuScorer`].
#[derive(Debug, Clone, PartialEq)]
pub struct OdomImuScorerConfig {
    /// Odometry samples on each side of the fitting window (≥ 2).
    pub half_window: usize,
    /// Gyro RMS that counts as error 1 (rad/s).
    pub gyro_scale: f64,
    /// Accelerometer RMS that counts as error 1 (m/s²).
    pub accel_scale: f64,
    /// At most this many candidate × sample pairs per tensor batch.
    pub max_batch_elements: usize,
}

impl Default for OdomImuScorerConfig {
    /// ±5 samples, 1 rad/s, 1 m/s², 2¹⁹ pairs per batch.
    fn default() -> Self {
        OdomImuScorerConfig { half_window: 5, gyro_scale: 1.0, accel_scale: 1.0, max_batch_elements: 1 << 19 }
    }
}

/// Kinematics of the odometry body at one stamp, with the IMU reading there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KinematicSample {
    /// Stamp (s).
    pub stamp: f64,
    /// `R_world_odom`.
    pub rotation: Matrix3<f64>,
    /// Body angular velocity (rad/s, odometry frame).
    pub omega: Vector3<f64>,
    /// Body angular acceleration (rad/s², odometry frame).
    pub alpha: Vector3<f64>,
    /// Acceleration of the odometry origin, in the odometry frame (m/s², gravity not included).
    pub accel_body: Vector3<f64>,
    /// Interpolated gyro reading (rad/s, IMU frame).
    pub gyro: Vector3<f64>,
    /// Interpolated accelerometer reading (m/s², IMU frame).
    pub accel: Vector3<f64>,
}

/// Local quadratic fits of the odometry and IMU interpolation (see the [module docs](self)).
pub fn kinematic_samples(
    odometry: &Trajectory,
    imu: &[ImuSample],
    half_window: usize,
) -> Result<Vec<KinematicSample>, L2CalibError> {
    if half_window < 2 {
        return Err(L2CalibError::InvalidConfig { field: "half_window", reason: "must be ≥ 2".into() });
    }
    if let Some(i) = (1..imu.len())
        .find(|&i| imu[i].stamp.partial_cmp(&imu[i - 1].stamp) != Some(std::cmp::Ordering::Greater))
    {
        return Err(L2CalibError::InvalidConfig {
            field: "imu",
            reason: format!("stamps must increase strictly (sample {i})"),
        });
    }
    if let Some(index) = imu
        .iter()
        .position(|s| !(s.stamp.is_finite() && s.gyro.iter().chain(&s.accel).all(|v| v.is_finite())))
    {
        return Err(L2CalibError::NonFinite { what: "imu samples", index });
    }
    let (stamps, poses) = (odometry.stamps(), odometry.poses());
    let n = stamps.len();
    let mut out = Vec::new();
    let mut cursor = 0usize;
    for j in half_window..n.saturating_sub(half_window) {
        let s0 = stamps[j];
        // IMU interpolation.
        while cursor + 1 < imu.len() && imu[cursor + 1].stamp < s0 {
            cursor += 1;
        }
        if cursor + 1 >= imu.len() || imu[cursor].stamp > s0 {
            continue;
        }
        let (a, b) = (&imu[cursor], &imu[cursor + 1]);
        let w = (s0 - a.stamp) / (b.stamp - a.stamp);
        let lerp = |x: [f64; 3], y: [f64; 3]| Vector3::from_fn(|i, _| x[i] + w * (y[i] - x[i]));
        // Quadratic fits: design [1, δ, δ²/2] for positions, [δ, δ²/2] for rotation increments.
        let r0 = poses[j].rotation;
        let mut ata3 = Matrix3::<f64>::zeros();
        let mut atp = SMatrix::<f64, 3, 3>::zeros();
        let mut ata2 = nalgebra::Matrix2::<f64>::zeros();
        let mut atr = SMatrix::<f64, 2, 3>::zeros();
        for k in j - half_window..=j + half_window {
            let d = stamps[k] - s0;
            let row3 = Vector3::new(1.0, d, 0.5 * d * d);
            ata3 += row3 * row3.transpose();
            atp += row3 * (poses[k].translation.vector - poses[j].translation.vector).transpose();
            let row2 = nalgebra::Vector2::new(d, 0.5 * d * d);
            ata2 += row2 * row2.transpose();
            atr += row2 * so3_log(&(r0.inverse() * poses[k].rotation)).transpose();
        }
        let (Some(i3), Some(i2)) = (ata3.try_inverse(), ata2.try_inverse()) else {
            continue;
        };
        let cp = i3 * atp;
        let cr = i2 * atr;
        let rot = r0.to_rotation_matrix().into_inner();
        let a_w: Vector3<f64> = cp.row(2).transpose();
        out.push(KinematicSample {
            stamp: s0,
            rotation: rot,
            omega: cr.row(0).transpose(),
            alpha: cr.row(1).transpose(),
            accel_body: rot.transpose() * a_w,
            gyro: lerp(a.gyro, b.gyro),
            accel: lerp(a.accel, b.accel),
        });
    }
    Ok(out)
}

/// Batched odometry–IMU scorer; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct OdomImuScorer<B: Backend> {
    config: OdomImuScorerConfig,
    n: usize,
    device: B::Device,
    gyro: Tensor<B, 4>,    // [1, N, 1, 3]
    omega: Tensor<B, 3>,   // [1, N, 3]
    accel: Tensor<B, 4>,   // [1, N, 1, 3]
    accel_b: Tensor<B, 3>, // [1, N, 3]
    lmat: Tensor<B, 4>,    // [1, N, 3, 3]
    rot: Tensor<B, 4>,     // R_j [1, N, 3, 3]
    rot_t: Tensor<B, 4>,   // R_jᵀ [1, N, 3, 3]
    s_bar: Tensor<B, 4>,   // S̄ [1, 1, 3, 3]
    s_bar_t: Tensor<B, 4>, // S̄ᵀ
    p: Tensor<B, 4>,       // (I − S̄ᵀS̄ + εI)⁻¹
}

/// Tikhonov term of the gravity solve.
const GRAVITY_EPS: f64 = 1e-6;

fn mat_rows(m: &Matrix3<f64>, out: &mut Vec<f64>) {
    for a in 0..3 {
        for b in 0..3 {
            out.push(m[(a, b)]);
        }
    }
}

/// `m v` for broadcastable `m` `[A, B, 3, 3]` and `v` `[C, D, 3]`, result `[max(A,C), max(B,D), 3]`.
fn mv<B: Backend>(m: Tensor<B, 4>, v: Tensor<B, 3>) -> Tensor<B, 3> {
    let [c, d, _] = v.dims();
    let prod = m * v.reshape([c, d, 1, 3]);
    let [k, n, _, _] = prod.dims();
    prod.sum_dim(3).reshape([k, n, 3])
}

impl<B: Backend> OdomImuScorer<B> {
    /// A scorer from an odometry trajectory (`T_world_odom`) and IMU readings (IMU frame, same
    /// clock). Needs at least 10 usable samples.
    pub fn new(
        odometry: &Trajectory,
        imu: &[ImuSample],
        config: OdomImuScorerConfig,
        device: &B::Device,
    ) -> Result<Self, L2CalibError> {
        for (field, v) in [("gyro_scale", config.gyro_scale), ("accel_scale", config.accel_scale)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(L2CalibError::InvalidConfig {
                    field,
                    reason: format!("must be positive, got {v}"),
                });
            }
        }
        if config.max_batch_elements == 0 {
            return Err(L2CalibError::InvalidConfig {
                field: "max_batch_elements",
                reason: "must be positive".into(),
            });
        }
        let samples = kinematic_samples(odometry, imu, config.half_window)?;
        Self::from_samples(&samples, config, device)
    }

    /// A scorer from precomputed [`KinematicSample`]s.
    pub fn from_samples(
        samples: &[KinematicSample],
        config: OdomImuScorerConfig,
        device: &B::Device,
    ) -> Result<Self, L2CalibError> {
        let n = samples.len();
        if n < 10 {
            return Err(L2CalibError::TooFew {
                what: "odometry samples with IMU coverage",
                needed: 10,
                got: n,
            });
        }
        let vecs = |f: &dyn Fn(&KinematicSample) -> Vector3<f64>| -> Vec<f64> {
            samples.iter().flat_map(|s| f(s).iter().copied().collect::<Vec<_>>()).collect()
        };
        let mats = |f: &dyn Fn(&KinematicSample) -> Matrix3<f64>| -> Vec<f64> {
            let mut v = Vec::with_capacity(9 * n);
            for s in samples {
                mat_rows(&f(s), &mut v);
            }
            v
        };
        let t3 = |v: Vec<f64>| Tensor::<B, 3>::from_data(TensorData::new(v, [1, n, 3]), device);
        let t4v = |v: Vec<f64>| Tensor::<B, 4>::from_data(TensorData::new(v, [1, n, 1, 3]), device);
        let t4m = |v: Vec<f64>| Tensor::<B, 4>::from_data(TensorData::new(v, [1, n, 3, 3]), device);
        let s_bar = samples.iter().fold(Matrix3::zeros(), |a, s| a + s.rotation.transpose()) / n as f64;
        let p = (Matrix3::identity() * (1.0 + GRAVITY_EPS) - s_bar.transpose() * s_bar)
            .try_inverse()
            .ok_or(L2CalibError::NonFinite { what: "gravity normal equations", index: 0 })?;
        let small = |m: &Matrix3<f64>| {
            let mut v = Vec::with_capacity(9);
            mat_rows(m, &mut v);
            Tensor::<B, 4>::from_data(TensorData::new(v, [1, 1, 3, 3]), device)
        };
        Ok(OdomImuScorer {
            n,
            device: device.clone(),
            gyro: t4v(vecs(&|s| s.gyro)),
            omega: t3(vecs(&|s| s.omega)),
            accel: t4v(vecs(&|s| s.accel)),
            accel_b: t3(vecs(&|s| s.accel_body)),
            lmat: t4m(mats(&|s| skew(&s.alpha) + skew(&s.omega) * skew(&s.omega))),
            rot: t4m(mats(&|s| s.rotation)),
            rot_t: t4m(mats(&|s| s.rotation.transpose())),
            s_bar: small(&s_bar),
            s_bar_t: small(&s_bar.transpose()),
            p: small(&p),
            config,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether there are no samples (never true for a built scorer).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    fn score_chunk(&self, xs: &[Isometry3<f64>], out: &mut [f64]) {
        let (k, n) = (xs.len(), self.n);
        let mut rx = Vec::with_capacity(9 * k);
        let mut tx = Vec::with_capacity(3 * k);
        for x in xs {
            mat_rows(x.rotation.to_rotation_matrix().matrix(), &mut rx);
            tx.extend(x.translation.vector.iter().copied());
        }
        let rx = Tensor::<B, 4>::from_data(TensorData::new(rx, [k, 1, 3, 3]), &self.device);
        let tx = Tensor::<B, 3>::from_data(TensorData::new(tx, [k, 1, 3]), &self.device);

        // Gyro: R_X gyro − ω, minus its mean.
        let eg = (rx.clone() * self.gyro.clone()).sum_dim(3).reshape([k, n, 3]) - self.omega.clone();
        let eg = eg.clone() - eg.mean_dim(1);
        let g_ms = eg.square().sum_dim(2).mean_dim(1).reshape([k]);

        // Accel: z = R_X accel − a_b − L t_X.
        let z = (rx * self.accel.clone()).sum_dim(3).reshape([k, n, 3])
            - self.accel_b.clone()
            - mv(self.lmat.clone(), tx);
        let z_bar = z.clone().mean_dim(1); // [K, 1, 3]
        let rz = mv(self.rot.clone(), z.clone()).mean_dim(1); // mean R_j z_j
        let g = mv(self.p.clone(), mv(self.s_bar_t.clone(), z_bar.clone()) - rz); // [K, 1, 3]
        let c = z_bar + mv(self.s_bar.clone(), g.clone());
        let ea = z + mv(self.rot_t.clone(), g) - c;
        let a_ms = ea.square().sum_dim(2).mean_dim(1).reshape([k]);
        let err =
            g_ms.sqrt().div_scalar(self.config.gyro_scale) + a_ms.sqrt().div_scalar(self.config.accel_scale);
        for (o, e) in out.iter_mut().zip(err.into_data().iter::<f64>()) {
            *o = e;
        }
    }
}

impl<B: Backend> Scorer for OdomImuScorer<B> {
    fn errors(&mut self, candidates: &[Isometry3<f64>], errors: &mut [f64]) {
        assert_eq!(candidates.len(), errors.len(), "one error slot per candidate");
        let chunk = (self.config.max_batch_elements / self.n).max(1);
        for (xs, out) in candidates.chunks(chunk).zip(errors.chunks_mut(chunk)) {
            self.score_chunk(xs, out);
        }
    }
}

/// Plain f64 reference of [`OdomImuScorer`]'s error for one candidate: the biases and gravity from
/// a generic 9-unknown linear least-squares solve in the IMU frame (not the closed form above).
pub fn odom_imu_error_f64(
    samples: &[KinematicSample],
    x: &Isometry3<f64>,
    config: &OdomImuScorerConfig,
) -> f64 {
    let n = samples.len() as f64;
    let rx: Rotation3<f64> = x.rotation.to_rotation_matrix();
    let rxt = rx.matrix().transpose();
    let t = x.translation.vector;
    // Gyro: b_g = mean(gyro − R_Xᵀ ω).
    let bg = samples.iter().fold(Vector3::zeros(), |a, s| a + s.gyro - rxt * s.omega) / n;
    let g_ms = samples.iter().map(|s| (s.gyro - rxt * s.omega - bg).norm_squared()).sum::<f64>() / n;
    // Accel: unknowns (b_a, g) with accel = R_Xᵀ(k − R_jᵀ g) + b_a, weighted by a tiny ridge on g.
    let mut ata = SMatrix::<f64, 6, 6>::zeros();
    let mut atb = SVector::<f64, 6>::zeros();
    let rows: Vec<(SMatrix<f64, 3, 6>, Vector3<f64>)> = samples
        .iter()
        .map(|s| {
            let k = s.accel_body + s.alpha.cross(&t) + s.omega.cross(&s.omega.cross(&t));
            let y = s.accel - rxt * k;
            let mut j = SMatrix::<f64, 3, 6>::zeros();
            j.fixed_view_mut::<3, 3>(0, 0).copy_from(&Matrix3::identity());
            j.fixed_view_mut::<3, 3>(0, 3).copy_from(&(-rxt * s.rotation.transpose()));
            (j, y)
        })
        .collect();
    for (j, y) in &rows {
        ata += j.transpose() * j;
        atb += j.transpose() * y;
    }
    for i in 3..6 {
        ata[(i, i)] += GRAVITY_EPS * n;
    }
    let sol = ata.lu().solve(&atb).expect("regularised normal equations");
    let a_ms = rows.iter().map(|(j, y)| (y - j * sol).norm_squared()).sum::<f64>() / n;
    g_ms.sqrt() / config.gyro_scale + a_ms.sqrt() / config.accel_scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use alignrl_envs::env::EnvRng;
    use alignrl_envs::sensors::{BodyMotionConfig, BodyTrajectory, ImuConfig, simulate_imu};
    use burn::backend::Flex;
    use nalgebra::{Translation3, UnitQuaternion};
    use rand::SeedableRng;

    fn setup(noise: bool) -> (Trajectory, Vec<ImuSample>, Isometry3<f64>) {
        let mut rng = EnvRng::seed_from_u64(11);
        let body =
            BodyTrajectory::generate(&BodyMotionConfig { duration: 12.0, ..Default::default() }, &mut rng)
                .unwrap();
        let x = Isometry3::from_parts(
            Translation3::new(0.3, -0.2, 0.15),
            UnitQuaternion::from_euler_angles(0.4, -1.1, 2.0),
        );
        let base = if noise { ImuConfig::euroc_like() } else { ImuConfig::default() };
        let cfg = ImuConfig {
            t_body_imu: x,
            gyro_bias_initial: Vector3::new(0.01, -0.02, 0.005),
            accel_bias_initial: Vector3::new(0.1, 0.05, -0.08),
            ..base
        };
        let imu = simulate_imu(&body, &cfg, &mut rng).unwrap();
        (body.sample(), imu.samples, x)
    }

    #[test]
    fn batch_matches_f64_reference_and_truth_wins() {
        let (odo, imu, x) = setup(true);
        let config = OdomImuScorerConfig { max_batch_elements: 3000, ..Default::default() };
        let samples = kinematic_samples(&odo, &imu, config.half_window).unwrap();
        let mut scorer =
            OdomImuScorer::<Flex>::from_samples(&samples, config.clone(), &Default::default()).unwrap();
        let mut cands = vec![x];
        for (i, deg) in [1.0f64, 5.0, 30.0, 120.0].into_iter().enumerate() {
            let axis = nalgebra::Unit::new_normalize(Vector3::new(1.0, i as f64, -0.5));
            cands.push(Isometry3::from_parts(
                x.translation,
                x.rotation * UnitQuaternion::from_axis_angle(&axis, deg.to_radians()),
            ));
        }
        for d in [0.05, 0.2] {
            cands.push(Isometry3::from_parts(
                Translation3::from(x.translation.vector + Vector3::new(d, -d, d)),
                x.rotation,
            ));
        }
        let mut got = vec![0.0; cands.len()];
        scorer.errors(&cands, &mut got);
        for (c, g) in cands.iter().zip(&got) {
            let want = odom_imu_error_f64(&samples, c, &config);
            assert!((g - want).abs() < 2e-3 * want.max(0.1), "{g} vs {want}");
        }
        assert!(got[1..].iter().all(|e| *e > got[0]), "{got:?}");
        // The lever arm is visible: 5 cm off costs more than the truth's residual.
        assert!(got[5] > got[0] * 1.2, "{got:?}");
    }

    #[test]
    fn noise_free_truth_has_small_error() {
        let (odo, imu, x) = setup(false);
        let mut scorer =
            OdomImuScorer::<Flex>::new(&odo, &imu, OdomImuScorerConfig::default(), &Default::default())
                .unwrap();
        let mut e = [0.0];
        scorer.errors(&[x], &mut e);
        // Only the quadratic-fit error of the 100 Hz odometry remains.
        assert!(e[0] < 0.05, "{}", e[0]);
    }
}
