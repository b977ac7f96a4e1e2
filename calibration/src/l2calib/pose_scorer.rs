//! The pose–pose scorer: how well does a candidate extrinsic `X = T_ref_sensor` explain a sensor
//! trajectory `T_ws(t_i)` against a reference trajectory `T_wr(t_i)` (already associated in time)?
//!
//! For each candidate the sensor trajectory is mapped into the reference frame, `Â_i = T_ws(t_i) · X⁻¹`
//! (the reference frame's pose in the sensor's world), aligned onto the reference with the SE(3)
//! transform `Y` that minimises
//!
//! ```text
//! Σ_i ‖p_A,i − (R_Y p̂_i + t_Y)‖² + (λ²/2) Σ_i ‖R_A,i − R_Y R̂_i‖_F²
//! ```
//!
//! (Kabsch on `H = Σ p_c,A p̂_cᵀ + (λ²/2) Σ R_A,i R̂_iᵀ`, closed form), and scored by
//!
//! ```text
//! error = RMSE_i ‖p_A,i − Y p̂_i‖  +  λ · RMSE_i θ_i,    θ_i = ∠(R_A,iᵀ R_Y R̂_i)   (metres)
//! ```
//!
//! with `λ` in metres per radian ([`PoseScorerConfig::rotation_weight`]). Position-only ATE (what
//! L2Calib uses with LIO) cannot see the extrinsic rotation when the lever arm is small: the
//! positions of `T_ws X⁻¹` depend on `R_X` only through `R_X⁻¹ t_X`. The rotation term here sees it,
//! because `R_A,iᵀ R_Y R_B,i R_Xᵀ` is constant only at the true `R_X` (for rotating motion).
//!
//! The O(K·N) work (K candidates, N poses) is burn tensor ops, one batch for all candidates (split
//! into chunks of at most [`PoseScorerConfig::max_batch_elements`] candidate–pose pairs). The only
//! host step is one 3×3 SVD per candidate for `R_Y` (O(K), no heap allocation).

use burn::tensor::{Tensor, TensorData, backend::Backend};
use nalgebra::{Isometry3, Matrix3, Vector3};

use super::{L2CalibError, Scorer, check_finite_poses};

/// Settings of [`PoseScorer`].
#[derive(Debug, Clone, PartialEq)]
pub struct PoseScorerConfig {
    /// `λ` (m/rad): weight of the rotation RMSE against the translation RMSE, in the error and in
    /// the alignment. 1 m/rad makes 1° count as 1.75 cm.
    pub rotation_weight: f64,
    /// At most this many candidate × pose pairs per tensor batch (peak memory ~300 bytes each).
    pub max_batch_elements: usize,
}

impl Default for PoseScorerConfig {
    /// λ = 1 m/rad, 2¹⁹ pairs per batch.
    fn default() -> Self {
        PoseScorerConfig { rotation_weight: 1.0, max_batch_elements: 1 << 19 }
    }
}

/// Batched pose–pose scorer over `N` associated pose pairs; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct PoseScorer<B: Backend> {
    config: PoseScorerConfig,
    n: usize,
    device: B::Device,
    /// Reference rotations `R_A,i` as `[1, N, 3, 3]` (row-major).
    ra: Tensor<B, 4>,
    /// Centred reference positions `[1, N, 3]` (metres).
    pa_c: Tensor<B, 3>,
    /// Sensor rotations `R_B,i` `[1, N, 3, 3]`.
    rb: Tensor<B, 4>,
    /// Sensor positions minus their mean `[1, N, 3]` (the mean is absorbed by `Y`).
    pb: Tensor<B, 3>,
}

fn rot_rows(r: &Matrix3<f64>, out: &mut Vec<f64>) {
    for a in 0..3 {
        for b in 0..3 {
            out.push(r[(a, b)]);
        }
    }
}

fn centred(points: impl Iterator<Item = Vector3<f64>> + Clone, n: usize) -> Vec<f64> {
    let mean = points.clone().fold(Vector3::zeros(), |a, p| a + p) / n as f64;
    points.flat_map(|p| (p - mean).iter().copied().collect::<Vec<_>>()).collect()
}

