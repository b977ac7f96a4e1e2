//! The shared manipulation scene: a table, a position-controlled hand with two force-limited
//! fingers, and whatever task objects a [`super::Task`] adds.
//!
//! World frame: z up, metres, seconds; the table top is the plane `z = 0`, the robot stands on
//! the `-y` side. The hand is a kinematic body (it never rotates) whose origin is the tool centre
//! point (TCP): the point midway between the two fingers at their mid-height. The fingers are
//! dynamic bodies on prismatic joints along the hand's x axis, each driven by a force-limited
//! position motor, so that a grasp holds an object only through contact and friction (nothing is
//! welded). One env step moves the hand's target by at most [`MAX_HAND_STEP`] per axis and runs
//! [`SUBSTEPS`] physics steps of [`PHYSICS_DT`] seconds each, moving the kinematic hand linearly
//! between the old and the new target.

use rapier3d::prelude::*;

use crate::scene::{ScenePose, SceneShape, ShapeKind};

/// Physics time step (seconds).
pub const PHYSICS_DT: f32 = 0.01;
/// Physics steps per env step (an env step lasts `SUBSTEPS * PHYSICS_DT` = 0.02 s).
pub const SUBSTEPS: usize = 2;
/// Largest hand displacement per env step and axis (metres), reached at action ±1.
pub const MAX_HAND_STEP: f32 = 0.01;
/// Hand (TCP) workspace lower corner (metres). The lower z keeps the fingertips 2 mm above the table.
pub const HAND_LOW: [f32; 3] = [-0.4, -0.4, FINGER_HALF[2] + 0.002];
/// Hand (TCP) workspace upper corner (metres).
pub const HAND_HIGH: [f32; 3] = [0.4, 0.4, 0.4];
/// TCP position at the start of every episode (metres).
pub const HAND_START: [f32; 3] = [0.0, -0.2, 0.2];
/// Half extents of one finger (metres): thin along x (the closing axis).
pub const FINGER_HALF: [f32; 3] = [0.008, 0.01, 0.03];
/// Smallest gap between the fingers' inner faces (metres), reached at gripper action +1.
pub const OPENING_MIN: f32 = 0.01;
/// Largest gap between the fingers' inner faces (metres), reached at gripper action −1.
pub const OPENING_MAX: f32 = 0.1;
/// Half extents of the palm (metres), centred above the fingers.
pub const PALM_HALF: [f32; 3] = [0.066, 0.012, 0.01];
/// Height of the palm centre above the TCP (metres).
pub const PALM_OFFSET_Z: f32 = FINGER_HALF[2] + PALM_HALF[2];
/// Largest force each finger motor applies (newtons).
pub const FINGER_MAX_FORCE: f32 = 5.0;
/// Table top half extents in x and y (metres) and its thickness's half (z).
pub const TABLE_HALF: [f32; 3] = [0.6, 0.5, 0.02];
/// Friction coefficient of the fingers (rapier averages the two coefficients of a contact).
pub const FINGER_FRICTION: f32 = 1.5;
/// Friction coefficient of the table.
pub const TABLE_FRICTION: f32 = 0.5;

/// Natural frequency of dynamic contacts (Hz).
pub const CONTACT_HZ: f32 = 150.0;
/// Damping ratio of dynamic contacts.
pub const CONTACT_DAMPING_RATIO: f32 = 2.0;

const FINGER_STIFFNESS: f32 = 2000.0;
const FINGER_DAMPING: f32 = 60.0;

/// A collider of the scene with its display name and colour.
#[derive(Debug, Clone)]
struct Named {
    handle: ColliderHandle,
    name: &'static str,
    color: [u8; 3],
}

/// The physics world of one manipulation task plus the handles the env needs.
pub struct ManipScene {
    /// The rapier world (bodies, colliders, joints, pipeline).
    pub world: PhysicsWorld,
    /// The fixed body that the table and fixed task parts hang on.
    pub ground: RigidBodyHandle,
    hand: RigidBodyHandle,
    fingers: [RigidBodyHandle; 2],
    finger_joints: [ImpulseJointHandle; 2],
    hand_target: Vector,
    named: Vec<Named>,
}

impl std::fmt::Debug for ManipScene {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManipScene").field("hand_target", &self.hand_target).finish_non_exhaustive()
    }
}

/// Finger x offset from the TCP (metres, left finger negative) for an inner-face gap `opening`.
fn finger_offset(opening: f32) -> f32 {
    0.5 * opening + FINGER_HALF[0]
}

