//! Scripted policies: one small state machine per task that reads only the observation, in the
//! manner of Meta-World's `policies/` (the phase is recomputed from the observation each step,
//! so a policy has no hidden state and can take over mid-episode).
//!
//! They exist to show that each task is solvable and to generate demonstrations and preference
//! data. Each returns an action in `[-1, 1]^4` that moves the TCP toward a phase-dependent target
//! with a proportional gain ([`GAIN`]).

use rapier3d::prelude::{Rotation, Vector};

use super::env::obs;
use super::scene::{HAND_LOW, MAX_HAND_STEP};
use super::task::{BLOCK_HALF, DOOR_HALF, DOOR_PUSH_POINT, Task};

/// Fraction of the remaining distance to the target covered per step (until the 1 cm cap).
pub const GAIN: f32 = 0.5;

/// The parts of a manipulation observation the policies use.
#[derive(Debug, Clone, Copy)]
struct View {
    tcp: Vector,
    gap: f32,
    obj: Vector,
    quat: Rotation,
    goal: Vector,
}

fn view(o: &[f64]) -> View {
    let v3 = |i: usize| Vector::new(o[i] as f32, o[i + 1] as f32, o[i + 2] as f32);
    let q = obs::OBJECT_QUAT;
    View {
        tcp: v3(obs::TCP),
        gap: o[obs::OPENING] as f32,
        obj: v3(obs::OBJECT),
        quat: Rotation::from_xyzw(o[q] as f32, o[q + 1] as f32, o[q + 2] as f32, o[q + 3] as f32),
        goal: v3(obs::GOAL),
    }
}

/// Moves toward `target` with gripper command `grip`.
fn goto(tcp: Vector, target: Vector, grip: f32) -> [f64; 4] {
    let d = (target - tcp) * (GAIN / MAX_HAND_STEP);
    [d.x, d.y, d.z, grip].map(|x| x.clamp(-1.0, 1.0) as f64)
}

fn dist_xy(a: Vector, b: Vector) -> f32 {
    (a - b).truncate().length()
}

/// TCP height for grasping a block on the table (fingertips just above the table).
const GRASP_Z: f32 = HAND_LOW[2] + 0.002;
/// Hover height above an object before descending (metres, added to the object's z).
const HOVER: f32 = 0.1;
/// Open / closed gripper commands.
const OPEN: f32 = -1.0;
const CLOSE: f32 = 1.0;

/// The scripted action for `task` given an observation (packed, as [`super::ManipEnv`] writes it).
///
/// # Panics
/// If `observation.len()` is shorter than [`super::env::OBS_LEN`].
pub fn scripted_action(task: Task, observation: &[f64]) -> [f64; 4] {
    let v = view(observation);
    match task {
        Task::Reach => goto(v.tcp, v.goal, OPEN),
        Task::Push | Task::PickPlace => pick(task, &v),
        Task::DrawerOpen => hook(&v, 0.03, v.goal.y + 0.03 - 0.02),
        Task::DrawerClose => hook(&v, -0.03, v.goal.y - 0.03 + 0.01),
        Task::ButtonPress => {
            let top = v.obj;
            if dist_xy(v.tcp, top) > 0.008 {
                goto(v.tcp, top + Vector::Z * HOVER, CLOSE)
            } else {
                // Fingertips (0.03 below the TCP) to 2 mm above the fully pressed height.
                goto(v.tcp, Vector::new(top.x, top.y, v.goal.z + 0.03 + 0.002), CLOSE)
            }
        }
        Task::DoorOpen => door(&v),
        Task::WindowOpen => slide(&v, -1.0),
        Task::WindowClose => slide(&v, 1.0),
    }
}

