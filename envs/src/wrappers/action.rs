//! Action transforms for `Box` action spaces: [`ClipAction`] and [`RescaleAction`].

use crate::env::{Env, EnvError, Info, Step, check_len};
use crate::space::{BoxSpace, Space};
use crate::wrappers::require_box;

/// Gymnasium's `ClipAction`: clips every action component to the inner environment's `Box`
/// bounds before stepping. As in Gymnasium 1.x the wrapper's action space is the unbounded box
/// `Box(-inf, inf, shape, dtype)`, since every finite action is accepted. NaN components are
/// passed through (and rejected by the inner environment).
#[derive(Debug, Clone)]
pub struct ClipAction<E> {
    env: E,
    space: Space,
    low: Vec<f64>,
    high: Vec<f64>,
    clipped: Vec<f64>,
}

impl<E: Env> ClipAction<E> {
    /// Wraps `env`; errors unless its action space is a `Box`.
    pub fn new(env: E) -> Result<Self, EnvError> {
        let b = require_box(env.action_space(), "ClipAction", "action")?;
        let n = b.low.len();
        let space = Space::Box(BoxSpace {
            low: vec![f64::NEG_INFINITY; n],
            high: vec![f64::INFINITY; n],
            shape: b.shape.clone(),
            dtype: b.dtype,
        });
        let (low, high) = (b.low.clone(), b.high.clone());
        Ok(ClipAction { env, space, low, high, clipped: vec![0.0; n] })
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
}

impl<E: Env> Env for ClipAction<E> {
    fn observation_space(&self) -> &Space {
        self.env.observation_space()
    }
    fn action_space(&self) -> &Space {
        &self.space
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], info: &mut Info) -> Result<(), EnvError> {
        self.env.reset(seed, obs, info)
    }
    fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
        check_len("action", action, self.clipped.len())?;
        for (((c, &a), &l), &h) in self.clipped.iter_mut().zip(action).zip(&self.low).zip(&self.high) {
            // `clamp` would panic on NaN bounds; bounds are never NaN, and a NaN action stays NaN.
            *c = a.max(l).min(h);
            if a.is_nan() {
                *c = a;
            }
        }
        self.env.step(&self.clipped, obs, info)
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

/// Gymnasium's `RescaleAction`: the agent acts in the box `[min_action, max_action]` and the
/// wrapper maps each component affinely onto the inner environment's bounds `[low, high]`:
/// `low + (a - min_action) * (high - low) / (max_action - min_action)`.
///
/// The inner action space must be a bounded `Box` (an unbounded component is an error), and
/// `min_action < max_action` componentwise. An action outside `[min_action, max_action]` is an
/// [`EnvError::InvalidAction`]; results are clamped to `[low, high]` to absorb rounding, so the
/// endpoints map exactly onto the bounds.
#[derive(Debug, Clone)]
pub struct RescaleAction<E> {
    env: E,
    space: Space,
    gradient: Vec<f64>,
    low: Vec<f64>,
    high: Vec<f64>,
    min_action: Vec<f64>,
    max_action: Vec<f64>,
    scaled: Vec<f64>,
}

impl<E: Env> RescaleAction<E> {
    /// Wraps `env` so that every component acts in `[min_action, max_action]`.
    pub fn new(env: E, min_action: f64, max_action: f64) -> Result<Self, EnvError> {
        let n = env.action_space().packed_len();
        Self::with_bounds(env, vec![min_action; n], vec![max_action; n])
    }
    /// Wraps `env` with per-component target bounds (each of the inner space's packed length).
    pub fn with_bounds(env: E, min_action: Vec<f64>, max_action: Vec<f64>) -> Result<Self, EnvError> {
        let b = require_box(env.action_space(), "RescaleAction", "action")?;
        if !env.action_space().is_bounded() {
            return Err(EnvError::Other(format!(
                "RescaleAction requires a bounded Box action space, got {}",
                env.action_space()
            )));
        }
        let n = b.low.len();
        if min_action.len() != n || max_action.len() != n {
            return Err(EnvError::Other(format!(
                "RescaleAction: min_action has {} and max_action {} components, the action space {n}",
                min_action.len(),
                max_action.len()
            )));
        }
        let ok = |x: &f64| x.is_finite();
        if !min_action.iter().all(ok)
            || !max_action.iter().all(ok)
            || min_action.iter().zip(&max_action).any(|(lo, hi)| lo >= hi)
        {
            return Err(EnvError::Other(format!(
                "RescaleAction: min_action {min_action:?} must be finite and strictly smaller than \
                 max_action {max_action:?}"
            )));
        }
        let gradient =
            (0..n).map(|i| (b.high[i] - b.low[i]) / (max_action[i] - min_action[i])).collect::<Vec<_>>();
        let space = Space::Box(BoxSpace {
            low: min_action.clone(),
            high: max_action.clone(),
            shape: b.shape.clone(),
            dtype: b.dtype,
        });
        let (low, high) = (b.low.clone(), b.high.clone());
        Ok(RescaleAction { env, space, gradient, low, high, min_action, max_action, scaled: vec![0.0; n] })
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
    /// Maps an action of this wrapper's space onto the inner space (no range check), into `out`.
    pub fn rescale_into(&self, action: &[f64], out: &mut [f64]) {
        rescale(action, &self.min_action, &self.gradient, &self.low, &self.high, out);
    }
}

impl<E: Env> Env for RescaleAction<E> {
    fn observation_space(&self) -> &Space {
        self.env.observation_space()
    }
    fn action_space(&self) -> &Space {
        &self.space
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], info: &mut Info) -> Result<(), EnvError> {
        self.env.reset(seed, obs, info)
    }
    fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
        check_len("action", action, self.scaled.len())?;
        let inside = action
            .iter()
            .zip(self.min_action.iter().zip(&self.max_action))
            .all(|(&a, (&lo, &hi))| a >= lo && a <= hi);
        if !inside {
            return Err(EnvError::InvalidAction { action: action.to_vec(), space: self.space.to_string() });
        }
        rescale(action, &self.min_action, &self.gradient, &self.low, &self.high, &mut self.scaled);
        self.env.step(&self.scaled, obs, info)
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

fn rescale(action: &[f64], min_action: &[f64], gradient: &[f64], low: &[f64], high: &[f64], out: &mut [f64]) {
    for (i, (o, &a)) in out.iter_mut().zip(action).enumerate() {
        *o = (low[i] + (a - min_action[i]) * gradient[i]).max(low[i]).min(high[i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::DType;
    use crate::wrappers::testing::ScriptEnv;

    #[test]
    fn clip_action_clips_to_inner_bounds_and_unbounds_the_space() {
        let mut env = ClipAction::new(ScriptEnv::new(&[1], 3, 10)).unwrap();
        let unbounded = Space::uniform_box(f64::NEG_INFINITY, f64::INFINITY, &[3], DType::F32);
        assert_eq!(env.action_space(), &unbounded);
        let (mut obs, mut info) = ([0.0], Info::new());
        env.reset(Some(0), &mut obs, &mut info).unwrap();
        env.step(&[5.0, -2.5, 0.25], &mut obs, &mut info).unwrap();
        assert_eq!(env.inner().last_action, vec![2.0, -2.0, 0.25]);
        assert!(env.step(&[f64::NAN, 0.0, 0.0], &mut obs, &mut info).is_err());
        assert!(matches!(
            env.step(&[0.0], &mut obs, &mut info),
            Err(EnvError::BufferLength { what: "action", .. })
        ));
        assert!(ClipAction::new(ScriptEnv::new(&[1], 1, 1).discrete_actions(3)).is_err());
        assert_eq!(env.name(), "ScriptEnv");
        assert_eq!(env.into_inner().t, 1);
    }

    #[test]
    fn rescale_action_maps_endpoints_and_midpoint() {
        // Inner bounds [-2, 2]; agent acts in [0, 1] for every component.
        let mut env = RescaleAction::new(ScriptEnv::new(&[1], 2, 10), 0.0, 1.0).unwrap();
        assert_eq!(env.action_space(), &Space::uniform_box(0.0, 1.0, &[2], DType::F32));
        let (mut obs, mut info) = ([0.0], Info::new());
        env.reset(Some(0), &mut obs, &mut info).unwrap();
        env.step(&[0.0, 1.0], &mut obs, &mut info).unwrap();
        assert_eq!(env.inner().last_action, vec![-2.0, 2.0]);
        env.step(&[0.5, 0.75], &mut obs, &mut info).unwrap();
        assert_eq!(env.inner().last_action, vec![0.0, 1.0]);
        assert!(matches!(env.step(&[1.5, 0.0], &mut obs, &mut info), Err(EnvError::InvalidAction { .. })));
        assert!(env.step(&[f64::NAN, 0.0], &mut obs, &mut info).is_err());

        let mut per =
            RescaleAction::with_bounds(ScriptEnv::new(&[1], 2, 10), vec![-1.0, 10.0], vec![1.0, 20.0])
                .unwrap();
        per.reset(Some(0), &mut obs, &mut info).unwrap();
        per.step(&[0.0, 12.5], &mut obs, &mut info).unwrap();
        assert_eq!(per.inner().last_action, vec![0.0, -1.0]);
    }

    #[test]
    fn rescale_action_rejects_bad_bounds_and_spaces() {
        let env = || ScriptEnv::new(&[1], 2, 10);
        assert!(RescaleAction::new(env(), 1.0, 1.0).is_err());
        assert!(RescaleAction::new(env(), 2.0, 1.0).is_err());
        assert!(RescaleAction::new(env(), f64::NEG_INFINITY, 1.0).is_err());
        assert!(RescaleAction::with_bounds(env(), vec![0.0], vec![1.0]).is_err());
        assert!(RescaleAction::new(env().discrete_actions(2), 0.0, 1.0).is_err());
        // An unbounded inner box: e.g. a ClipAction on top of a bounded env.
        let unbounded = ClipAction::new(env()).unwrap();
        assert!(RescaleAction::new(unbounded, -1.0, 1.0).is_err());
        assert!(RescaleAction::new(env(), -1.0, 1.0).is_ok());
    }
}
