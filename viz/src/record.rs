//! Rerun recordings (`.rrd`) of an episode of any env with a [`SceneView`].
//!
//! Layout of a recording (application id `alignrl`, one `step` sequence timeline):
//! - `world`: static view coordinates, right-handed, z up (the envs' world frame, metres).
//! - `world/<shape name>`: the shape's geometry, logged once as static data in the shape's own
//!   frame ([`ShapeKind::Cuboid`] as a box, [`ShapeKind::Ball`] as a sphere (an ellipsoid),
//!   [`ShapeKind::Capsule`] as a capsule, [`ShapeKind::Cylinder`] as a cylinder; the latter two
//!   along the local y axis as in rapier), and its world pose as a `Transform3D` at every step.
//! - `world/goal`: the task's goal as a point, at every step where the scene has one.
//! - `reward`: the reward as a scalar series, from step 1 on.
//!
//! Step 0 is the state after `reset`; step `t` the state after the `t`-th `step`. The recording
//! is built in memory and written atomically ([`alignrl_envs::fsio::atomic_write`]).

use std::path::Path;

use alignrl_envs::scene::{ScenePose, SceneShape, SceneView, ShapeKind};
use rerun::{
    Boxes3D, Capsules3D, Color, Cylinders3D, Ellipsoids3D, FillMode, Points3D, Quaternion, RecordingStream,
    RecordingStreamBuilder, Scalars, Transform3D, ViewCoordinates,
};

/// The timeline every entry is logged on.
pub const TIMELINE: &str = "step";
/// Entity path of the reward series.
pub const REWARD_ENTITY: &str = "reward";
/// Entity path of the goal point.
pub const GOAL_ENTITY: &str = "world/goal";

/// Errors of [`EpisodeRecorder`].
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The rerun SDK refused to create the stream or log an entry.
    #[error("rerun: {0}")]
    Rerun(String),
    /// Encoding the recording failed.
    #[error("encoding the .rrd failed: {0}")]
    Encode(String),
    /// Writing the file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The scene's shape list changed during the recording.
    #[error("the scene had {expected} shapes when the recording started and now has {got}")]
    ShapeCount {
        /// Shapes at the start.
        expected: usize,
        /// Shapes now.
        got: usize,
    },
}

fn rerun_err(e: impl std::fmt::Display) -> RecordError {
    RecordError::Rerun(e.to_string())
}

/// The rerun entity path of a scene shape.
pub fn shape_entity(name: &str) -> String {
    format!("world/{name}")
}

/// Records the frames of an episode into an in-memory rerun stream; [`Self::finish`] writes it.
pub struct EpisodeRecorder {
    rec: RecordingStream,
    storage: rerun::sink::MemorySinkStorage,
    entities: Vec<String>,
    poses: Vec<ScenePose>,
    frames: u64,
}

impl std::fmt::Debug for EpisodeRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpisodeRecorder")
            .field("entities", &self.entities)
            .field("frames", &self.frames)
            .finish()
    }
}

/// The quaternion `[x, y, z, w]` turning rerun's +z primitive axis onto our +y shape axis
/// (−90° about x).
const Z_TO_Y: [f32; 4] = [-std::f32::consts::FRAC_1_SQRT_2, 0.0, 0.0, std::f32::consts::FRAC_1_SQRT_2];

impl EpisodeRecorder {
    /// Starts a recording named `recording_name` of `scene`, logging the static geometry of
    /// each of its shapes.
    pub fn new(recording_name: &str, scene: &dyn SceneView) -> Result<Self, RecordError> {
        let (rec, storage) = RecordingStreamBuilder::new("alignrl")
            .recording_name(recording_name)
            .memory()
            .map_err(rerun_err)?;
        rec.log_static("world", &ViewCoordinates::RIGHT_HAND_Z_UP()).map_err(rerun_err)?;
        let shapes = scene.shapes();
        let mut entities = Vec::with_capacity(shapes.len());
        for shape in &shapes {
            let path = shape_entity(&shape.name);
            log_geometry(&rec, &path, shape)?;
            entities.push(path);
        }
        let poses = vec![([0.0; 3], [0.0, 0.0, 0.0, 1.0]); shapes.len()];
        Ok(EpisodeRecorder { rec, storage, entities, poses, frames: 0 })
    }