/// Grasp the block, then carry it (pick-place) or drag it along the table (push).
fn pick(task: Task, v: &View) -> [f64; 4] {
    let (o, tcp) = (v.obj, v.tcp);
    let near = dist_xy(tcp, o) < 0.02 && (tcp.z - o.z).abs() < 0.03;
    let held = near && (0.03..0.046).contains(&v.gap);
    if held {
        let mut target = v.goal + (tcp - o);
        if task == Task::Push {
            target.z = GRASP_Z + 0.004;
        }
        return goto(tcp, target, CLOSE);
    }
    if dist_xy(tcp, o) > 0.012 || v.gap < 0.03 {
        if tcp.z < 0.07 && (dist_xy(tcp, o) > 0.03 || v.gap < 0.03) {
            // Low and off target (or closed on nothing): rise with the fingers open first.
            return goto(tcp, Vector::new(tcp.x, tcp.y, 0.1), OPEN);
        }
        return goto(tcp, Vector::new(o.x, o.y, BLOCK_HALF + HOVER), OPEN);
    }
    if tcp.z > GRASP_Z + 0.004 {
        return goto(tcp, Vector::new(o.x, o.y, GRASP_Z), OPEN);
    }
    goto(tcp, Vector::new(o.x, o.y, GRASP_Z), CLOSE)
}

/// Drawers: put the closed fingers `dy` from the handle bar (+0.03: in the gap behind it, to
/// pull; −0.03: in front of it, to push) and move the TCP along y to `target_y`.
fn hook(v: &View, dy: f32, target_y: f32) -> [f64; 4] {
    let h = v.obj;
    let at = h + Vector::new(0.0, dy, 0.0);
    if dist_xy(v.tcp, at) > 0.015 {
        return goto(v.tcp, at + Vector::Z * HOVER, CLOSE);
    }
    if v.tcp.z > h.z + 0.005 {
        return goto(v.tcp, at, CLOSE);
    }
    goto(v.tcp, Vector::new(at.x, target_y, h.z), CLOSE)
}

/// Windows: stand beside the knob on the `side` (−1: −x side, to push +x) and push it along x
/// until it is 1 cm past the goal.
fn slide(v: &View, side: f32) -> [f64; 4] {
    let k = v.obj;
    let behind = k + Vector::X * (side * 0.045);
    let rel = side * (v.tcp.x - k.x);
    let pushing =
        (v.tcp.y - k.y).abs() < 0.01 && (v.tcp.z - k.z).abs() < 0.01 && (0.015..0.06).contains(&rel);
    if pushing {
        // Contact when the TCP is 0.031 from the knob centre (finger 0.021 + knob 0.01).
        let x = v.goal.x + side * 0.031 - side * 0.01;
        return goto(v.tcp, Vector::new(x, k.y, k.z), CLOSE);
    }
    if dist_xy(v.tcp, behind) > 0.01 {
        return goto(v.tcp, behind + Vector::Z * HOVER, CLOSE);
    }
    goto(v.tcp, behind, CLOSE)
}

/// The door: stand 4 cm in front of the push point and push along the door's arc.
fn door(v: &View) -> [f64; 4] {
    let theta = 2.0 * v.quat.z.atan2(v.quat.w);
    let rot = Rotation::from_rotation_z(theta);
    let local_push = Vector::from_array(DOOR_PUSH_POINT) + Vector::new(DOOR_HALF[0], 0.0, 0.0);
    let hinge = v.obj - rot * local_push;
    let local_tcp = rot.inverse() * (v.tcp - hinge);
    let z = v.obj.z;
    let in_place = (0.12..0.25).contains(&local_tcp.x)
        && (-0.06..0.0).contains(&local_tcp.y)
        && (v.tcp.z - z).abs() < 0.01;
    if in_place {
        let ahead = Rotation::from_rotation_z(theta + 0.25) * Vector::new(local_push.x, -0.02, 0.0);
        return goto(v.tcp, Vector::new(hinge.x + ahead.x, hinge.y + ahead.y, z), CLOSE);
    }
    let approach = hinge + rot * Vector::new(local_push.x, -0.05, 0.0);
    if dist_xy(v.tcp, approach) > 0.01 {
        return goto(v.tcp, Vector::new(approach.x, approach.y, z + 0.02), CLOSE);
    }
    goto(v.tcp, Vector::new(approach.x, approach.y, z), CLOSE)
}