impl<B: Backend> PoseScorer<B> {
    /// A scorer over paired poses: `reference[i] = T_wr(t_i)` and `sensor[i] = T_ws(t_i)` (same
    /// length, at least 3 pairs, finite).
    pub fn new(
        reference: &[Isometry3<f64>],
        sensor: &[Isometry3<f64>],
        config: PoseScorerConfig,
        device: &B::Device,
    ) -> Result<Self, L2CalibError> {
        if reference.len() != sensor.len() {
            return Err(L2CalibError::LengthMismatch {
                what: "reference and sensor poses",
                a: reference.len(),
                b: sensor.len(),
            });
        }
        let n = reference.len();
        if n < 3 {
            return Err(L2CalibError::TooFew { what: "pose pairs", needed: 3, got: n });
        }
        check_finite_poses("reference poses", reference)?;
        check_finite_poses("sensor poses", sensor)?;
        if !(config.rotation_weight.is_finite() && config.rotation_weight >= 0.0) {
            return Err(L2CalibError::InvalidConfig {
                field: "rotation_weight",
                reason: format!("must be finite and ≥ 0, got {}", config.rotation_weight),
            });
        }
        if config.max_batch_elements == 0 {
            return Err(L2CalibError::InvalidConfig {
                field: "max_batch_elements",
                reason: "must be positive".into(),
            });
        }
        let rots = |poses: &[Isometry3<f64>]| {
            let mut v = Vec::with_capacity(9 * n);
            for p in poses {
                rot_rows(p.rotation.to_rotation_matrix().matrix(), &mut v);
            }
            Tensor::<B, 4>::from_data(TensorData::new(v, [1, n, 3, 3]), device)
        };
        let pos = |poses: &[Isometry3<f64>]| {
            let v = centred(poses.iter().map(|p| p.translation.vector), n);
            Tensor::<B, 3>::from_data(TensorData::new(v, [1, n, 3]), device)
        };
        Ok(PoseScorer {
            n,
            device: device.clone(),
            ra: rots(reference),
            pa_c: pos(reference),
            rb: rots(sensor),
            pb: pos(sensor),
            config,
        })
    }

    /// Number of pose pairs.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether there are no pose pairs (never true for a built scorer).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The settings.
    pub fn config(&self) -> &PoseScorerConfig {
        &self.config
    }

    /// Errors (metres, see the [module docs](self)) of a chunk of candidates, written to `out`.
    fn score_chunk(&self, xs: &[Isometry3<f64>], out: &mut [f64]) {
        let (k, n) = (xs.len(), self.n);
        let lambda = self.config.rotation_weight;
        let mut rx = Vec::with_capacity(9 * k);
        let mut u = Vec::with_capacity(3 * k);
        for x in xs {
            let r = x.rotation.to_rotation_matrix().into_inner();
            rot_rows(&r, &mut rx);
            // X⁻¹ = (R_Xᵀ, −R_Xᵀ t_X): the position of T_ws X⁻¹ is p_B − R_B u with u = R_Xᵀ t_X.
            u.extend((r.transpose() * x.translation.vector).iter().copied());
        }
        let rx = Tensor::<B, 5>::from_data(TensorData::new(rx, [k, 1, 1, 3, 3]), &self.device);
        let u = Tensor::<B, 4>::from_data(TensorData::new(u, [k, 1, 1, 3]), &self.device);

        // R̂[k,n,a,b] = Σ_c R_B[n,a,c] R_X[k,b,c]  (R_B R_Xᵀ).
        let rb5 = self.rb.clone().reshape([1, n, 3, 1, 3]);
        let r_hat = (rb5 * rx).sum_dim(4).reshape([k, n, 3, 3]);
        // p̂ = p_B − R_B u, centred per candidate.
        let p_hat = self.pb.clone() - (self.rb.clone() * u).sum_dim(3).reshape([k, n, 3]);
        let p_hat = p_hat.clone() - p_hat.mean_dim(1);

        // H = (1/N) Σ p_A,c p̂ᵀ + (λ²/2)(1/N) Σ R_A R̂ᵀ, [K, 3, 3].
        let c = (self.pa_c.clone().reshape([1, n, 3, 1]) * p_hat.clone().reshape([k, n, 1, 3]))
            .mean_dim(1)
            .reshape([k, 3, 3]);
        let d = (self.ra.clone().reshape([1, n, 3, 1, 3]) * r_hat.clone().reshape([k, n, 1, 3, 3]))
            .sum_dim(4)
            .mean_dim(1)
            .reshape([k, 3, 3]);
        let h = c + d.mul_scalar(0.5 * lambda * lambda);
        let h: Vec<f64> = h.into_data().iter::<f64>().collect();

        // Host: R_Y = argmax tr(Rᵀ H) over rotations (Kabsch), one 3×3 SVD per candidate.
        let mut ry = Vec::with_capacity(9 * k);
        for j in 0..k {
            let hm = Matrix3::from_fn(|a, b| h[9 * j + 3 * a + b]);
            rot_rows(&kabsch(&hm), &mut ry);
        }
        let ry = Tensor::<B, 4>::from_data(TensorData::new(ry, [k, 1, 3, 3]), &self.device);

        // Translation residuals p_A,c − R_Y p̂_c.
        let q = (ry.clone() * p_hat.reshape([k, n, 1, 3])).sum_dim(3).reshape([k, n, 3]);
        let t_mse = (self.pa_c.clone() - q).square().sum_dim(2).mean_dim(1).reshape([k]);
        // Rotation residuals: chord² = ‖R_A − R_Y R̂‖²_F = 8 sin²(θ/2), no cancellation near 0.
        let ry5 = ry.reshape([k, 1, 3, 3, 1]);
        let yr = (ry5 * r_hat.reshape([k, n, 1, 3, 3])).sum_dim(3).reshape([k, n, 3, 3]);
        let chord2 = (self.ra.clone() - yr).square().sum_dim(3).sum_dim(2).reshape([k, n]);
        let theta = chord2.div_scalar(8.0).sqrt().clamp_max(1.0).asin().mul_scalar(2.0);
        let r_mse = theta.square().mean_dim(1).reshape([k]);
        let err = t_mse.sqrt() + r_mse.sqrt().mul_scalar(lambda);
        for (o, e) in out.iter_mut().zip(err.into_data().iter::<f64>()) {
            *o = e;
        }
    }
}

