//! The nine manipulation tasks: their objects, randomisation, goals, rewards and success tests.
//!
//! Every task shares the scene of [`super::scene`] and the observation layout of
//! [`super::ManipEnv`]. Each task has one "object point" it observes (the puck, a handle, the
//! button top, the door's push point, the window knob) and a goal position. Rewards lie in
//! `[0, 10]` and are built from [`tolerance`] terms; the formulas are on [`Task::reward`].

use rand::Rng;
use rapier3d::prelude::*;

use super::reward::tolerance;
use super::scene::{HAND_START, ManipScene};
use crate::env::EnvRng;

/// A manipulation task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Move the TCP to a goal point in free space.
    Reach,
    /// Move a block across the table to a goal on the table.
    Push,
    /// Pick a block up and hold it at a goal point in the air.
    PickPlace,
    /// Open a drawer (prismatic joint along −y) by its handle.
    DrawerOpen,
    /// Close an open drawer.
    DrawerClose,
    /// Press a spring-loaded button (prismatic joint along −z) from above.
    ButtonPress,
    /// Push a door (revolute joint about z) open, away from the robot.
    DoorOpen,
    /// Slide a window (prismatic joint along +x) open by its knob.
    WindowOpen,
    /// Slide an open window closed.
    WindowClose,
}

/// Every task, in the order of the suite.
pub const ALL_TASKS: [Task; 9] = [
    Task::Reach,
    Task::Push,
    Task::PickPlace,
    Task::DrawerOpen,
    Task::DrawerClose,
    Task::ButtonPress,
    Task::DoorOpen,
    Task::WindowOpen,
    Task::WindowClose,
];

/// Half extents of the block of `Push` and `PickPlace` (metres).
pub const BLOCK_HALF: f32 = 0.02;
/// Half extents of the drawer box (metres); its front face is at local `y = −0.1`.
pub const DRAWER_HALF: [f32; 3] = [0.1, 0.1, 0.04];
/// The drawer handle bar's centre in the drawer frame (metres).
pub const DRAWER_HANDLE: [f32; 3] = [0.0, -0.15, 0.0];
/// How far the drawer can slide out (metres).
pub const DRAWER_TRAVEL: f32 = 0.2;
/// Opening at which the drawer counts as open, and the goal's opening (metres).
pub const DRAWER_OPEN_SUCCESS: f32 = 0.12;
/// Opening of the drawer's goal (drawer-open) and start (drawer-close) (metres).
pub const DRAWER_OPEN_GOAL: f32 = 0.15;
/// Opening below which a drawer or window counts as closed (metres).
pub const CLOSED_SUCCESS: f32 = 0.02;
/// Half extents of the button cap (metres).
pub const BUTTON_HALF: [f32; 3] = [0.025, 0.025, 0.01];
/// Half extents of the button's fixed base (metres).
pub const BUTTON_BASE_HALF: [f32; 3] = [0.04, 0.04, 0.02];
/// Button travel (metres).
pub const BUTTON_TRAVEL: f32 = 0.02;
/// Depression at which the button counts as pressed (metres).
pub const BUTTON_SUCCESS: f32 = 0.015;
/// Half extents of the door panel (metres); the hinge is its `−x` edge.
pub const DOOR_HALF: [f32; 3] = [0.12, 0.01, 0.08];
/// The door's push point (on its −y face, near the free edge) in the door frame (metres).
pub const DOOR_PUSH_POINT: [f32; 3] = [0.09, -0.01, 0.0];
/// Door angle (radians, about +z, positive = away from the robot) that counts as open.
pub const DOOR_SUCCESS: f32 = 1.0;
/// Door angle of the goal (radians).
pub const DOOR_GOAL: f32 = 1.2;
/// Half extents of the window pane (metres).
pub const WINDOW_HALF: [f32; 3] = [0.1, 0.01, 0.08];
/// The window knob's centre in the pane frame (metres).
pub const WINDOW_KNOB: [f32; 3] = [-0.07, -0.03, 0.0];
/// Half extents of the window knob (metres).
pub const WINDOW_KNOB_HALF: [f32; 3] = [0.01, 0.02, 0.02];
/// How far the window can slide (metres).
pub const WINDOW_TRAVEL: f32 = 0.2;
/// Window opening that counts as open (metres).
pub const WINDOW_OPEN_SUCCESS: f32 = 0.12;
/// Window opening of the goal (window-open) and start (window-close) (metres).
pub const WINDOW_OPEN_GOAL: f32 = 0.15;
/// Gap between the bottom of jointed furniture and the table top (metres).
const FLOAT: f32 = 0.005;

