//! IMU–odometry rotation and time offset from angular velocities.
//!
//! # Conventions
//!
//! - Gyroscope samples `ω_imu(t)` are in rad/s, in the IMU frame, stamped `t` on the IMU clock.
//! - The odometry is a pose trajectory `T_world_odom` ([`Trajectory`]) on the odometry clock.
//! - The rotation sought is `R_imu_odom`: it maps vectors in the odometry frame into the IMU
//!   frame, so `ω_imu = R_imu_odom · ω_odom + b_gyro` (both angular velocities in their own
//!   body frame). With the extrinsic `T_odom_imu`, `R_imu_odom = R_odom_imuᵀ`.
//! - **Time offset** `δ` (seconds): one physical instant is stamped `t_odom` by the odometry and
//!   `t_imu = t_odom + δ` by the IMU. So `ω_imu(t) = R ω_odom(t − δ) + b`: a positive `δ`
//!   means the IMU stamps are late relative to the odometry (equivalently, add `δ` to the
//!   odometry stamps to put them on the IMU clock).
//!
//! # Method
//!
//! 1. Odometry angular velocity by finite differences of the poses: for consecutive poses,
//!    `ω = log(R_kᵀ R_{k+1}) / (t_{k+1} − t_k)`, stamped at the midpoint (exact for a constant
//!    angular velocity between the poses, second-order accurate in general), then linearly
//!    interpolated where needed.
//! 2. Time offset: normalised cross-correlation of the angular-speed norms `‖ω‖` (invariant to
//!    the unknown rotation and nearly to the bias), both resampled on a uniform grid (default
//!    step: the median IMU period), over lags `|δ| ≤ max_time_offset_s`; the peak is refined
//!    with a parabola through the three samples around it; optionally (default) it is then
//!    refined by minimising the RMS of the full vector residual of step 3 over `δ` (golden
//!    section within ±1 grid step).
//! 3. Rotation: orthogonal Procrustes on the pairs `(ω_imu(t_i), ω_odom(t_i − δ))` at the IMU
//!    stamps; with a bias, both sets are centred first and `b = mean(ω_imu) − R mean(ω_odom)`.
//!
//! The result carries warnings (never a silently wrong rotation):
//!
//! - excitation: the axis the angular velocity leaves least (e.g. the yaw axis of a rover that
//!   only yaws); the RMS angular speed off it must exceed 3× the per-component residual noise,
//!   otherwise the rotation about it is not observable;
//! - uncertainty: the standard deviation of the rotation by a delete-one-block jackknife (10
//!   contiguous blocks), model-free because the finite-difference noise of the odometry is
//!   correlated between samples; above 0.2° it is flagged;
//! - time offset: a weak correlation peak (< 0.5) or a peak on the edge of the search window.

use alignrl_envs::sensors::Trajectory;
use nalgebra::{Matrix3, UnitQuaternion, Vector3};

use crate::handeye::procrustes;
use crate::se3::so3_log;

/// Why the IMU–odometry calibration cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImuOdomError {
    /// Gyro stamps and samples differ in length.
    #[error("{stamps} gyro stamps but {samples} samples")]
    LengthMismatch {
        /// Stamps.
        stamps: usize,
        /// Samples.
        samples: usize,
    },
    /// Gyro stamps are not strictly increasing or not finite.
    #[error("gyro stamps must be finite and strictly increasing (sample {0})")]
    BadStamps(usize),
    /// Not enough data.
    #[error("not enough data: {0}")]
    TooShort(&'static str),
    /// A parameter is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
}

/// Options of [`calibrate`].
#[derive(Debug, Clone, PartialEq)]
pub struct ImuOdomConfig {
    /// Estimate a constant gyro bias (default true).
    pub estimate_bias: bool,
    /// Search window of the time offset, `|δ| ≤` this (seconds; default 0.5).
    pub max_time_offset_s: f64,
    /// Grid step of the cross-correlation (seconds); `None`: the median IMU period.
    pub grid_dt_s: Option<f64>,
    /// Refine the offset on the full vector residual after the correlation peak (default true).
    pub refine_time_offset: bool,
    /// Largest trusted predicted rotation deviation (radians; default 0.2°).
    pub max_rotation_std_rad: f64,
    /// Floor of the per-component angular-velocity residual (rad/s; default 1e-3).
    pub min_noise_rad_s: f64,
    /// Smallest trusted correlation peak (default 0.5).
    pub min_correlation: f64,
    /// The RMS angular speed off the least excited axis must reach this multiple of the
    /// residual noise (default 3).
    pub min_excitation_snr: f64,
}

