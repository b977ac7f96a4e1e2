//! [`Trajectory`]: timestamped poses `T_world_frame(t)`.

use nalgebra::{Isometry3, Point3};

/// Why a trajectory is invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrajectoryError {
    /// Stamps and poses differ in length.
    #[error("{stamps} stamps but {poses} poses")]
    LengthMismatch {
        /// Number of stamps.
        stamps: usize,
        /// Number of poses.
        poses: usize,
    },
    /// A stamp or pose component is NaN or infinite.
    #[error("pose {index}: non-finite {field}")]
    NonFinite {
        /// Index of the pose.
        index: usize,
        /// Which field.
        field: &'static str,
    },
    /// Stamps are not strictly increasing.
    #[error("pose {index}: stamp {stamp} s is not after the previous stamp {previous} s")]
    NonMonotonic {
        /// Index of the pose.
        index: usize,
        /// Its stamp.
        stamp: f64,
        /// The previous stamp.
        previous: f64,
    },
}

/// A pose trajectory: `poses[i]` is `T_world_frame` at `stamps[i]` (seconds, strictly
/// increasing); translations in metres.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Trajectory {
    stamps: Vec<f64>,
    poses: Vec<Isometry3<f64>>,
}

impl Trajectory {
    /// Checks lengths, finiteness and strictly increasing stamps.
    pub fn new(stamps: Vec<f64>, poses: Vec<Isometry3<f64>>) -> Result<Self, TrajectoryError> {
        if stamps.len() != poses.len() {
            return Err(TrajectoryError::LengthMismatch { stamps: stamps.len(), poses: poses.len() });
        }
        for (i, (t, p)) in stamps.iter().zip(&poses).enumerate() {
            if !t.is_finite() {
                return Err(TrajectoryError::NonFinite { index: i, field: "stamp" });
            }
            if !p.translation.vector.iter().all(|x| x.is_finite()) {
                return Err(TrajectoryError::NonFinite { index: i, field: "translation" });
            }
            if !p.rotation.coords.iter().all(|x| x.is_finite()) {
                return Err(TrajectoryError::NonFinite { index: i, field: "rotation" });
            }
            if i > 0 && *t <= stamps[i - 1] {
                return Err(TrajectoryError::NonMonotonic { index: i, stamp: *t, previous: stamps[i - 1] });
            }
        }
        Ok(Trajectory { stamps, poses })
    }
    /// Stamps in seconds.
    pub fn stamps(&self) -> &[f64] {
        &self.stamps
    }
    /// Poses `T_world_frame`.
    pub fn poses(&self) -> &[Isometry3<f64>] {
        &self.poses
    }
    /// Number of poses.
    pub fn len(&self) -> usize {
        self.poses.len()
    }
    /// Whether there are no poses.
    pub fn is_empty(&self) -> bool {
        self.poses.is_empty()
    }
    /// Positions of the frame's origin in the world frame (metres).
    pub fn positions(&self) -> impl Iterator<Item = Point3<f64>> + '_ {
        self.poses.iter().map(|p| Point3::from(p.translation.vector))
    }
    /// Last stamp minus first stamp (seconds); 0 when shorter than 2.
    pub fn duration(&self) -> f64 {
        match (self.stamps.first(), self.stamps.last()) {
            (Some(a), Some(b)) => b - a,
            _ => 0.0,
        }
    }
    /// Applies `f` to every pose (e.g. `|T_world_body| T_world_body * T_body_sensor`).
    pub fn map_poses(&self, f: impl Fn(&Isometry3<f64>) -> Isometry3<f64>) -> Trajectory {
        Trajectory { stamps: self.stamps.clone(), poses: self.poses.iter().map(f).collect() }
    }
    /// Splits into stamps and poses.
    pub fn into_parts(self) -> (Vec<f64>, Vec<Isometry3<f64>>) {
        (self.stamps, self.poses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_pose() {
        let p = Isometry3::identity();
        assert!(Trajectory::new(vec![0.0, 1.0], vec![p, p]).is_ok());
        assert_eq!(
            Trajectory::new(vec![0.0, 0.0], vec![p, p]),
            Err(TrajectoryError::NonMonotonic { index: 1, stamp: 0.0, previous: 0.0 })
        );
        assert!(matches!(
            Trajectory::new(vec![0.0, f64::NAN], vec![p, p]),
            Err(TrajectoryError::NonFinite { index: 1, field: "stamp" })
        ));
        assert!(matches!(
            Trajectory::new(vec![0.0], vec![p, p]),
            Err(TrajectoryError::LengthMismatch { .. })
        ));
    }
}