const OBJECT_FRICTION: f32 = 1.0;

impl Task {
    /// The registry id, e.g. `"DrawerOpen-v0"`.
    pub fn id(self) -> &'static str {
        match self {
            Task::Reach => "Reach-v0",
            Task::Push => "Push-v0",
            Task::PickPlace => "PickPlace-v0",
            Task::DrawerOpen => "DrawerOpen-v0",
            Task::DrawerClose => "DrawerClose-v0",
            Task::ButtonPress => "ButtonPress-v0",
            Task::DoorOpen => "DoorOpen-v0",
            Task::WindowOpen => "WindowOpen-v0",
            Task::WindowClose => "WindowClose-v0",
        }
    }

    /// The short name, e.g. `"drawer-open"`.
    pub fn name(self) -> &'static str {
        match self {
            Task::Reach => "reach",
            Task::Push => "push",
            Task::PickPlace => "pick-place",
            Task::DrawerOpen => "drawer-open",
            Task::DrawerClose => "drawer-close",
            Task::ButtonPress => "button-press",
            Task::DoorOpen => "door-open",
            Task::WindowOpen => "window-open",
            Task::WindowClose => "window-close",
        }
    }

    /// Builds the task's scene with objects and goal drawn from `rng`.
    pub fn build(self, rng: &mut EnvRng) -> (ManipScene, Layout) {
        let mut s = ManipScene::new();
        let mut u = |lo: f32, hi: f32| lo + (hi - lo) * rng.random::<f32>();
        let mut layout = Layout {
            task: self,
            body: None,
            anchor: Vector::ZERO,
            goal: Vector::ZERO,
            rest_z: 0.0,
            reach_margin: 0.0,
            place_margin: 0.0,
        };
        match self {
            Task::Reach => {
                let start = Vector::from_array(HAND_START);
                // Goals at least 15 cm from the start, so that a random walk rarely finds them.
                let mut g = start;
                while (g - start).length() < 0.15 {
                    g = Vector::new(u(-0.25, 0.25), u(0.0, 0.3), u(0.05, 0.3));
                }
                layout.goal = g;
            }
            Task::Push | Task::PickPlace => {
                let o = Vector::new(u(-0.15, 0.15), u(-0.05, 0.1), BLOCK_HALF);
                let mut g = o;
                while (g - o).truncate().length() < 0.15 {
                    g = if self == Task::Push {
                        Vector::new(u(-0.2, 0.2), u(0.1, 0.3), BLOCK_HALF)
                    } else {
                        Vector::new(u(-0.2, 0.2), u(0.1, 0.3), u(0.08, 0.25))
                    };
                }
                let b = s.world.insert_body(RigidBodyBuilder::dynamic().translation(o).can_sleep(false));
                s.add_collider(
                    ColliderBuilder::cuboid(BLOCK_HALF, BLOCK_HALF, BLOCK_HALF)
                        .density(1000.0)
                        .friction(OBJECT_FRICTION),
                    Some(b),
                    "block",
                    [200, 40, 40],
                );
                layout.body = Some(b);
                layout.goal = g;
                layout.rest_z = BLOCK_HALF;
            }
            Task::DrawerOpen | Task::DrawerClose => {
                // The open drawer of drawer-close sits 5 cm further back, so that a random walk
                // of the hand rarely ratchets it shut.
                let (q0, y0) = if self == Task::DrawerOpen { (0.0, 0.15) } else { (DRAWER_OPEN_GOAL, 0.2) };
                let c = Vector::new(u(-0.15, 0.15), u(y0, y0 + 0.15), FLOAT + DRAWER_HALF[2]);
                let [hx, hy, hz] = DRAWER_HALF;
                s.add_collider(
                    ColliderBuilder::cuboid(hx + 0.01, hy, hz + 0.01).translation(c),
                    None,
                    "drawer/cabinet",
                    [120, 100, 80],
                );
                let b = s.world.insert_body(
                    RigidBodyBuilder::dynamic()
                        .translation(c - Vector::Y * q0)
                        .gravity_scale(0.0)
                        .can_sleep(false),
                );
                s.add_collider(
                    ColliderBuilder::cuboid(hx, hy, hz).density(100.0),
                    Some(b),
                    "drawer/box",
                    [170, 140, 100],
                );
                add_drawer_handle(&mut s, b, Vector::from_array(DRAWER_HANDLE));
                let joint = PrismaticJointBuilder::new(-Vector::Y)
                    .local_anchor1(c)
                    .local_anchor2(Vector::ZERO)
                    .limits([0.0, DRAWER_TRAVEL])
                    .motor_model(MotorModel::ForceBased)
                    .motor_velocity(0.0, 1.0)
                    .contacts_enabled(false);
                let ground = s.ground;
                s.world.insert_impulse_joint(ground, b, joint);
                let goal_q = if self == Task::DrawerOpen { DRAWER_OPEN_GOAL } else { 0.0 };
                layout.body = Some(b);
                layout.anchor = c;
                layout.goal = c + Vector::from_array(DRAWER_HANDLE) - Vector::Y * goal_q;
            }
            Task::ButtonPress => {
                let base = Vector::new(u(-0.15, 0.15), u(0.0, 0.2), BUTTON_BASE_HALF[2]);
                let [bx, by, bz] = BUTTON_BASE_HALF;
                s.add_collider(
                    ColliderBuilder::cuboid(bx, by, bz).translation(base),
                    None,
                    "button/base",
                    [90, 90, 90],
                );
                let rest = base + Vector::new(0.0, 0.0, bz + BUTTON_HALF[2] + 0.001);
                let b = s.world.insert_body(
                    RigidBodyBuilder::dynamic().translation(rest).gravity_scale(0.0).can_sleep(false),
                );
                let [cx, cy, cz] = BUTTON_HALF;
                s.add_collider(
                    ColliderBuilder::cuboid(cx, cy, cz).density(1000.0),
                    Some(b),
                    "button/cap",
                    [220, 30, 30],
                );
                let joint = PrismaticJointBuilder::new(-Vector::Z)
                    .local_anchor1(rest)
                    .local_anchor2(Vector::ZERO)
                    .limits([0.0, BUTTON_TRAVEL])
                    .motor_model(MotorModel::ForceBased)
                    .motor_position(0.0, 100.0, 2.0)
                    .contacts_enabled(false);
                let ground = s.ground;
                s.world.insert_impulse_joint(ground, b, joint);
                layout.body = Some(b);
                layout.anchor = rest;
                layout.rest_z = rest.z + cz;
                layout.goal = Vector::new(rest.x, rest.y, layout.rest_z - BUTTON_TRAVEL);
            }
            Task::DoorOpen => {
                let hinge = Vector::new(u(-0.2, 0.0), u(0.1, 0.25), FLOAT + DOOR_HALF[2]);
                let [hx, hy, hz] = DOOR_HALF;
                s.add_collider(
                    ColliderBuilder::cuboid(0.015, 0.015, hz + 0.02)
                        .translation(hinge - Vector::new(0.015, 0.0, 0.0)),
                    None,
                    "door/frame",
                    [120, 100, 80],
                );
                let b = s.world.insert_body(
                    RigidBodyBuilder::dynamic()
                        .translation(hinge + Vector::new(hx, 0.0, 0.0))
                        .gravity_scale(0.0)
                        .can_sleep(false),
                );
                s.add_collider(
                    ColliderBuilder::cuboid(hx, hy, hz).density(500.0),
                    Some(b),
                    "door/panel",
                    [170, 140, 100],
                );
                let joint = RevoluteJointBuilder::new(Vector::Z)
                    .local_anchor1(hinge)
                    .local_anchor2(Vector::new(-hx, 0.0, 0.0))
                    .limits([0.0, std::f32::consts::FRAC_PI_2])
                    .motor_model(MotorModel::ForceBased)
                    .motor_velocity(0.0, 0.05)
                    .contacts_enabled(false);
                let ground = s.ground;
                s.world.insert_impulse_joint(ground, b, joint);
                layout.body = Some(b);
                layout.anchor = hinge;
                layout.goal = door_point(hinge, DOOR_GOAL);
            }
            Task::WindowOpen | Task::WindowClose => {
                let c = Vector::new(u(-0.15, 0.05), u(0.1, 0.25), FLOAT + WINDOW_HALF[2]);
                let q0 = if self == Task::WindowOpen { 0.0 } else { WINDOW_OPEN_GOAL };
                let [hx, hy, hz] = WINDOW_HALF;
                s.add_collider(
                    ColliderBuilder::cuboid(hx + WINDOW_TRAVEL / 2.0 + 0.01, 0.01, 0.01)
                        .translation(c + Vector::new(WINDOW_TRAVEL / 2.0, 0.02, hz + 0.01)),
                    None,
                    "window/rail",
                    [120, 100, 80],
                );
                let b = s.world.insert_body(
                    RigidBodyBuilder::dynamic()
                        .translation(c + Vector::X * q0)
                        .gravity_scale(0.0)
                        .can_sleep(false),
                );
                s.add_collider(
                    ColliderBuilder::cuboid(hx, hy, hz).density(300.0),
                    Some(b),
                    "window/pane",
                    [150, 190, 220],
                );
                let [kx, ky, kz] = WINDOW_KNOB_HALF;
                s.add_collider(
                    ColliderBuilder::cuboid(kx, ky, kz)
                        .translation(Vector::from_array(WINDOW_KNOB))
                        .density(300.0)
                        .friction(OBJECT_FRICTION),
                    Some(b),
                    "window/knob",
                    [60, 60, 60],
                );
                let joint = PrismaticJointBuilder::new(Vector::X)
                    .local_anchor1(c)
                    .local_anchor2(Vector::ZERO)
                    .limits([0.0, WINDOW_TRAVEL])
                    .motor_model(MotorModel::ForceBased)
                    .motor_velocity(0.0, 1.0)
                    .contacts_enabled(false);
                let ground = s.ground;
                s.world.insert_impulse_joint(ground, b, joint);
                let goal_q = if self == Task::WindowOpen { WINDOW_OPEN_GOAL } else { 0.0 };
                layout.body = Some(b);
                layout.anchor = c;
                layout.goal = c + Vector::from_array(WINDOW_KNOB) + Vector::X * goal_q;
            }
        }
        let (obj, _) = layout.object_pose(&s);
        let tcp = s.tcp();
        layout.reach_margin =
            if self == Task::Reach { (tcp - layout.goal).length() } else { (tcp - obj).length() };
        layout.place_margin = (obj - layout.goal).length();
        (s, layout)
    }

    /// The task with this short name (`"drawer-open"`) or id (`"DrawerOpen-v0"`).
    pub fn from_name(name: &str) -> Option<Task> {
        ALL_TASKS.into_iter().find(|t| t.name() == name || t.id() == name)
    }
}

