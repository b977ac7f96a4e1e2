//! Manipulation tasks on rapier3d (end-effector position control, two-finger gripper), in the
//! spirit of Meta-World v2 but our own scenes: a table, a hand moved by position deltas with two
//! force-limited fingers that grasp by friction, and objects on joints.
//!
//! - [`scene`]: the shared physics scene (table, hand, fingers) and its stepping.
//! - [`task`]: the nine tasks (objects, randomisation, goals, rewards, success).
//! - [`env`]: [`ManipEnv`], a task as an [`crate::Env`] with a [`crate::scene::SceneView`].
//! - [`scripted`]: a scripted policy per task.
//! - [`reward`]: tolerance-style reward terms.
//!
//! Registered ids: `Reach-v0`, `Push-v0`, `PickPlace-v0`, `DrawerOpen-v0`, `DrawerClose-v0`,
//! `ButtonPress-v0`, `DoorOpen-v0`, `WindowOpen-v0`, `WindowClose-v0`, each with a 500-step
//! time limit.

pub mod env;
pub mod reward;
pub mod scene;
pub mod scripted;
pub mod task;

pub use env::{ManipEnv, OBS_LEN};
pub use scripted::scripted_action;
pub use task::{ALL_TASKS, Task};

use crate::registry::{EnvSpec, MakeError, Options, Registry};

/// Episode length of every manipulation task (steps).
pub const MAX_EPISODE_STEPS: u64 = 500;

/// Registers every manipulation task.
pub fn register(registry: &mut Registry) {
    for task in ALL_TASKS {
        let spec = EnvSpec {
            id: task.id(),
            description: description(task),
            max_episode_steps: Some(MAX_EPISODE_STEPS),
            reward_threshold: None,
            options: vec![],
            entry_point: entry_point(task),
        };
        registry.register(spec).expect("manipulation ids are unique and well formed");
    }
}

fn description(task: Task) -> &'static str {
    match task {
        Task::Reach => "Move a two-finger hand to a goal point (rapier3d)",
        Task::Push => "Move a block across the table to a goal (rapier3d)",
        Task::PickPlace => "Pick a block up and hold it at a goal point in the air (rapier3d)",
        Task::DrawerOpen => "Pull a drawer open by its handle (rapier3d, prismatic joint)",
        Task::DrawerClose => "Push an open drawer closed (rapier3d, prismatic joint)",
        Task::ButtonPress => "Press a spring-loaded button from above (rapier3d, prismatic joint)",
        Task::DoorOpen => "Push a door open about its hinge (rapier3d, revolute joint)",
        Task::WindowOpen => "Slide a window open by its knob (rapier3d, prismatic joint)",
        Task::WindowClose => "Slide an open window closed by its knob (rapier3d, prismatic joint)",
    }
}

fn entry_point(task: Task) -> fn(&Options) -> Result<Box<dyn crate::Env>, MakeError> {
    match task {
        Task::Reach => |_| Ok(Box::new(ManipEnv::new(Task::Reach))),
        Task::Push => |_| Ok(Box::new(ManipEnv::new(Task::Push))),
        Task::PickPlace => |_| Ok(Box::new(ManipEnv::new(Task::PickPlace))),
        Task::DrawerOpen => |_| Ok(Box::new(ManipEnv::new(Task::DrawerOpen))),
        Task::DrawerClose => |_| Ok(Box::new(ManipEnv::new(Task::DrawerClose))),
        Task::ButtonPress => |_| Ok(Box::new(ManipEnv::new(Task::ButtonPress))),
        Task::DoorOpen => |_| Ok(Box::new(ManipEnv::new(Task::DoorOpen))),
        Task::WindowOpen => |_| Ok(Box::new(ManipEnv::new(Task::WindowOpen))),
        Task::WindowClose => |_| Ok(Box::new(ManipEnv::new(Task::WindowClose))),
    }
}