impl Default for ImuOdomConfig {
    fn default() -> Self {
        ImuOdomConfig {
            estimate_bias: true,
            max_time_offset_s: 0.5,
            grid_dt_s: None,
            refine_time_offset: true,
            max_rotation_std_rad: 0.2f64.to_radians(),
            min_noise_rad_s: 1e-3,
            min_correlation: 0.5,
            min_excitation_snr: 3.0,
        }
    }
}

/// Time offset from the cross-correlation of angular-speed norms.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeOffset {
    /// `δ = t_imu − t_odom` (seconds) after the parabolic refinement.
    pub offset_s: f64,
    /// Normalised cross-correlation at the integer-lag peak (in [-1, 1]).
    pub peak_correlation: f64,
    /// Grid step used (seconds).
    pub grid_dt_s: f64,
    /// Whether the peak lies on the edge of the search window (the true offset may be outside).
    pub at_window_edge: bool,
}

/// Result of [`calibrate`].
#[derive(Debug, Clone, PartialEq)]
pub struct ImuOdomCalibration {
    /// `R_imu_odom` (odometry-frame vectors into the IMU frame).
    pub r_imu_odom: UnitQuaternion<f64>,
    /// `δ = t_imu − t_odom` (seconds).
    pub time_offset_s: f64,
    /// Offset from the correlation stage alone (before the vector refinement).
    pub correlation: TimeOffset,
    /// Gyro bias (rad/s, IMU frame); zero when not estimated.
    pub gyro_bias: Vector3<f64>,
    /// RMS norm of `ω_imu − R ω_odom − b` (rad/s).
    pub residual_rms_rad_s: f64,
    /// Number of gyro samples used.
    pub samples: usize,
    /// Standard deviation of the rotation along its worst axis (radians), by a delete-one-block
    /// jackknife over 10 contiguous time blocks (model-free: the finite-difference noise of the
    /// odometry is correlated from sample to sample, so a white-noise formula would mislead).
    pub rotation_std_rad: f64,
    /// The axis (IMU frame) the angular velocity excites least.
    pub weakest_axis: Vector3<f64>,
    /// RMS angular speed off `weakest_axis` (rad/s); compared with `noise_rad_s`.
    pub excitation_rms_rad_s: f64,
    /// Per-component residual noise (rad/s), floored at the config's `min_noise_rad_s`.
    pub noise_rad_s: f64,
    /// Problems found, in words; empty when the estimate is trusted.
    pub warnings: Vec<String>,
}

impl ImuOdomCalibration {
    /// Whether no warning was raised.
    pub fn is_trusted(&self) -> bool {
        self.warnings.is_empty()
    }
}

/// Body-frame angular velocity of a pose trajectory by finite differences: returns the
/// midpoint stamps and `log(R_kᵀ R_{k+1}) / Δt` (rad/s, frame of the trajectory's body).
pub fn angular_velocity(traj: &Trajectory) -> (Vec<f64>, Vec<Vector3<f64>>) {
    let (s, p) = (traj.stamps(), traj.poses());
    s.windows(2)
        .zip(p.windows(2))
        .map(|(t, q)| {
            let dt = t[1] - t[0];
            (0.5 * (t[0] + t[1]), so3_log(&(q[0].rotation.inverse() * q[1].rotation)) / dt)
        })
        .unzip()
}

/// The gyroscope rates the odometry predicts at `imu_stamps` (seconds, IMU clock):
/// `R_imu_odom · ω_odom(t − δ) + b` (rad/s, IMU frame), with `ω_odom` from [`angular_velocity`]
/// interpolated linearly; `None` where `t − δ` is outside the odometry's angular-velocity stamps.
/// With the identity rotation, a zero bias and `δ = 0` it is the uncalibrated prediction.
pub fn predicted_gyro(
    imu_stamps: &[f64],
    odom: &Trajectory,
    r_imu_odom: &UnitQuaternion<f64>,
    bias: &Vector3<f64>,
    time_offset_s: f64,
) -> Vec<Option<Vector3<f64>>> {
    let (ot, ow) = angular_velocity(odom);
    let series = Series { t: &ot, v: &ow };
    imu_stamps.iter().map(|t| series.at(t - time_offset_s).map(|w| r_imu_odom * w + bias)).collect()
}