/// The rotation `R` maximising `tr(Rᵀ H)`: `H = U S Vᵀ`, `R = U diag(1, 1, det(U Vᵀ)) Vᵀ`.
pub(crate) fn kabsch(h: &Matrix3<f64>) -> Matrix3<f64> {
    let svd = h.svd(true, true);
    let (u, v_t) = (svd.u.expect("U requested"), svd.v_t.expect("Vᵀ requested"));
    // Flip the column of the smallest singular value when U Vᵀ is a reflection.
    let mut s = Matrix3::identity();
    if (u * v_t).determinant() < 0.0 {
        let imin = (0..3).min_by(|&a, &b| svd.singular_values[a].total_cmp(&svd.singular_values[b])).unwrap();
        s[(imin, imin)] = -1.0;
    }
    u * s * v_t
}

impl<B: Backend> Scorer for PoseScorer<B> {
    fn errors(&mut self, candidates: &[Isometry3<f64>], errors: &mut [f64]) {
        assert_eq!(candidates.len(), errors.len(), "one error slot per candidate");
        let chunk = (self.config.max_batch_elements / self.n).max(1);
        for (xs, out) in candidates.chunks(chunk).zip(errors.chunks_mut(chunk)) {
            self.score_chunk(xs, out);
        }
    }
}

