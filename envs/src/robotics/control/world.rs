//! [`SimWorld`]: a rapier [`PhysicsWorld`] whose colliders are named scene shapes.
//!
//! Every collider of a control task is added through [`SimWorld::add_shape`], which builds the
//! rapier collider from the same [`ShapeKind`] the [`SceneView`] reports, so a recording shows
//! exactly the simulated geometry. World frame: z up, metres; capsules and cylinders lie along
//! their collider's y axis (rapier's convention), turned into place by the collider's local pose.

use rapier3d::prelude::*;

use crate::scene::{ScenePose, SceneShape, SceneView, ShapeKind};

/// Standard gravity (m/s²), along −z.
pub const GRAVITY: f32 = 9.81;

/// Called with `true` just before and `false` just after every call into rapier that may
/// allocate ([`SimWorld::step`]'s rapier steps and [`SimWorld::set_body_wrench`]'s tracked body
/// access), if set. For instrumentation only: the allocation test uses it to tell rapier's own
/// allocations (its pipeline allocates a few buffers per step, more with multibodies) from
/// ours, which must be none.
#[doc(hidden)]
pub static PHYSICS_STEP_HOOK: std::sync::OnceLock<fn(bool)> = std::sync::OnceLock::new();

/// How a shape takes part in the simulation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Contact {
    /// Collides with other colliding shapes.
    Solid,
    /// Contributes mass (if `density > 0`) but never collides (like MuJoCo's `contype="0"`).
    Ghost,
}

/// A rapier world with named shapes and an optional goal, seen through [`SceneView`].
pub struct SimWorld {
    /// The rapier world (bodies, colliders, multibody joints).
    pub world: PhysicsWorld,
    shapes: Vec<SceneShape>,
    colliders: Vec<ColliderHandle>,
    /// The task's goal in the world frame (metres).
    pub goal: Option<[f32; 3]>,
}

impl std::fmt::Debug for SimWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimWorld")
            .field("shapes", &self.shapes.iter().map(|s| s.name.as_str()).collect::<Vec<_>>())
            .field("bodies", &self.world.bodies.len())
            .field("goal", &self.goal)
            .finish()
    }
}

impl SimWorld {
    /// An empty world with time step `dt` (seconds), gravity `−GRAVITY · z` scaled by
    /// `gravity_scale`, and `solver_iterations` solver iterations per step.
    pub fn new(dt: f32, gravity_scale: f32, solver_iterations: usize) -> Self {
        let mut world = PhysicsWorld::new();
        world.gravity = Vector::new(0.0, 0.0, -GRAVITY * gravity_scale);
        world.integration_parameters.dt = dt;
        world.integration_parameters.num_solver_iterations = solver_iterations.max(1);
        SimWorld { world, shapes: Vec::new(), colliders: Vec::new(), goal: None }
    }

    /// Adds a collider of geometry `kind` attached to `body` (or fixed in the world when `None`)
    /// at `local` (translation in metres, axis-angle rotation vector in radians, both in the
    /// body frame), with mass density `density` (kg/m³).
    #[allow(clippy::too_many_arguments)]
    pub fn add_shape(
        &mut self,
        name: &str,
        kind: ShapeKind,
        color: [u8; 3],
        body: Option<RigidBodyHandle>,
        translation: [f32; 3],
        rotation: [f32; 3],
        density: f32,
        contact: Contact,
    ) -> ColliderHandle {
        let builder = match kind {
            ShapeKind::Cuboid { half_extents: [x, y, z] } => ColliderBuilder::cuboid(x, y, z),
            ShapeKind::Ball { radius } => ColliderBuilder::ball(radius),
            ShapeKind::Capsule { half_height, radius } => ColliderBuilder::capsule_y(half_height, radius),
            ShapeKind::Cylinder { half_height, radius } => ColliderBuilder::cylinder(half_height, radius),
        };
        let mut builder =
            builder.translation(Vector::from(translation)).rotation(Vector::from(rotation)).density(density);
        if contact == Contact::Ghost {
            builder = builder.collision_groups(InteractionGroups::none());
        }
        let handle = match body {
            Some(b) => self.world.colliders.insert_with_parent(builder, b, &mut self.world.bodies),
            None => self.world.colliders.insert(builder),
        };
        self.shapes.push(SceneShape { name: name.to_string(), kind, color });
        self.colliders.push(handle);
        handle
    }

    /// Advances the world by `substeps` rapier steps of `dt` each.
    pub fn step(&mut self, substeps: usize) {
        let hook = PHYSICS_STEP_HOOK.get();
        for _ in 0..substeps {
            if let Some(h) = hook {
                h(true);
            }
            self.world.step();
            if let Some(h) = hook {
                h(false);
            }
        }
    }