/// The world position of the door's push point at door angle `theta` about a hinge at `hinge`.
pub fn door_point(hinge: Vector, theta: f32) -> Vector {
    let local = Vector::from_array(DOOR_PUSH_POINT) + Vector::new(DOOR_HALF[0], 0.0, 0.0);
    hinge + Rotation::from_rotation_z(theta) * local
}

/// The drawer handle: a bar parallel to x, 4 cm in front of the drawer, on two posts; the gap
/// between bar and drawer front takes the closed fingers.
fn add_drawer_handle(s: &mut ManipScene, body: RigidBodyHandle, centre: Vector) {
    let (bar, post) = ("drawer/handle", ["drawer/post_left", "drawer/post_right"]);
    s.add_collider(
        ColliderBuilder::cuboid(0.06, 0.01, 0.01)
            .translation(centre)
            .density(100.0)
            .friction(OBJECT_FRICTION),
        Some(body),
        bar,
        [60, 60, 60],
    );
    for (i, side) in [-1.0f32, 1.0].into_iter().enumerate() {
        s.add_collider(
            ColliderBuilder::cuboid(0.01, 0.02, 0.01)
                .translation(centre + Vector::new(side * 0.05, 0.03, 0.0))
                .density(100.0),
            Some(body),
            post[i],
            [60, 60, 60],
        );
    }
}

