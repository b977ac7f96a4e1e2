//! [`FrameStack`]: Gymnasium 1.x's `FrameStackObservation`.

use crate::env::{Env, EnvError, Info, Step, check_len};
use crate::space::{BoxSpace, Space};
use crate::wrappers::require_box;

/// What fills the stack after a reset, before `stack_size - 1` steps have been taken.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Padding {
    /// Repeat the reset observation (Gymnasium's default, `padding_type="reset"`).
    #[default]
    Reset,
    /// Zeros (`padding_type="zero"`), moved into the bounds where 0 lies outside them (as
    /// Gymnasium's `create_zero_array`: `low` where `low > 0`, `high` where `high < 0`).
    Zero,
    /// A fixed observation (packed, one frame), which must lie in the inner observation space.
    Custom(Vec<f64>),
}

/// Gymnasium 1.x's `FrameStackObservation`: the observation is the last `stack_size`
/// observations of the inner environment, oldest first, as a `Box` of shape
/// `(stack_size, *inner_shape)` (bounds repeated). After a reset the stack holds `stack_size - 1`
/// padding frames ([`Padding`]) followed by the reset observation.
///
/// The inner observation space must be a `Box`. Frames are kept in a ring buffer allocated once;
/// each call copies `stack_size` frames into the caller's buffer and allocates nothing.
///
/// ```
/// use alignrl_envs::wrappers::{FrameStack, Padding};
/// # use alignrl_envs::{DType, Env, EnvError, Info, Space, Step};
/// # struct Counter(Space, Space, f64);
/// # impl Env for Counter {
/// #     fn observation_space(&self) -> &Space { &self.0 }
/// #     fn action_space(&self) -> &Space { &self.1 }
/// #     fn reset(&mut self, _: Option<u64>, o: &mut [f64], _: &mut Info) -> Result<(), EnvError> {
/// #         self.2 = 1.0; o[0] = 1.0; Ok(())
/// #     }
/// #     fn step(&mut self, _: &[f64], o: &mut [f64], _: &mut Info) -> Result<Step, EnvError> {
/// #         self.2 += 1.0; o[0] = self.2; Ok(Step::default())
/// #     }
/// #     fn name(&self) -> &str { "Counter" }
/// # }
/// # let counter = Counter(Space::uniform_box(0.0, 100.0, &[1], DType::F32), Space::discrete(1), 0.0);
/// // `counter` observes [1] at reset, then [2], [3], ...
/// let mut env = FrameStack::with_padding(counter, 3, Padding::Zero)?;
/// let (mut obs, mut info) = ([0.0; 3], Info::new());
/// env.reset(None, &mut obs, &mut info)?;
/// assert_eq!(obs, [0.0, 0.0, 1.0]);
/// env.step(&[0.0], &mut obs, &mut info)?;
/// env.step(&[0.0], &mut obs, &mut info)?;
/// env.step(&[0.0], &mut obs, &mut info)?;
/// assert_eq!(obs, [2.0, 3.0, 4.0]);
/// # Ok::<(), EnvError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FrameStack<E> {
    env: E,
    space: Space,
    stack_size: usize,
    frame_len: usize,
    padding: Padding,
    /// The padding frame for `Zero` and `Custom`.
    pad_frame: Vec<f64>,
    /// `stack_size` frames; `frames[head]` is the oldest.
    frames: Vec<f64>,
    head: usize,
}

/// Gymnasium's name for [`FrameStack`].
pub type FrameStackObservation<E> = FrameStack<E>;