/// Piecewise-linear interpolation of a series with strictly increasing stamps; `None` outside.
#[derive(Debug, Clone, Copy)]
struct Series<'a, T> {
    t: &'a [f64],
    v: &'a [T],
}

impl<T> Series<'_, T>
where
    T: Copy + std::ops::Mul<f64, Output = T> + std::ops::Add<Output = T>,
{
    fn at(&self, t: f64) -> Option<T> {
        let n = self.t.len();
        if n == 0 || !(t >= self.t[0] && t <= self.t[n - 1]) {
            return None;
        }
        let k = self.t.partition_point(|&s| s <= t);
        if k >= n {
            return Some(self.v[n - 1]);
        }
        let (t0, t1) = (self.t[k - 1], self.t[k]);
        let w = (t - t0) / (t1 - t0);
        Some(self.v[k - 1] * (1.0 - w) + self.v[k] * w)
    }
}

fn check_gyro(stamps: &[f64], gyro: &[Vector3<f64>]) -> Result<(), ImuOdomError> {
    if stamps.len() != gyro.len() {
        return Err(ImuOdomError::LengthMismatch { stamps: stamps.len(), samples: gyro.len() });
    }
    for (i, t) in stamps.iter().enumerate() {
        if !t.is_finite() || (i > 0 && *t <= stamps[i - 1]) || !gyro[i].iter().all(|v| v.is_finite()) {
            return Err(ImuOdomError::BadStamps(i));
        }
    }
    if stamps.len() < 10 {
        return Err(ImuOdomError::TooShort("fewer than 10 gyro samples"));
    }
    Ok(())
}

fn median_period(stamps: &[f64]) -> f64 {
    let mut d: Vec<f64> = stamps.windows(2).map(|w| w[1] - w[0]).collect();
    d.sort_by(f64::total_cmp);
    d[d.len() / 2]
}

/// Time offset `δ = t_imu − t_odom` by normalised cross-correlation of angular-speed norms,
/// refined to sub-sample precision with a parabola through the peak and its neighbours.
pub fn estimate_time_offset(
    imu_stamps: &[f64],
    gyro: &[Vector3<f64>],
    odom: &Trajectory,
    config: &ImuOdomConfig,
) -> Result<TimeOffset, ImuOdomError> {
    check_gyro(imu_stamps, gyro)?;
    if odom.len() < 3 {
        return Err(ImuOdomError::TooShort("fewer than 3 odometry poses"));
    }
    let h = config.grid_dt_s.unwrap_or_else(|| median_period(imu_stamps));
    if !(h > 0.0 && config.max_time_offset_s >= 0.0) {
        return Err(ImuOdomError::InvalidConfig("grid step must be > 0 and the window >= 0"));
    }
    let (ot, ow) = angular_velocity(odom);
    let on: Vec<f64> = ow.iter().map(|w| w.norm()).collect();
    let inorm: Vec<f64> = gyro.iter().map(|w| w.norm()).collect();
    let fser = Series { t: imu_stamps, v: &inorm };
    let gser = Series { t: &ot, v: &on };
    let lags = (config.max_time_offset_s / h).ceil() as i64;
    let t0 = imu_stamps[0];
    let k_len = ((imu_stamps[imu_stamps.len() - 1] - t0) / h).floor() as i64 + 1;
    let f: Vec<Option<f64>> = (0..k_len).map(|k| fser.at(t0 + k as f64 * h)).collect();
    // g_ext[j] = |ω_odom|(t0 + (j − lags) h), so |ω_odom|(t_k − m h) = g_ext[k − m + lags].
    let g_ext: Vec<Option<f64>> =
        (0..k_len + 2 * lags).map(|j| gser.at(t0 + (j - lags) as f64 * h)).collect();
    let ncc = |m: i64| -> Option<f64> {
        let (mut n, mut sf, mut sg, mut sff, mut sgg, mut sfg) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        for (k, fk) in f.iter().enumerate() {
            let (Some(fv), Some(gv)) = (fk, g_ext[(k as i64 - m + lags) as usize]) else { continue };
            n += 1.0;
            sf += fv;
            sg += gv;
            sff += fv * fv;
            sgg += gv * gv;
            sfg += fv * gv;
        }
        if n < 10.0 {
            return None;
        }
        let cov = sfg - sf * sg / n;
        let vf = sff - sf * sf / n;
        let vg = sgg - sg * sg / n;
        (vf > 0.0 && vg > 0.0).then(|| cov / (vf * vg).sqrt())
    };
    let values: Vec<Option<f64>> = (-lags..=lags).map(ncc).collect();
    let (best, peak) = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i, v)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .ok_or(ImuOdomError::TooShort("the IMU and odometry do not overlap in time"))?;
    let mut frac = 0.0;
    let at_edge = best == 0 || best + 1 == values.len();
    if !at_edge && let (Some(ym), Some(yp)) = (values[best - 1], values[best + 1]) {
        let denom = ym - 2.0 * peak + yp;
        if denom < 0.0 {
            frac = (0.5 * (ym - yp) / denom).clamp(-0.5, 0.5);
        }
    }
    let m = best as f64 - lags as f64 + frac;
    Ok(TimeOffset { offset_s: m * h, peak_correlation: peak, grid_dt_s: h, at_window_edge: at_edge })
}