/// What one episode of a task was built with (handles, random draws, goal, reward margins).
#[derive(Debug, Clone)]
pub struct Layout {
    /// The task.
    pub task: Task,
    /// The moving object's body (block, drawer, button cap, door, window pane).
    pub body: Option<RigidBodyHandle>,
    /// Where the object's joint is anchored: drawer/window closed centre, button rest centre,
    /// door hinge (metres, world).
    pub anchor: Vector,
    /// Goal position (metres, world).
    pub goal: Vector,
    /// Block resting height / button top at rest (metres).
    pub rest_z: f32,
    /// Initial TCP-to-object (reach: TCP-to-goal) distance, the reach term's margin (metres).
    pub reach_margin: f32,
    /// Initial object-to-goal distance (metres).
    pub place_margin: f32,
}

impl Layout {
    /// The observed object point and its body's orientation (identity for reach).
    pub fn object_pose(&self, s: &ManipScene) -> (Vector, Rotation) {
        let Some(b) = self.body else {
            return (Vector::ZERO, Rotation::IDENTITY);
        };
        let body = &s.world.bodies[b];
        let (p, q) = (body.translation(), *body.rotation());
        let point = match self.task {
            Task::Reach | Task::Push | Task::PickPlace => p,
            Task::DrawerOpen | Task::DrawerClose => p + Vector::from_array(DRAWER_HANDLE),
            Task::ButtonPress => p + Vector::new(0.0, 0.0, BUTTON_HALF[2]),
            Task::DoorOpen => body.position().transform_point(Vector::from_array(DOOR_PUSH_POINT)),
            Task::WindowOpen | Task::WindowClose => p + Vector::from_array(WINDOW_KNOB),
        };
        (point, q)
    }