impl<E: Env> FrameStack<E> {
    /// Stacks the last `stack_size` observations, padding with the reset observation.
    pub fn new(env: E, stack_size: usize) -> Result<Self, EnvError> {
        Self::with_padding(env, stack_size, Padding::Reset)
    }
    /// Stacks the last `stack_size` observations with the given padding. Errors if `stack_size`
    /// is 0, the observation space is not a `Box`, or a custom padding is not in it.
    pub fn with_padding(env: E, stack_size: usize, padding: Padding) -> Result<Self, EnvError> {
        if stack_size == 0 {
            return Err(EnvError::Other("FrameStack: stack_size needs to be greater than zero".into()));
        }
        let b = require_box(env.observation_space(), "FrameStack", "observation")?;
        if let Padding::Custom(p) = &padding
            && !b.contains_slice(p)
        {
            return Err(EnvError::Other(format!(
                "FrameStack: custom padding {p:?} is not in the observation space {}",
                env.observation_space()
            )));
        }
        let frame_len = b.low.len();
        let pad_frame = match &padding {
            Padding::Custom(p) => p.clone(),
            _ => (0..frame_len).map(|i| 0.0f64.max(b.low[i]).min(b.high[i])).collect(),
        };
        let mut shape = Vec::with_capacity(b.shape.len() + 1);
        shape.push(stack_size);
        shape.extend_from_slice(&b.shape);
        let space = Space::Box(BoxSpace {
            low: b.low.repeat(stack_size),
            high: b.high.repeat(stack_size),
            shape,
            dtype: b.dtype,
        });
        Ok(FrameStack {
            env,
            space,
            stack_size,
            frame_len,
            padding,
            pad_frame,
            frames: vec![0.0; stack_size * frame_len],
            head: 0,
        })
    }
    /// The wrapped environment.
    pub fn inner(&self) -> &E {
        &self.env
    }
    /// The wrapped environment, mutably.
    pub fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }
    /// Unwraps the environment.
    pub fn into_inner(self) -> E {
        self.env
    }
    /// Number of stacked frames.
    pub fn stack_size(&self) -> usize {
        self.stack_size
    }
    /// The padding rule.
    pub fn padding(&self) -> &Padding {
        &self.padding
    }

    /// Stores the newest frame, found in the last row of `obs`, and writes the older frames,
    /// oldest first, into the other rows.
    fn push_and_emit(&mut self, obs: &mut [f64]) {
        let n = self.frame_len;
        let k = self.stack_size;
        let newest = (k - 1) * n;
        // The ring's oldest slot becomes the newest frame.
        let slot = self.head;
        self.frames[slot * n..(slot + 1) * n].copy_from_slice(&obs[newest..]);
        self.head = (self.head + 1) % k;
        for row in 0..k - 1 {
            let src = (self.head + row) % k;
            obs[row * n..(row + 1) * n].copy_from_slice(&self.frames[src * n..(src + 1) * n]);
        }
    }
}