/// Orthogonal Procrustes on angular velocities: `R` and `b` minimising
/// `Σ ‖ω_imu,i − R ω_odom,i − b‖²` (`b = 0` when `estimate_bias` is false). Returns
/// `(R_imu_odom, b)`.
pub fn solve_rotation(
    imu: &[Vector3<f64>],
    odom: &[Vector3<f64>],
    estimate_bias: bool,
) -> (UnitQuaternion<f64>, Vector3<f64>) {
    let n = imu.len().min(odom.len()).max(1) as f64;
    let (mi, mo) = if estimate_bias {
        (imu.iter().sum::<Vector3<f64>>() / n, odom.iter().sum::<Vector3<f64>>() / n)
    } else {
        (Vector3::zeros(), Vector3::zeros())
    };
    let h: Matrix3<f64> = imu.iter().zip(odom).map(|(a, b)| (a - mi) * (b - mo).transpose()).sum();
    let r = UnitQuaternion::from_rotation_matrix(&procrustes(&h));
    let bias = if estimate_bias { mi - r * mo } else { Vector3::zeros() };
    (r, bias)
}

/// Paired samples `(ω_imu(t_i), ω_odom(t_i − δ))` at the IMU stamps where the odometry exists.
fn paired(
    imu_stamps: &[f64],
    gyro: &[Vector3<f64>],
    odom: &Series<'_, Vector3<f64>>,
    offset: f64,
) -> (Vec<Vector3<f64>>, Vec<Vector3<f64>>) {
    imu_stamps.iter().zip(gyro).filter_map(|(t, w)| odom.at(t - offset).map(|o| (*w, o))).unzip()
}

fn residual_rms(
    imu: &[Vector3<f64>],
    odom: &[Vector3<f64>],
    r: &UnitQuaternion<f64>,
    b: &Vector3<f64>,
) -> f64 {
    let n = imu.len().max(1) as f64;
    (imu.iter().zip(odom).map(|(a, o)| (a - r * o - b).norm_squared()).sum::<f64>() / n).sqrt()
}

/// Number of contiguous blocks of the jackknife.
const JACKKNIFE_BLOCKS: usize = 10;

/// Delete-one-block jackknife standard deviation (radians, worst axis) of the Procrustes
/// rotation: the rotation is re-estimated without each of `blocks` contiguous blocks, and
/// `(B − 1)/B Σ (θ_b − θ̄)(θ_b − θ̄)ᵀ` (θ_b: deviation from the full estimate in the tangent space)
/// gives the covariance.
fn jackknife_rotation_std(
    imu: &[Vector3<f64>],
    odom: &[Vector3<f64>],
    full: &UnitQuaternion<f64>,
    estimate_bias: bool,
    blocks: usize,
) -> f64 {
    let n = imu.len();
    if n < 2 * blocks {
        return f64::INFINITY;
    }
    // Sufficient statistics per block: count, Σa, Σo, Σ a oᵀ.
    let mut stats = vec![(0.0, Vector3::zeros(), Vector3::zeros(), Matrix3::zeros()); blocks];
    for (i, (a, o)) in imu.iter().zip(odom).enumerate() {
        let s = &mut stats[i * blocks / n];
        s.0 += 1.0;
        s.1 += a;
        s.2 += o;
        s.3 += a * o.transpose();
    }
    let total = stats.iter().fold((0.0, Vector3::zeros(), Vector3::zeros(), Matrix3::zeros()), |t, s| {
        (t.0 + s.0, t.1 + s.1, t.2 + s.2, t.3 + s.3)
    });
    let thetas: Vec<Vector3<f64>> = stats
        .iter()
        .map(|s| {
            let (c, sa, so, sao) = (total.0 - s.0, total.1 - s.1, total.2 - s.2, total.3 - s.3);
            let h = if estimate_bias { sao - sa * so.transpose() / c } else { sao };
            let r = UnitQuaternion::from_rotation_matrix(&procrustes(&h));
            so3_log(&(full.inverse() * r))
        })
        .collect();
    let b = blocks as f64;
    let mean = thetas.iter().sum::<Vector3<f64>>() / b;
    let cov: Matrix3<f64> =
        thetas.iter().map(|t| (t - mean) * (t - mean).transpose()).sum::<Matrix3<f64>>() * ((b - 1.0) / b);
    cov.symmetric_eigenvalues().max().max(0.0).sqrt()
}