    /// The task's joint coordinate: drawer/window opening (m), button depression (m), door angle
    /// (rad); 0 for the free-object tasks.
    pub fn joint_coordinate(&self, s: &ManipScene) -> f32 {
        let Some(b) = self.body else { return 0.0 };
        let body = &s.world.bodies[b];
        let p = body.translation();
        match self.task {
            Task::Reach | Task::Push | Task::PickPlace => 0.0,
            Task::DrawerOpen | Task::DrawerClose => self.anchor.y - p.y,
            Task::ButtonPress => self.anchor.z - p.z,
            Task::DoorOpen => {
                let q = body.rotation();
                2.0 * q.z.atan2(q.w)
            }
            Task::WindowOpen | Task::WindowClose => p.x - self.anchor.x,
        }
    }

    /// Whether the task is solved in the current state (thresholds on [`Self::reward`]).
    pub fn success(&self, s: &ManipScene) -> bool {
        let (obj, _) = self.object_pose(s);
        let q = self.joint_coordinate(s);
        match self.task {
            Task::Reach => (s.tcp() - self.goal).length() < 0.05,
            Task::Push => (obj - self.goal).truncate().length() < 0.05,
            Task::PickPlace => (obj - self.goal).length() < 0.05,
            Task::DrawerOpen => q >= DRAWER_OPEN_SUCCESS,
            Task::WindowOpen => q >= WINDOW_OPEN_SUCCESS,
            Task::DrawerClose | Task::WindowClose => q <= CLOSED_SUCCESS,
            Task::ButtonPress => q >= BUTTON_SUCCESS,
            Task::DoorOpen => q >= DOOR_SUCCESS,
        }
    }

