//! [`ManipEnv`]: one manipulation [`Task`] as an [`Env`].

use crate::env::{Env, EnvError, EnvRandom, Info, Step, check_len};
use crate::scene::{ScenePose, SceneShape, SceneView};
use crate::space::{DType, Space};

use super::scene::{HAND_HIGH, HAND_LOW, ManipScene, OPENING_MAX};
use super::task::{Layout, Task};

/// Length of the observation vector of every manipulation task.
pub const OBS_LEN: usize = 14;

/// Index of the first observation entry of each part (see [`ManipEnv`]).
pub mod obs {
    /// TCP position x, y, z (metres, world).
    pub const TCP: usize = 0;
    /// Gap between the fingers (metres).
    pub const OPENING: usize = 3;
    /// Object point x, y, z (metres, world).
    pub const OBJECT: usize = 4;
    /// Object body orientation, unit quaternion `[x, y, z, w]`.
    pub const OBJECT_QUAT: usize = 7;
    /// Goal x, y, z (metres, world).
    pub const GOAL: usize = 11;
}

/// A manipulation task on the shared rapier3d scene (see [`super::scene`]).
///
/// - Action (`Box[-1, 1]^4`, float32): `[dx, dy, dz, grip]`; the TCP target moves by
///   `0.01 m · d*` per step (clipped to the workspace); `grip = +1` closes the fingers fully,
///   `−1` opens them, values between set the commanded gap linearly. Out-of-range finite values
///   are clipped; NaN or infinite values are errors.
/// - Observation (14 × float32, see [`obs`]): TCP position (3), finger gap (1), object point (3),
///   object orientation quaternion `[x, y, z, w]` (4), goal (3). Metres, world frame (z up,
///   table top at z = 0). Reach has no object: zeros and the identity quaternion.
/// - Reward: dense, in `[0, 10]`, formulas on [`Layout::reward`]; `info["success"]` is 1.0 when
///   the task is solved in the current state, else 0.0. There is no termination; the registry's
///   time limit truncates episodes at 500 steps.
/// - One step is 2 physics steps of 10 ms (rapier's solver runs 4 substeps inside each).
///   Object and goal positions are drawn from the reset seed; the same seed gives a
///   bit-identical episode (rapier is deterministic on one machine).
/// - `step` allocates nothing in our code; rapier's pipeline may allocate inside
///   `PhysicsWorld::step` (out of our hands). `reset` rebuilds the world (allocates).
pub struct ManipEnv {
    task: Task,
    scene: ManipScene,
    layout: Layout,
    has_state: bool,
    random: EnvRandom,
    observation_space: Space,
    action_space: Space,
}

impl std::fmt::Debug for ManipEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManipEnv")
            .field("task", &self.task)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl ManipEnv {
    /// The env of `task`; its scene (for [`SceneView`]) is the layout of seed 0 until the first reset.
    pub fn new(task: Task) -> Self {
        use rand::SeedableRng;
        let (scene, layout) = task.build(&mut crate::env::EnvRng::seed_from_u64(0));
        let inf = f64::INFINITY;
        let mut low = vec![-inf; OBS_LEN];
        let mut high = vec![inf; OBS_LEN];
        for i in 0..3 {
            low[obs::TCP + i] = HAND_LOW[i] as f64;
            high[obs::TCP + i] = HAND_HIGH[i] as f64;
        }
        low[obs::OPENING] = 0.0;
        high[obs::OPENING] = OPENING_MAX as f64 + 0.01;
        for i in 0..4 {
            low[obs::OBJECT_QUAT + i] = -1.0;
            high[obs::OBJECT_QUAT + i] = 1.0;
        }
        ManipEnv {
            task,
            scene,
            layout,
            has_state: false,
            random: EnvRandom::default(),
            observation_space: Space::box_from_bounds(low, high, DType::F32).expect("valid bounds"),
            action_space: Space::box_from_bounds(vec![-1.0; 4], vec![1.0; 4], DType::F32)
                .expect("valid bounds"),
        }
    }

    /// The task.
    pub fn task(&self) -> Task {
        self.task
    }

    /// The physics scene.
    pub fn physics(&self) -> &ManipScene {
        &self.scene
    }

    /// The current episode's layout (goal, joint anchor, margins).
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Whether the task is solved now.
    pub fn is_success(&self) -> bool {
        self.layout.success(&self.scene)
    }

    fn write_obs(&self, out: &mut [f64]) {
        let tcp = self.scene.tcp();
        let (p, q) = self.layout.object_pose(&self.scene);
        let g = self.layout.goal;
        let vals =
            [tcp.x, tcp.y, tcp.z, self.scene.opening(), p.x, p.y, p.z, q.x, q.y, q.z, q.w, g.x, g.y, g.z];
        for (o, v) in out.iter_mut().zip(vals) {
            *o = v as f64;
        }
        // The TCP is clamped to the workspace, but rounding of the kinematic interpolation may
        // leave it a few ulps outside; keep the observation inside its space.
        for i in 0..3 {
            out[obs::TCP + i] = out[obs::TCP + i].clamp(HAND_LOW[i] as f64, HAND_HIGH[i] as f64);
        }
    }
}

impl Env for ManipEnv {
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], info: &mut Info) -> Result<(), EnvError> {
        check_len("observation", obs, OBS_LEN)?;
        let rng = self.random.reseed(seed);
        let (scene, layout) = self.task.build(rng);
        self.scene = scene;
        self.layout = layout;
        self.has_state = true;
        self.write_obs(obs);
        info.set("success", if self.is_success() { 1.0 } else { 0.0 });
        Ok(())
    }

    fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
        check_len("action", action, 4)?;
        check_len("observation", obs, OBS_LEN)?;
        if action.iter().any(|a| !a.is_finite()) {
            return Err(crate::classic::invalid_action(action, &self.action_space));
        }
        if !self.has_state {
            return Err(EnvError::NeedsReset("manipulation env: call reset before step"));
        }
        self.scene.step([action[0] as f32, action[1] as f32, action[2] as f32, action[3] as f32]);
        let reward = self.layout.reward(&self.scene) as f64;
        self.write_obs(obs);
        info.set("success", if self.is_success() { 1.0 } else { 0.0 });
        Ok(Step { reward, terminated: false, truncated: false })
    }

    fn render(&self) -> Option<String> {
        let tcp = self.scene.tcp();
        let (p, _) = self.layout.object_pose(&self.scene);
        Some(format!(
            "{} tcp=({:+.3},{:+.3},{:+.3}) m gap={:.3} m object=({:+.3},{:+.3},{:+.3}) m q={:+.3} success={}",
            self.task.name(),
            tcp.x,
            tcp.y,
            tcp.z,
            self.scene.opening(),
            p.x,
            p.y,
            p.z,
            self.layout.joint_coordinate(&self.scene),
            self.is_success()
        ))
    }

    fn name(&self) -> &str {
        self.task.id()
    }

    fn scene(&self) -> Option<&dyn SceneView> {
        Some(self)
    }
}

impl SceneView for ManipEnv {
    fn shapes(&self) -> Vec<SceneShape> {
        self.scene.shapes()
    }

    fn poses(&self, out: &mut [ScenePose]) {
        self.scene.poses(out)
    }

    fn goal(&self) -> Option<[f32; 3]> {
        Some(self.layout.goal.to_array())
    }
}