    /// The body `h`.
    pub fn body(&self, h: RigidBodyHandle) -> &RigidBody {
        &self.world.bodies[h]
    }

    /// Replaces the user force (N) and torque (N·m) on body `h` (world frame), held until the
    /// next call. (rapier's modification tracking pushes `h` onto a list that its pipeline takes
    /// with `mem::take` every step, so this allocates once per step inside rapier; the
    /// [`PHYSICS_STEP_HOOK`] window covers it.)
    pub fn set_body_wrench(&mut self, h: RigidBodyHandle, force: Vector, torque: Vector) {
        let hook = PHYSICS_STEP_HOOK.get();
        if let Some(f) = hook {
            f(true);
        }
        let body = &mut self.world.bodies[h];
        body.reset_forces(true);
        body.reset_torques(true);
        body.add_force(force, true);
        body.add_torque(torque, true);
        if let Some(f) = hook {
            f(false);
        }
    }

    /// The world pose of collider `h` as a [`ScenePose`].
    pub fn collider_pose(&self, h: ColliderHandle) -> ScenePose {
        pose_of(self.world.colliders[h].position())
    }
}

/// The volume of a shape (m³).
pub fn volume(kind: ShapeKind) -> f32 {
    use std::f32::consts::PI;
    match kind {
        ShapeKind::Cuboid { half_extents: [x, y, z] } => 8.0 * x * y * z,
        ShapeKind::Ball { radius } => 4.0 / 3.0 * PI * radius.powi(3),
        ShapeKind::Capsule { half_height, radius } => {
            PI * radius * radius * 2.0 * half_height + 4.0 / 3.0 * PI * radius.powi(3)
        }
        ShapeKind::Cylinder { half_height, radius } => PI * radius * radius * 2.0 * half_height,
    }
}

/// The density (kg/m³) that gives `kind` a mass of `mass` kg.
pub fn density_for_mass(kind: ShapeKind, mass: f32) -> f32 {
    mass / volume(kind)
}

/// Converts a rapier pose to a [`ScenePose`] (translation, quaternion `[x, y, z, w]`).
pub fn pose_of(p: &Pose) -> ScenePose {
    let t = p.translation;
    let q = p.rotation;
    ([t.x, t.y, t.z], [q.x, q.y, q.z, q.w])
}

impl SceneView for SimWorld {
    fn shapes(&self) -> Vec<SceneShape> {
        self.shapes.clone()
    }

    fn poses(&self, out: &mut [ScenePose]) {
        for (o, &h) in out.iter_mut().zip(&self.colliders) {
            *o = self.collider_pose(h);
        }
    }

    fn goal(&self) -> Option<[f32; 3]> {
        self.goal
    }
}

/// A revolute multibody joint about `axis` (body-frame unit vector), anchored at `anchor1` in the
/// parent's frame and `anchor2` in the child's frame (metres), with contacts between the two
/// bodies disabled.
pub fn revolute(axis: Vector, anchor1: Vector, anchor2: Vector) -> RevoluteJointBuilder {
    RevoluteJointBuilder::new(axis).local_anchor1(anchor1).local_anchor2(anchor2).contacts_enabled(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scene_reports_collider_shapes_and_offset_poses() {
        let mut w = SimWorld::new(0.01, 0.0, 4);
        let b = w.world.bodies.insert(RigidBodyBuilder::dynamic().translation(Vector::new(1.0, 2.0, 3.0)));
        let kind = ShapeKind::Capsule { half_height: 0.5, radius: 0.1 };
        // A capsule along +x: y rotated by −90° about z.
        w.add_shape(
            "link",
            kind,
            [1, 2, 3],
            Some(b),
            [0.5, 0.0, 0.0],
            [0.0, 0.0, -std::f32::consts::FRAC_PI_2],
            1000.0,
            Contact::Ghost,
        );
        w.step(1);
        let shapes = w.shapes();
        assert_eq!(shapes.len(), 1);
        assert_eq!(shapes[0].kind, kind);
        let mut poses = [([0.0; 3], [0.0; 4])];
        w.poses(&mut poses);
        let ([x, y, z], q) = poses[0];
        assert!((x - 1.5).abs() < 1e-5 && (y - 2.0).abs() < 1e-5 && (z - 3.0).abs() < 1e-5, "{poses:?}");
        // The rotation maps the capsule's y axis onto world +x.
        let rot = Rotation::from_xyzw(q[0], q[1], q[2], q[3]);
        let axis = rot * Vector::Y;
        assert!((axis - Vector::X).length() < 1e-5, "{axis:?}");
    }
}