    /// The dense reward of the current state, in `[0, 10]`:
    ///
    /// `r = 10 · Σ wᵢ · tolᵢ` with [`tolerance`] terms, `d(a, b)` Euclidean distances in metres,
    /// `reach(w) = tol(d(tcp, obj), 0, w, d₀(tcp, obj))` (margin: the initial distance), and `q`
    /// the [`Self::joint_coordinate`]:
    /// - reach: `tol(d(tcp, goal), 0, 0.05, d₀(tcp, goal))`
    /// - push: `0.3 reach(0.02) + 0.7 tol(d_xy(obj, goal), 0, 0.05, d₀(obj, goal))`
    /// - pick-place: `0.2 reach(0.02) + 0.1 tol(z_obj − z_rest, 0.02, ∞, 0.02)
    ///   + 0.7 tol(d(obj, goal), 0, 0.05, d₀(obj, goal))`
    /// - drawer-open: `0.3 reach(0.03) + 0.7 tol(q, 0.15, ∞, 0.15)`
    /// - drawer-close: `0.3 reach(0.03) + 0.7 tol(q, −∞, 0, 0.15)`
    /// - button-press: `0.3 reach(0.03) + 0.7 tol(q, 0.02, ∞, 0.02)`
    /// - door-open: `0.3 reach(0.03) + 0.7 tol(q, 1.2, ∞, 1.2)` (q in radians)
    /// - window-open / -close: as drawer-open / -close.
    ///
    /// Success ([`Self::success`]): reach `d(tcp, goal) < 0.05`; push `d_xy(obj, goal) < 0.05`;
    /// pick-place `d(obj, goal) < 0.05`; drawer/window open `q ≥ 0.12`; closed `q ≤ 0.02`;
    /// button `q ≥ 0.015`; door `q ≥ 1.0 rad`.
    pub fn reward(&self, s: &ManipScene) -> f32 {
        let tcp = s.tcp();
        let (obj, _) = self.object_pose(s);
        let q = self.joint_coordinate(s);
        let reach = |inner: f32| tolerance((tcp - obj).length(), 0.0, inner, self.reach_margin);
        let r = match self.task {
            Task::Reach => tolerance((tcp - self.goal).length(), 0.0, 0.05, self.reach_margin),
            Task::Push => {
                let place = tolerance((obj - self.goal).truncate().length(), 0.0, 0.05, self.place_margin);
                0.3 * reach(0.02) + 0.7 * place
            }
            Task::PickPlace => {
                let lift = tolerance(obj.z - self.rest_z, 0.02, f32::INFINITY, 0.02);
                let place = tolerance((obj - self.goal).length(), 0.0, 0.05, self.place_margin);
                0.2 * reach(0.02) + 0.1 * lift + 0.7 * place
            }
            Task::DrawerOpen => {
                0.3 * reach(0.03) + 0.7 * tolerance(q, DRAWER_OPEN_GOAL, f32::INFINITY, DRAWER_OPEN_GOAL)
            }
            Task::DrawerClose => {
                0.3 * reach(0.03) + 0.7 * tolerance(q, f32::NEG_INFINITY, 0.0, DRAWER_OPEN_GOAL)
            }
            Task::ButtonPress => {
                0.3 * reach(0.03) + 0.7 * tolerance(q, BUTTON_TRAVEL, f32::INFINITY, BUTTON_TRAVEL)
            }
            Task::DoorOpen => 0.3 * reach(0.03) + 0.7 * tolerance(q, DOOR_GOAL, f32::INFINITY, DOOR_GOAL),
            Task::WindowOpen => {
                0.3 * reach(0.03) + 0.7 * tolerance(q, WINDOW_OPEN_GOAL, f32::INFINITY, WINDOW_OPEN_GOAL)
            }
            Task::WindowClose => {
                0.3 * reach(0.03) + 0.7 * tolerance(q, f32::NEG_INFINITY, 0.0, WINDOW_OPEN_GOAL)
            }
        };
        10.0 * r
    }
}