    /// Logs the scene's state at step `step`: every shape's pose, the goal, and (after a step,
    /// not after a reset) the reward.
    pub fn record(
        &mut self,
        step: i64,
        scene: &dyn SceneView,
        reward: Option<f64>,
    ) -> Result<(), RecordError> {
        let n = scene.shapes().len();
        if n != self.entities.len() {
            return Err(RecordError::ShapeCount { expected: self.entities.len(), got: n });
        }
        self.rec.set_time_sequence(TIMELINE, step);
        scene.poses(&mut self.poses);
        for (path, (t, q)) in self.entities.iter().zip(&self.poses) {
            let tf = Transform3D::from_translation_rotation(*t, Quaternion::from_xyzw(*q));
            self.rec.log(path.as_str(), &tf).map_err(rerun_err)?;
        }
        if let Some(g) = scene.goal() {
            let point = Points3D::new([g]).with_radii([0.015]).with_colors([Color::from_rgb(40, 200, 80)]);
            self.rec.log(GOAL_ENTITY, &point).map_err(rerun_err)?;
        }
        if let Some(r) = reward {
            self.rec.log(REWARD_ENTITY, &Scalars::new([r])).map_err(rerun_err)?;
        }
        self.frames += 1;
        Ok(())
    }

    /// Frames recorded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Encodes the recording and writes it to `path` atomically; returns the number of bytes.
    pub fn finish(self, path: &Path) -> Result<usize, RecordError> {
        write_storage(&self.storage, path)
    }
}

/// Encodes an in-memory recording and writes it to `path` atomically; returns the number of bytes.
pub(crate) fn write_storage(
    storage: &rerun::sink::MemorySinkStorage,
    path: &Path,
) -> Result<usize, RecordError> {
    let bytes = storage.drain_as_bytes().map_err(|e| RecordError::Encode(e.to_string()))?;
    alignrl_envs::fsio::atomic_write(path, &bytes)
        .map_err(|e| RecordError::Write { path: path.display().to_string(), source: e })?;
    Ok(bytes.len())
}

/// Logs `shape`'s geometry (static, in its own frame) at `path`.
fn log_geometry(rec: &RecordingStream, path: &str, shape: &SceneShape) -> Result<(), RecordError> {
    let [r, g, b] = shape.color;
    let color = Color::from_rgb(r, g, b);
    match shape.kind {
        ShapeKind::Cuboid { half_extents } => rec.log_static(
            path,
            &Boxes3D::from_half_sizes([half_extents]).with_colors([color]).with_fill_mode(FillMode::Solid),
        ),
        ShapeKind::Ball { radius } => rec.log_static(
            path,
            &Ellipsoids3D::from_radii([radius]).with_colors([color]).with_fill_mode(FillMode::Solid),
        ),
        // rerun's capsule runs from its origin along +z; ours is centred on the local y axis.
        ShapeKind::Capsule { half_height, radius } => rec.log_static(
            path,
            &Capsules3D::from_lengths_and_radii([2.0 * half_height], [radius])
                .with_translations([[0.0, -half_height, 0.0]])
                .with_quaternions([Quaternion::from_xyzw(Z_TO_Y)])
                .with_colors([color])
                .with_fill_mode(FillMode::Solid),
        ),
        // rerun's cylinder is centred on +z.
        ShapeKind::Cylinder { half_height, radius } => rec.log_static(
            path,
            &Cylinders3D::from_lengths_and_radii([2.0 * half_height], [radius])
                .with_quaternions([Quaternion::from_xyzw(Z_TO_Y)])
                .with_colors([color])
                .with_fill_mode(FillMode::Solid),
        ),
    }
    .map_err(rerun_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn z_to_y_maps_the_z_axis_onto_y() {
        // Rotate (0, 0, 1) by the quaternion: v' = v + 2w (u × v) + 2 u × (u × v).
        let [x, y, z, w] = Z_TO_Y;
        let u = [x, y, z];
        let v = [0.0f32, 0.0, 1.0];
        let cross = |a: [f32; 3], b: [f32; 3]| {
            [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
        };
        let uv = cross(u, v);
        let uuv = cross(u, uv);
        let out: Vec<f32> = (0..3).map(|i| v[i] + 2.0 * w * uv[i] + 2.0 * uuv[i]).collect();
        assert!((out[0]).abs() < 1e-6 && (out[1] - 1.0).abs() < 1e-6 && out[2].abs() < 1e-6, "{out:?}");
    }
}