impl ManipScene {
    /// An empty table with the hand at [`HAND_START`], gripper open.
    pub fn new() -> Self {
        let mut world = PhysicsWorld::new();
        world.gravity = Vector::new(0.0, 0.0, -9.81);
        world.integration_parameters.dt = PHYSICS_DT;
        // Objects are centimetres across: scale rapier's slop, prediction distance and corrective
        // velocity (5 mm, 2 cm and 3 m/s by default) down by ten.
        world.integration_parameters.length_unit = 0.1;
        // rapier's default contacts (30 Hz, damping ratio 10) let a 60 g cube squeezed by the
        // fingers creep about 1 mm per env step; grasping needs stiffer contacts.
        world.integration_parameters.contact_softness =
            SpringCoefficients::new(CONTACT_HZ, CONTACT_DAMPING_RATIO);
        let ground = world.insert_body(RigidBodyBuilder::fixed());
        let mut named = Vec::with_capacity(16);
        let table = world.insert_collider(
            ColliderBuilder::cuboid(TABLE_HALF[0], TABLE_HALF[1], TABLE_HALF[2])
                .translation(Vector::new(0.0, 0.0, -TABLE_HALF[2]))
                .friction(TABLE_FRICTION),
            Some(ground),
        );
        named.push(Named { handle: table, name: "table", color: [150, 120, 90] });

        let start = Vector::from_array(HAND_START);
        let hand = world.insert_body(RigidBodyBuilder::kinematic_position_based().translation(start));
        let palm = world.insert_collider(
            ColliderBuilder::cuboid(PALM_HALF[0], PALM_HALF[1], PALM_HALF[2])
                .translation(Vector::new(0.0, 0.0, PALM_OFFSET_Z))
                .friction(FINGER_FRICTION),
            Some(hand),
        );
        named.push(Named { handle: palm, name: "hand/palm", color: [90, 90, 100] });

        let mut fingers = [hand; 2];
        let mut finger_joints = [ImpulseJointHandle::invalid(); 2];
        for (i, side) in [-1.0f32, 1.0].into_iter().enumerate() {
            let off = side * finger_offset(OPENING_MAX);
            let body = world.insert_body(
                RigidBodyBuilder::dynamic().translation(start + Vector::new(off, 0.0, 0.0)).can_sleep(false),
            );
            let c = world.insert_collider(
                ColliderBuilder::cuboid(FINGER_HALF[0], FINGER_HALF[1], FINGER_HALF[2])
                    .density(2000.0)
                    .friction(FINGER_FRICTION),
                Some(body),
            );
            named.push(Named {
                handle: c,
                name: if i == 0 { "hand/finger_left" } else { "hand/finger_right" },
                color: [60, 60, 70],
            });
            let (lo, hi) = (finger_offset(OPENING_MIN), finger_offset(OPENING_MAX));
            let limits = if side < 0.0 { [-hi, -lo] } else { [lo, hi] };
            let joint = PrismaticJointBuilder::new(Vector::X)
                .limits(limits)
                .motor_model(MotorModel::ForceBased)
                .motor_position(off, FINGER_STIFFNESS, FINGER_DAMPING)
                .motor_max_force(FINGER_MAX_FORCE)
                .contacts_enabled(false);
            finger_joints[i] = world.insert_impulse_joint(hand, body, joint);
            fingers[i] = body;
        }
        ManipScene { world, ground, hand, fingers, finger_joints, hand_target: start, named }
    }

    /// Adds a collider to `body` (or to the ground when `None`) under a display name.
    pub fn add_collider(
        &mut self,
        builder: ColliderBuilder,
        body: Option<RigidBodyHandle>,
        name: &'static str,
        color: [u8; 3],
    ) -> ColliderHandle {
        let parent = body.unwrap_or(self.ground);
        let handle = self.world.insert_collider(builder, Some(parent));
        self.named.push(Named { handle, name, color });
        handle
    }

    /// The TCP position (metres, world frame).
    pub fn tcp(&self) -> Vector {
        self.world.bodies[self.hand].translation()
    }

    /// The gap between the fingers' inner faces (metres).
    pub fn opening(&self) -> f32 {
        let l = self.world.bodies[self.fingers[0]].translation().x;
        let r = self.world.bodies[self.fingers[1]].translation().x;
        r - l - 2.0 * FINGER_HALF[0]
    }