/// Plain f64 reference of [`PoseScorer`]'s error for one candidate (tests and diagnostics; not
/// batched). Same definition as the [module docs](self).
pub fn pose_error_f64(
    reference: &[Isometry3<f64>],
    sensor: &[Isometry3<f64>],
    x: &Isometry3<f64>,
    rotation_weight: f64,
) -> f64 {
    let n = reference.len() as f64;
    let x_inv = x.inverse();
    let est: Vec<Isometry3<f64>> = sensor.iter().map(|b| b * x_inv).collect();
    let mean_a = reference.iter().fold(Vector3::zeros(), |s, p| s + p.translation.vector) / n;
    let mean_e = est.iter().fold(Vector3::zeros(), |s, p| s + p.translation.vector) / n;
    let mut h = Matrix3::zeros();
    for (a, e) in reference.iter().zip(&est) {
        h += (a.translation.vector - mean_a) * (e.translation.vector - mean_e).transpose() / n;
        h += a.rotation.to_rotation_matrix().matrix()
            * e.rotation.to_rotation_matrix().matrix().transpose()
            * (0.5 * rotation_weight * rotation_weight / n);
    }
    let ry = kabsch(&h);
    let (mut t2, mut r2) = (0.0, 0.0);
    for (a, e) in reference.iter().zip(&est) {
        let d = (a.translation.vector - mean_a) - ry * (e.translation.vector - mean_e);
        t2 += d.norm_squared();
        let rel = a.rotation.to_rotation_matrix().matrix().transpose()
            * ry
            * e.rotation.to_rotation_matrix().matrix();
        let cos = ((rel.trace() - 1.0) / 2.0).clamp(-1.0, 1.0);
        let theta = cos.acos();
        r2 += theta * theta;
    }
    (t2 / n).sqrt() + rotation_weight * (r2 / n).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::align::umeyama;
    use burn::backend::Flex;
    use nalgebra::{Point3, Translation3, UnitQuaternion};
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    fn random_rotation(rng: &mut Pcg64, scale: f64) -> UnitQuaternion<f64> {
        UnitQuaternion::from_scaled_axis(Vector3::from_fn(|_, _| (rng.random::<f64>() * 2.0 - 1.0) * scale))
    }

    /// A rotating, translating body; reference = body, sensor = Y⁻¹ · body · X (noisy).
    fn rig(
        rng: &mut Pcg64,
        n: usize,
        x: &Isometry3<f64>,
        noise: f64,
    ) -> (Vec<Isometry3<f64>>, Vec<Isometry3<f64>>) {
        let y = Isometry3::from_parts(Translation3::new(3.0, -1.0, 0.5), random_rotation(rng, 2.0));
        let mut reference = Vec::new();
        let mut sensor = Vec::new();
        for i in 0..n {
            let t = i as f64 * 0.1;
            let body = Isometry3::from_parts(
                Translation3::new(2.0 * (0.3 * t).sin(), (0.2 * t).cos(), 0.3 * (0.5 * t).sin()),
                UnitQuaternion::from_scaled_axis(Vector3::new(
                    0.6 * (0.7 * t).sin(),
                    0.5 * (0.4 * t).cos(),
                    1.5 * (0.1 * t).sin(),
                )),
            );
            let s = y.inverse() * body * x;
            let s = Isometry3::from_parts(
                Translation3::from(
                    s.translation.vector + Vector3::from_fn(|_, _| noise * rng.random::<f64>()),
                ),
                s.rotation * random_rotation(rng, noise),
            );
            reference.push(body);
            sensor.push(s);
        }
        (reference, sensor)
    }

    #[test]
    fn batch_matches_f64_reference() {
        let mut rng = Pcg64::seed_from_u64(7);
        let x = Isometry3::from_parts(Translation3::new(0.2, -0.1, 0.3), random_rotation(&mut rng, 1.0));
        let (reference, sensor) = rig(&mut rng, 200, &x, 0.01);
        let config = PoseScorerConfig { rotation_weight: 0.7, max_batch_elements: 200 * 5 };
        let mut scorer = PoseScorer::<Flex>::new(&reference, &sensor, config, &Default::default()).unwrap();
        let mut cands = vec![x];
        for s in [0.01, 0.1, 1.0, 3.0] {
            for _ in 0..4 {
                cands.push(Isometry3::from_parts(
                    Translation3::from(
                        x.translation.vector + Vector3::from_fn(|_, _| s * rng.random::<f64>()),
                    ),
                    x.rotation * random_rotation(&mut rng, s),
                ));
            }
        }
        let mut got = vec![0.0; cands.len()];
        scorer.errors(&cands, &mut got);
        for (c, g) in cands.iter().zip(&got) {
            let want = pose_error_f64(&reference, &sensor, c, 0.7);
            assert!((g - want).abs() < 1e-4 * want.max(0.05), "{g} vs {want}");
        }
        // The truth scores best.
        assert!(got[1..].iter().all(|e| *e > got[0]), "{got:?}");
    }

    #[test]
    fn sees_the_extrinsic_rotation_that_position_ate_misses() {
        // Zero lever arm: the positions of T_ws X⁻¹ do not depend on R_X, so a position-only ATE
        // after Umeyama is the same for every candidate rotation.
        let mut rng = Pcg64::seed_from_u64(3);
        let x = Isometry3::from_parts(Translation3::new(0.0, 0.0, 0.0), random_rotation(&mut rng, 1.0));
        let (reference, sensor) = rig(&mut rng, 300, &x, 0.0);
        let wrong = Isometry3::from_parts(x.translation, x.rotation * random_rotation(&mut rng, 0.3));
        let ate = |c: &Isometry3<f64>| {
            let est: Vec<Point3<f64>> =
                sensor.iter().map(|b| Point3::from((b * c.inverse()).translation.vector)).collect();
            let refp: Vec<Point3<f64>> =
                reference.iter().map(|a| Point3::from(a.translation.vector)).collect();
            let s = umeyama(&est, &refp, false).unwrap();
            (est.iter().zip(&refp).map(|(e, r)| (s.transform_point(e) - r).norm_squared()).sum::<f64>()
                / est.len() as f64)
                .sqrt()
        };
        assert!((ate(&x) - ate(&wrong)).abs() < 1e-9, "{} vs {}", ate(&x), ate(&wrong));
        let mut scorer =
            PoseScorer::<Flex>::new(&reference, &sensor, PoseScorerConfig::default(), &Default::default())
                .unwrap();
        let mut e = [0.0; 2];
        scorer.errors(&[x, wrong], &mut e);
        assert!(e[0] < 1e-3 && e[1] > 0.1, "{e:?}");
    }

    #[test]
    fn rejects_bad_input() {
        let p = vec![Isometry3::identity(); 4];
        let dev = Default::default();
        assert!(PoseScorer::<Flex>::new(&p[..2], &p[..2], PoseScorerConfig::default(), &dev).is_err());
        assert!(PoseScorer::<Flex>::new(&p, &p[..3], PoseScorerConfig::default(), &dev).is_err());
        let mut q = p.clone();
        q[1].translation.vector.x = f64::NAN;
        assert!(matches!(
            PoseScorer::<Flex>::new(&p, &q, PoseScorerConfig::default(), &dev),
            Err(L2CalibError::NonFinite { index: 1, .. })
        ));
    }
}
