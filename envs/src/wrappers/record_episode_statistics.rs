//! [`RecordEpisodeStatistics`]: episode return, length and wall time, reported in `info` when an
//! episode ends and kept in bounded queues of recent episodes.

use std::time::Instant;

use crate::env::{Env, EnvError, Info, Step};
use crate::space::Space;

/// Info key: the undiscounted return of the episode that just ended (Gymnasium's `episode["r"]`).
pub const EPISODE_RETURN: &str = "episode_return";
/// Info key: the number of steps of the episode that just ended (Gymnasium's `episode["l"]`).
pub const EPISODE_LENGTH: &str = "episode_length";
/// Info key: wall-clock seconds since the episode's reset, rounded to microseconds
/// (Gymnasium's `episode["t"]`).
pub const EPISODE_TIME_S: &str = "episode_time_s";

/// A bounded first-in-first-out queue of the most recent values (Gymnasium's
/// `deque(maxlen=buffer_length)`), stored in a ring buffer allocated once: pushing never allocates.
#[derive(Debug, Clone, PartialEq)]
pub struct RecentQueue<T> {
    buf: Vec<T>,
    capacity: usize,
    /// Index of the oldest element once the buffer is full.
    head: usize,
}

impl<T: Copy> RecentQueue<T> {
    /// An empty queue that keeps at most `capacity` values (0 keeps nothing).
    pub fn with_capacity(capacity: usize) -> Self {
        RecentQueue { buf: Vec::with_capacity(capacity), capacity, head: 0 }
    }
    /// Appends `x`, dropping the oldest value when full.
    pub fn push(&mut self, x: T) {
        if self.capacity == 0 {
            return;
        }
        if self.buf.len() < self.capacity {
            self.buf.push(x);
        } else {
            self.buf[self.head] = x;
            self.head = (self.head + 1) % self.capacity;
        }
    }
    /// Number of values held.
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    /// Whether the queue holds no value.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// The most values the queue keeps (Gymnasium's `maxlen`).
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    /// The values, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = T> + '_ {
        let (newer, older) = self.buf.split_at(self.head);
        older.iter().chain(newer).copied()
    }
    /// The most recent value.
    pub fn last(&self) -> Option<T> {
        self.iter().next_back()
    }
    /// The values, oldest first, as a vector.
    pub fn to_vec(&self) -> Vec<T> {
        self.iter().collect()
    }
    /// Removes every value, keeping the allocation.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.head = 0;
    }
}

impl RecentQueue<f64> {
    /// Mean of the values, `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.iter().sum::<f64>() / self.len() as f64)
    }
}

impl RecentQueue<u64> {
    /// Mean of the values, `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.iter().map(|x| x as f64).sum::<f64>() / self.len() as f64)
    }
}

/// Gymnasium's `RecordEpisodeStatistics`: accumulates the return and length of the current
/// episode; on the step that ends it (terminated or truncated) appends [`EPISODE_RETURN`],
/// [`EPISODE_LENGTH`] and [`EPISODE_TIME_S`] to `info` and pushes them onto the queues of the last
/// `buffer_length` episodes ([`Self::return_queue`], [`Self::length_queue`], [`Self::time_queue`]).
///
/// ```
/// use alignrl_envs::wrappers::{EPISODE_RETURN, RecordEpisodeStatistics};
/// # use alignrl_envs::{Env, EnvError, Info, Space, Step};
/// # struct OneStep(Space);
/// # impl Env for OneStep {
/// #     fn observation_space(&self) -> &Space { &self.0 }
/// #     fn action_space(&self) -> &Space { &self.0 }
/// #     fn reset(&mut self, _: Option<u64>, o: &mut [f64], _: &mut Info) -> Result<(), EnvError> { o[0] = 0.0; Ok(()) }
/// #     fn step(&mut self, _: &[f64], o: &mut [f64], _: &mut Info) -> Result<Step, EnvError> {
/// #         o[0] = 1.0; Ok(Step { reward: 2.5, terminated: true, truncated: false })
/// #     }
/// #     fn name(&self) -> &str { "OneStep" }
/// # }
/// # let my_env = OneStep(Space::discrete(2));
/// let mut env = RecordEpisodeStatistics::new(my_env);
/// let (mut obs, mut info) = ([0.0], Info::new());
/// env.reset(Some(0), &mut obs, &mut info)?;
/// info.clear();
/// let step = env.step(&[0.0], &mut obs, &mut info)?;
/// assert!(step.terminated);
/// assert_eq!(info.get(EPISODE_RETURN), Some(2.5));
/// assert_eq!(env.return_queue().to_vec(), vec![2.5]);
/// # Ok::<(), EnvError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RecordEpisodeStatistics<E> {
    env: E,
    episode_return: f64,
    episode_length: u64,
    episode_start: Instant,
    episode_count: u64,
    return_queue: RecentQueue<f64>,
    length_queue: RecentQueue<u64>,
    time_queue: RecentQueue<f64>,
}

impl<E: Env> RecordEpisodeStatistics<E> {
    /// Gymnasium's default `buffer_length`.
    pub const DEFAULT_BUFFER_LENGTH: usize = 100;

