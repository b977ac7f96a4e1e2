//! A read-only view of a 3-D scene (rigid shapes and their poses), for recordings and viewers.
//!
//! Physics environments (the rapier3d suites) implement [`SceneView`]; [`crate::Env::scene`]
//! exposes it through any stack of wrappers, so `alignrl rollout --rrd` can record any env that
//! has a scene. Frames: everything is in the env's world frame, z up, metres; rotations are unit
//! quaternions stored `[x, y, z, w]` (nalgebra/rerun order).

/// The geometry of one shape, in its own body frame (centred at the body origin).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ShapeKind {
    /// A box with half extents along x, y, z (metres).
    Cuboid {
        /// Half extents (metres).
        half_extents: [f32; 3],
    },
    /// A sphere.
    Ball {
        /// Radius (metres).
        radius: f32,
    },
    /// A capsule along the body's y axis (rapier's convention).
    Capsule {
        /// Half length of the segment between the two hemisphere centres (metres).
        half_height: f32,
        /// Radius (metres).
        radius: f32,
    },
    /// A cylinder along the body's y axis (rapier's convention).
    Cylinder {
        /// Half height (metres).
        half_height: f32,
        /// Radius (metres).
        radius: f32,
    },
}

/// One shape of the scene.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneShape {
    /// A stable name (used as the rerun entity path), e.g. `"drawer/handle"`.
    pub name: String,
    /// Its geometry.
    pub kind: ShapeKind,
    /// Display colour (sRGB).
    pub color: [u8; 3],
}

/// A pose in the world frame: translation (metres) and unit quaternion `[x, y, z, w]`.
pub type ScenePose = ([f32; 3], [f32; 4]);

/// A scene an env can show: its shapes (fixed after `reset`) and their current poses.
pub trait SceneView {
    /// The shapes, in a fixed order; the same after every `reset` of one env.
    fn shapes(&self) -> Vec<SceneShape>;
    /// Writes the world pose of each shape into `out` (`out.len() == shapes().len()`), without
    /// allocating.
    fn poses(&self, out: &mut [ScenePose]);
    /// The task's goal position in the world frame (metres), if it has one.
    fn goal(&self) -> Option<[f32; 3]> {
        None
    }
}