impl<E: Env> Env for FrameStack<E> {
    fn observation_space(&self) -> &Space {
        &self.space
    }
    fn action_space(&self) -> &Space {
        self.env.action_space()
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], info: &mut Info) -> Result<(), EnvError> {
        check_len("observation", obs, self.stack_size * self.frame_len)?;
        let n = self.frame_len;
        let newest = (self.stack_size - 1) * n;
        self.env.reset(seed, &mut obs[newest..], info)?;
        for f in 0..self.stack_size {
            let dst = &mut self.frames[f * n..(f + 1) * n];
            match &self.padding {
                Padding::Reset => dst.copy_from_slice(&obs[newest..]),
                Padding::Zero | Padding::Custom(_) => dst.copy_from_slice(&self.pad_frame),
            }
        }
        self.head = 0;
        self.push_and_emit(obs);
        Ok(())
    }
    fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
        check_len("observation", obs, self.stack_size * self.frame_len)?;
        let newest = (self.stack_size - 1) * self.frame_len;
        let s = self.env.step(action, &mut obs[newest..], info)?;
        self.push_and_emit(obs);
        Ok(s)
    }
    fn render(&self) -> Option<String> {
        self.env.render()
    }
    fn name(&self) -> &str {
        self.env.name()
    }
    fn scene(&self) -> Option<&dyn crate::scene::SceneView> {
        self.env.scene()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wrappers::testing::ScriptEnv;

    /// Frame of ScriptEnv at step t: [base + t, base + t + 0.1].
    fn frame(base: f64, t: f64) -> [f64; 2] {
        [base + t, base + t + 0.1]
    }

    #[test]
    fn reset_padding_repeats_the_first_observation_then_rolls() {
        let mut env = FrameStack::new(ScriptEnv::new(&[2], 1, 100), 3).unwrap();
        match env.observation_space() {
            Space::Box(b) => {
                assert_eq!(b.shape, vec![3, 2]);
                assert_eq!(b.low.len(), 6);
            }
            s => panic!("{s}"),
        }
        let (mut obs, mut info) = ([0.0; 6], Info::new());
        env.reset(Some(4), &mut obs, &mut info).unwrap();
        let b = env.inner().base;
        assert_eq!(obs.to_vec(), [frame(b, 0.0); 3].concat());
        let mut expected = vec![frame(b, 0.0), frame(b, 0.0), frame(b, 0.0)];
        for t in 1..=7 {
            env.step(&[0.0], &mut obs, &mut info).unwrap();
            expected.remove(0);
            expected.push(frame(b, t as f64));
            assert_eq!(obs.to_vec(), expected.concat(), "step {t}");
        }
        // A new episode starts from padding again.
        env.reset(Some(5), &mut obs, &mut info).unwrap();
        let b = env.inner().base;
        assert_eq!(obs.to_vec(), [frame(b, 0.0); 3].concat());
        env.step(&[0.0], &mut obs, &mut info).unwrap();
        assert_eq!(obs.to_vec(), [frame(b, 0.0), frame(b, 0.0), frame(b, 1.0)].concat());
    }

    #[test]
    fn zero_and_custom_padding() {
        let mut env = FrameStack::with_padding(ScriptEnv::new(&[2], 1, 100), 3, Padding::Zero).unwrap();
        let (mut obs, mut info) = ([9.0; 6], Info::new());
        env.reset(Some(1), &mut obs, &mut info).unwrap();
        let b = env.inner().base;
        assert_eq!(obs.to_vec(), [[0.0; 2], [0.0; 2], frame(b, 0.0)].concat());
        env.step(&[0.0], &mut obs, &mut info).unwrap();
        assert_eq!(obs.to_vec(), [[0.0; 2], frame(b, 0.0), frame(b, 1.0)].concat());

        let pad = vec![-1.0, 2.0];
        let mut env =
            FrameStack::with_padding(ScriptEnv::new(&[2], 1, 100), 2, Padding::Custom(pad.clone())).unwrap();
        let mut obs = [0.0; 4];
        env.reset(Some(1), &mut obs, &mut info).unwrap();
        assert_eq!(obs[..2], pad[..]);
        assert_eq!(env.padding(), &Padding::Custom(pad));
        assert!(FrameStack::with_padding(ScriptEnv::new(&[2], 1, 1), 2, Padding::Custom(vec![0.0])).is_err());
    }

    #[test]
    fn stack_of_one_is_the_identity_and_errors_are_reported() {
        let mut env = FrameStack::new(ScriptEnv::new(&[2], 1, 100), 1).unwrap();
        let (mut obs, mut info) = ([0.0; 2], Info::new());
        env.reset(Some(2), &mut obs, &mut info).unwrap();
        env.step(&[0.0], &mut obs, &mut info).unwrap();
        assert_eq!(obs, frame(env.inner().base, 1.0));
        assert_eq!(env.stack_size(), 1);
        assert!(FrameStack::new(ScriptEnv::new(&[2], 1, 1), 0).is_err());
        assert!(FrameStack::new(ScriptEnv::new(&[1], 1, 1).discrete_obs(3), 2).is_err());
        let mut env = FrameStack::new(ScriptEnv::new(&[2], 1, 100), 2).unwrap();
        assert!(matches!(
            env.reset(None, &mut obs, &mut info),
            Err(EnvError::BufferLength { what: "observation", expected: 4, got: 2 })
        ));
    }

    #[test]
    fn zero_padding_is_moved_into_the_bounds() {
        use crate::space::DType;
        struct Bounded(Space, Space);
        impl Env for Bounded {
            fn observation_space(&self) -> &Space {
                &self.0
            }
            fn action_space(&self) -> &Space {
                &self.1
            }
            fn reset(&mut self, _: Option<u64>, o: &mut [f64], _: &mut Info) -> Result<(), EnvError> {
                o.copy_from_slice(&[1.5, 0.5, -1.5]);
                Ok(())
            }
            fn step(&mut self, _: &[f64], _: &mut [f64], _: &mut Info) -> Result<Step, EnvError> {
                Ok(Step::default())
            }
            fn name(&self) -> &str {
                "Bounded"
            }
        }
        let obs_space =
            Space::box_from_bounds(vec![1.0, -1.0, -2.0], vec![2.0, 1.0, -1.0], DType::F32).unwrap();
        let mut env =
            FrameStack::with_padding(Bounded(obs_space, Space::discrete(1)), 2, Padding::Zero).unwrap();
        let (mut obs, mut info) = ([0.0; 6], Info::new());
        env.reset(None, &mut obs, &mut info).unwrap();
        assert_eq!(obs, [1.0, 0.0, -1.0, 1.5, 0.5, -1.5]);
        assert!(env.observation_space().contains_packed(&obs));
    }

    #[test]
    fn multi_dimensional_frames_get_a_leading_stack_axis() {
        use crate::space::DType;
        let env = FrameStack::new(ScriptEnv::new(&[2, 3], 1, 100), 4).unwrap();
        let expected = Space::uniform_box(f64::NEG_INFINITY, f64::INFINITY, &[4, 2, 3], DType::F64);
        assert_eq!(env.observation_space(), &expected);
    }
}