    /// Wraps `env`, keeping the last 100 episodes.
    pub fn new(env: E) -> Self {
        Self::with_buffer_length(env, Self::DEFAULT_BUFFER_LENGTH)
    }
    /// Wraps `env`, keeping the last `buffer_length` episodes in the queues.
    pub fn with_buffer_length(env: E, buffer_length: usize) -> Self {
        RecordEpisodeStatistics {
            env,
            episode_return: 0.0,
            episode_length: 0,
            episode_start: Instant::now(),
            episode_count: 0,
            return_queue: RecentQueue::with_capacity(buffer_length),
            length_queue: RecentQueue::with_capacity(buffer_length),
            time_queue: RecentQueue::with_capacity(buffer_length),
        }
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
    /// Returns of the most recent episodes, oldest first.
    pub fn return_queue(&self) -> &RecentQueue<f64> {
        &self.return_queue
    }
    /// Lengths of the most recent episodes, oldest first.
    pub fn length_queue(&self) -> &RecentQueue<u64> {
        &self.length_queue
    }
    /// Wall-clock durations (seconds) of the most recent episodes, oldest first.
    pub fn time_queue(&self) -> &RecentQueue<f64> {
        &self.time_queue
    }
    /// Number of episodes finished since the wrapper was created.
    pub fn episode_count(&self) -> u64 {
        self.episode_count
    }
    /// Return accumulated so far in the current episode.
    pub fn episode_return(&self) -> f64 {
        self.episode_return
    }
    /// Steps taken so far in the current episode.
    pub fn episode_length(&self) -> u64 {
        self.episode_length
    }
}

impl<E: Env> Env for RecordEpisodeStatistics<E> {
    fn observation_space(&self) -> &Space {
        self.env.observation_space()
    }
    fn action_space(&self) -> &Space {
        self.env.action_space()
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], info: &mut Info) -> Result<(), EnvError> {
        self.env.reset(seed, obs, info)?;
        self.episode_start = Instant::now();
        self.episode_return = 0.0;
        self.episode_length = 0;
        Ok(())
    }
    fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
        let s = self.env.step(action, obs, info)?;
        self.episode_return += s.reward;
        self.episode_length += 1;
        if s.done() {
            let now = Instant::now();
            let secs = ((now - self.episode_start).as_secs_f64() * 1e6).round() / 1e6;
            info.set(EPISODE_RETURN, self.episode_return);
            info.set(EPISODE_LENGTH, self.episode_length as f64);
            info.set(EPISODE_TIME_S, secs);
            self.return_queue.push(self.episode_return);
            self.length_queue.push(self.episode_length);
            self.time_queue.push(secs);
            self.episode_count += 1;
            self.episode_start = now;
        }
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

    #[test]
    fn recent_queue_keeps_the_last_values_in_order() {
        let mut q = RecentQueue::<u64>::with_capacity(3);
        assert_eq!(q.mean(), None);
        assert_eq!(q.last(), None);
        for x in 1..=5u64 {
            q.push(x);
        }
        assert_eq!(q.to_vec(), vec![3, 4, 5]);
        assert_eq!(q.iter().rev().collect::<Vec<_>>(), vec![5, 4, 3]);
        assert_eq!(q.len(), 3);
        assert_eq!(q.last(), Some(5));
        assert_eq!(q.mean(), Some(4.0));
        q.clear();
        assert!(q.is_empty());
        q.push(7);
        assert_eq!(q.to_vec(), vec![7]);
        let mut z = RecentQueue::<f64>::with_capacity(0);
        z.push(1.0);
        assert!(z.is_empty());
    }

    #[test]
    fn stats_are_reported_on_the_last_step_only() {
        // Rewards 1, 2, 3 per step; episodes of 3 steps.
        let mut env = RecordEpisodeStatistics::with_buffer_length(ScriptEnv::new(&[2], 1, 3), 2);
        let mut obs = [0.0; 2];
        let mut info = Info::new();
        env.reset(Some(1), &mut obs, &mut info).unwrap();
        assert_eq!(info.get(EPISODE_RETURN), None);
        for episode in 0..3 {
            for t in 1..=3 {
                info.clear();
                let s = env.step(&[0.0], &mut obs, &mut info).unwrap();
                if t < 3 {
                    assert!(!s.done());
                    assert_eq!(info.get(EPISODE_RETURN), None);
                    assert_eq!(env.episode_length(), t);
                } else {
                    assert!(s.terminated);
                    assert_eq!(info.get(EPISODE_RETURN), Some(6.0));
                    assert_eq!(info.get(EPISODE_LENGTH), Some(3.0));
                    let secs = info.get(EPISODE_TIME_S).unwrap();
                    assert!((0.0..10.0).contains(&secs));
                    assert_eq!(info.get("t"), Some(3.0), "inner info is kept");
                }
            }
            assert_eq!(env.episode_count(), episode + 1);
            info.clear();
            env.reset(None, &mut obs, &mut info).unwrap();
            assert_eq!(env.episode_return(), 0.0);
        }
        assert_eq!(env.return_queue().to_vec(), vec![6.0, 6.0]);
        assert_eq!(env.length_queue().to_vec(), vec![3, 3]);
        assert_eq!(env.time_queue().len(), 2);
        assert_eq!(env.name(), "ScriptEnv");
        assert_eq!(env.render().as_deref(), Some("t=0"));
    }

    #[test]
    fn truncation_also_ends_an_episode() {
        let mut inner = ScriptEnv::new(&[1], 1, 2).with_rewards(&[0.5, -2.0]);
        inner.truncate_instead = true;
        let mut env = RecordEpisodeStatistics::new(inner);
        let mut obs = [0.0];
        let mut info = Info::new();
        env.reset(Some(0), &mut obs, &mut info).unwrap();
        env.step(&[0.0], &mut obs, &mut info).unwrap();
        info.clear();
        let s = env.step(&[0.0], &mut obs, &mut info).unwrap();
        assert!(s.truncated && !s.terminated);
        assert_eq!(info.get(EPISODE_RETURN), Some(-1.5));
        assert_eq!(env.return_queue().mean(), Some(-1.5));
        assert_eq!(env.length_queue().mean(), Some(2.0));
        assert_eq!(env.inner().t, 2);
        env.inner_mut().t = 0;
        assert_eq!(env.into_inner().t, 0);
    }
}