/// Estimates the time offset, `R_imu_odom` and (optionally) the gyro bias.
pub fn calibrate(
    imu_stamps: &[f64],
    gyro: &[Vector3<f64>],
    odom: &Trajectory,
    config: &ImuOdomConfig,
) -> Result<ImuOdomCalibration, ImuOdomError> {
    let correlation = estimate_time_offset(imu_stamps, gyro, odom, config)?;
    let (ot, ow) = angular_velocity(odom);
    let oser = Series { t: &ot, v: &ow };
    let cost = |d: f64| {
        let (a, o) = paired(imu_stamps, gyro, &oser, d);
        if a.len() < 10 {
            return f64::INFINITY;
        }
        let (r, b) = solve_rotation(&a, &o, config.estimate_bias);
        residual_rms(&a, &o, &r, &b)
    };
    let mut offset = correlation.offset_s;
    if config.refine_time_offset {
        // Golden-section search within one grid step of the correlation estimate.
        let g = 0.5 * (5f64.sqrt() - 1.0);
        let (mut lo, mut hi) = (offset - correlation.grid_dt_s, offset + correlation.grid_dt_s);
        let (mut x1, mut x2) = (hi - g * (hi - lo), lo + g * (hi - lo));
        let (mut f1, mut f2) = (cost(x1), cost(x2));
        for _ in 0..40 {
            if f1 <= f2 {
                hi = x2;
                (x2, f2) = (x1, f1);
                x1 = hi - g * (hi - lo);
                f1 = cost(x1);
            } else {
                lo = x1;
                (x1, f1) = (x2, f2);
                x2 = lo + g * (hi - lo);
                f2 = cost(x2);
            }
        }
        let refined = 0.5 * (lo + hi);
        if cost(refined) <= cost(offset) {
            offset = refined;
        }
    }
    let (a, o) = paired(imu_stamps, gyro, &oser, offset);
    if a.len() < 10 {
        return Err(ImuOdomError::TooShort("fewer than 10 gyro samples overlap the odometry"));
    }
    let (r, bias) = solve_rotation(&a, &o, config.estimate_bias);
    let residual = residual_rms(&a, &o, &r, &bias);

    // Excitation: the axis (IMU frame) the angular velocity leaves least, and the RMS angular speed
    // off it, compared with the residual noise.
    let n = a.len() as f64;
    let mo = if config.estimate_bias { o.iter().sum::<Vector3<f64>>() / n } else { Vector3::zeros() };
    let gram: Matrix3<f64> = o
        .iter()
        .map(|w| {
            let s = (r * (w - mo)).cross_matrix();
            s.transpose() * s
        })
        .sum();
    let eig = gram.symmetric_eigen();
    let k = eig.eigenvalues.imin();
    let excitation_rms_rad_s = (eig.eigenvalues[k].max(0.0) / n).sqrt();
    let weakest_axis = eig.eigenvectors.column(k).into_owned();
    let noise_rad_s = (residual / 3f64.sqrt()).max(config.min_noise_rad_s);
    let rotation_std_rad = jackknife_rotation_std(&a, &o, &r, config.estimate_bias, JACKKNIFE_BLOCKS);

    let mut warnings = Vec::new();
    let axis = crate::observability::axis_name(&weakest_axis);
    if excitation_rms_rad_s < config.min_excitation_snr * noise_rad_s {
        warnings.push(format!(
            "the rotation about {axis} of the IMU is not observable: the angular velocity barely leaves \
             that axis ({excitation_rms_rad_s:.4} rad/s RMS off it, noise {noise_rad_s:.4} rad/s)"
        ));
    }
    if rotation_std_rad.is_nan() || rotation_std_rad > config.max_rotation_std_rad {
        warnings.push(format!(
            "the rotation is poorly determined: jackknife std {:.3}° > {:.3}°",
            rotation_std_rad.to_degrees(),
            config.max_rotation_std_rad.to_degrees()
        ));
    }
    if correlation.peak_correlation < config.min_correlation {
        warnings.push(format!(
            "weak correlation of the angular speeds ({:.2} < {:.2}): the time offset is unreliable",
            correlation.peak_correlation, config.min_correlation
        ));
    }
    if correlation.at_window_edge {
        warnings.push(format!(
            "the correlation peak is at the edge of the ±{} s window: the time offset may lie outside it",
            config.max_time_offset_s
        ));
    }
    Ok(ImuOdomCalibration {
        r_imu_odom: r,
        time_offset_s: offset,
        correlation,
        gyro_bias: bias,
        residual_rms_rad_s: residual,
        samples: a.len(),
        rotation_std_rad,
        weakest_axis,
        excitation_rms_rad_s,
        noise_rad_s,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::se3::rotation_distance;

    #[test]
    fn interpolation_and_bounds() {
        let t = [0.0, 1.0, 3.0];
        let v = [0.0, 2.0, 6.0];
        let s = Series { t: &t, v: &v };
        assert_eq!(s.at(0.5), Some(1.0));
        assert_eq!(s.at(2.0), Some(4.0));
        assert_eq!(s.at(3.0), Some(6.0));
        assert_eq!(s.at(3.1), None);
        assert_eq!(s.at(-0.1), None);
    }

    /// A constant body rate about a fixed axis: the odometry's angular velocity is that rate
    /// (body frame), mapped by the rotation, shifted by the offset, plus the bias; `None` outside.
    #[test]
    fn predicted_gyro_maps_the_odometry_rate() {
        let w = Vector3::new(0.2, -0.5, 0.9);
        let stamps: Vec<f64> = (0..101).map(|i| i as f64 * 0.01).collect();
        let poses: Vec<nalgebra::Isometry3<f64>> = stamps
            .iter()
            .map(|t| {
                nalgebra::Isometry3::from_parts(
                    nalgebra::Translation3::new(*t, 0.0, 0.0),
                    UnitQuaternion::from_scaled_axis(w * *t),
                )
            })
            .collect();
        let odom = Trajectory::new(stamps, poses).unwrap();
        let r = UnitQuaternion::from_euler_angles(0.3, -0.7, 1.2);
        let b = Vector3::new(0.01, -0.02, 0.005);
        let imu = [0.0, 0.1, 0.5, 1.05, 1.2];
        let p = predicted_gyro(&imu, &odom, &r, &b, 0.1);
        // Rates live at interval midpoints 0.005 … 0.995; t − δ must fall inside.
        assert!(p[0].is_none() && p[1].is_none() && p[4].is_none());
        for v in [p[2], p[3]] {
            assert!((v.unwrap() - (r * w + b)).norm() < 1e-9, "{v:?}");
        }
        let before = predicted_gyro(&imu, &odom, &UnitQuaternion::identity(), &Vector3::zeros(), 0.0);
        assert!((before[2].unwrap() - w).norm() < 1e-9);
    }

    #[test]
    fn procrustes_recovers_rotation_and_bias() {
        let r = UnitQuaternion::from_euler_angles(0.3, -0.7, 1.2);
        let b = Vector3::new(0.01, -0.02, 0.005);
        let odom: Vec<Vector3<f64>> = (0..50)
            .map(|i| {
                let x = i as f64;
                Vector3::new((0.3 * x).sin(), (0.17 * x).cos(), (0.05 * x).sin() * 2.0)
            })
            .collect();
        let imu: Vec<Vector3<f64>> = odom.iter().map(|w| r * w + b).collect();
        let (re, be) = solve_rotation(&imu, &odom, true);
        assert!(rotation_distance(&re, &r) < 1e-12);
        assert!((be - b).norm() < 1e-12);
    }
}