    /// Applies one env action `[dx, dy, dz, grip]` (each clipped to `[-1, 1]`; `grip` +1 closes,
    /// −1 opens) and advances the physics by [`SUBSTEPS`] steps.
    pub fn step(&mut self, action: [f32; 4]) {
        let a = action.map(|x| x.clamp(-1.0, 1.0));
        let old = self.hand_target;
        let new = (old + Vector::new(a[0], a[1], a[2]) * MAX_HAND_STEP)
            .clamp(Vector::from_array(HAND_LOW), Vector::from_array(HAND_HIGH));
        self.hand_target = new;
        let opening = OPENING_MIN + (OPENING_MAX - OPENING_MIN) * 0.5 * (1.0 - a[3]);
        for (i, side) in [-1.0f32, 1.0].into_iter().enumerate() {
            if let Some(j) = self.world.impulse_joints.get_mut(self.finger_joints[i], true) {
                j.data.set_motor_position(
                    JointAxis::LinX,
                    side * finger_offset(opening),
                    FINGER_STIFFNESS,
                    FINGER_DAMPING,
                );
            }
        }
        for k in 1..=SUBSTEPS {
            let t = k as f32 / SUBSTEPS as f32;
            let p = old + (new - old) * t;
            self.world.bodies[self.hand].set_next_kinematic_translation(p);
            self.world.step();
        }
    }

    /// The shapes of every named collider, in insertion order.
    pub fn shapes(&self) -> Vec<SceneShape> {
        self.named
            .iter()
            .map(|n| {
                let shape = self.world.colliders[n.handle].shape();
                let kind = if let Some(c) = shape.as_cuboid() {
                    ShapeKind::Cuboid { half_extents: c.half_extents.to_array() }
                } else if let Some(b) = shape.as_ball() {
                    ShapeKind::Ball { radius: b.radius }
                } else if let Some(c) = shape.as_capsule() {
                    ShapeKind::Capsule { half_height: c.half_height(), radius: c.radius }
                } else if let Some(c) = shape.as_cylinder() {
                    ShapeKind::Cylinder { half_height: c.half_height, radius: c.radius }
                } else {
                    ShapeKind::Ball { radius: 0.01 }
                };
                SceneShape { name: n.name.to_string(), kind, color: n.color }
            })
            .collect()
    }

    /// Writes the world pose of every named collider into `out` (same order as [`Self::shapes`]).
    pub fn poses(&self, out: &mut [ScenePose]) {
        for (o, n) in out.iter_mut().zip(&self.named) {
            let p = self.world.colliders[n.handle].position();
            let q = p.rotation;
            *o = (p.translation.to_array(), [q.x, q.y, q.z, q.w]);
        }
    }

    /// Number of named colliders.
    pub fn len(&self) -> usize {
        self.named.len()
    }

    /// Whether the scene has no named collider (never, once built).
    pub fn is_empty(&self) -> bool {
        self.named.is_empty()
    }
}

impl Default for ManipScene {
    fn default() -> Self {
        ManipScene::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A free cube on the table, grasped and lifted: only friction holds it.
    #[test]
    fn fingers_grasp_and_lift_a_cube_by_friction() {
        let mut s = ManipScene::new();
        let cube = s.world.insert_body(RigidBodyBuilder::dynamic().translation(Vector::new(0.0, 0.0, 0.02)));
        s.add_collider(
            ColliderBuilder::cuboid(0.02, 0.02, 0.02).density(1000.0).friction(1.0),
            Some(cube),
            "cube",
            [200, 0, 0],
        );
        let goto = |s: &mut ManipScene, target: Vector, grip: f32, n: usize| {
            for _ in 0..n {
                let d = (target - s.tcp()) / MAX_HAND_STEP;
                s.step([d.x, d.y, d.z, grip]);
            }
        };
        goto(&mut s, Vector::new(0.0, 0.0, 0.1), -1.0, 60);
        goto(&mut s, Vector::new(0.0, 0.0, 0.034), -1.0, 30);
        assert!(s.opening() > 0.09, "open {}", s.opening());
        goto(&mut s, Vector::new(0.0, 0.0, 0.034), 1.0, 15);
        let w = s.opening();
        assert!((0.035..0.041).contains(&w), "closed on the cube: {w}");
        goto(&mut s, Vector::new(0.1, 0.1, 0.2), 1.0, 60);
        let p = s.world.bodies[cube].translation();
        let tcp = s.tcp();
        assert!(p.z > 0.15, "cube lifted: {p:?}, tcp {tcp:?}");
        assert!((p - tcp).length() < 0.03, "cube stays in the hand: {p:?} vs {tcp:?}");
        // Opening drops it.
        goto(&mut s, tcp, -1.0, 60);
        assert!(s.world.bodies[cube].translation().z < 0.03);
    }
}
