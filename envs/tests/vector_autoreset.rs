//! Vector envs: Gymnasium 1.x next-step autoreset pinned step by step, checked against a
//! hand-written reference loop, threaded == synchronous bit for bit, and no allocation per step
//! (vector envs and a stack of wrappers), counted with a global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use alignrl_envs::vector::{ThreadedVecEnv, VecEnv, VectorEnv};
use alignrl_envs::wrappers::{
    AuxiliaryReward, ClipAction, FrameStack, NormalizeObservation, NormalizeReward, RecordEpisodeStatistics,
    RescaleAction, TimeLimit, TransformReward,
};
use alignrl_envs::{DType, Env, EnvError, EnvRandom, Info, Space, Step};
use rand::{Rng, SeedableRng};

// ---------------------------------------------------------------------------------------------
// Allocation counting: only threads that ran a test env's `step` or `reset` (the test thread and
// the vector env's workers) are counted, so the test harness's own threads do not interfere.

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static TRACKED: Cell<bool> = const { Cell::new(false) };
}

fn track_this_thread() {
    TRACKED.with(|t| t.set(true));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if TRACKED.try_with(Cell::get).unwrap_or(false) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if TRACKED.try_with(Cell::get).unwrap_or(false) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Tests run one at a time, so that tracked threads of one test never overlap another's count.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Test env.

/// Observation `[t, draw]`: `t` = steps taken in the episode, `draw` = a fresh uniform number from
/// the seeded generator at each reset and step. The episode ends after `len` steps, by
/// termination, or by truncation when `truncate`. Reward `t + action`. Action `-1` is an error.
/// Info: `"reset"` = 1 after a reset, `"t"` after a step.
#[derive(Debug, Clone)]
struct Countdown {
    len: u32,
    truncate: bool,
    t: u32,
    obs: Space,
    act: Space,
    rng: EnvRandom,
}

impl Countdown {
    fn new(len: u32, truncate: bool) -> Self {
        Countdown {
            len,
            truncate,
            t: 0,
            obs: Space::uniform_box(0.0, 1e9, &[2], DType::F64),
            act: Space::box_from_bounds(vec![-1.0], vec![1.0], DType::F64).unwrap(),
            rng: EnvRandom::default(),
        }
    }
}

impl Env for Countdown {
    fn observation_space(&self) -> &Space {
        &self.obs
    }
    fn action_space(&self) -> &Space {
        &self.act
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], info: &mut Info) -> Result<(), EnvError> {
        track_this_thread();
        self.t = 0;
        obs[0] = 0.0;
        obs[1] = self.rng.reseed(seed).random();
        info.set("reset", 1.0);
        Ok(())
    }
    fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
        track_this_thread();
        if action[0] == -1.0 {
            return Err(EnvError::InvalidAction { action: action.to_vec(), space: self.act.to_string() });
        }
        self.t += 1;
        obs[0] = self.t as f64;
        obs[1] = self.rng.rng().random();
        info.set("t", self.t as f64);
        let end = self.t >= self.len;
        Ok(Step {
            reward: self.t as f64 + action[0],
            terminated: end && !self.truncate,
            truncated: end && self.truncate,
        })
    }
    fn name(&self) -> &str {
        "Countdown"
    }
}

/// Sub-env 0 terminates after 1 step, sub-env 1 terminates after 2, sub-env 2 truncates after 3.
fn three_envs(i: usize) -> Countdown {
    Countdown::new(i as u32 + 1, i == 2)
}

// ---------------------------------------------------------------------------------------------
// Step-by-step pins.

struct Expect {
    t: [f64; 3],
    reward: [f64; 3],
    terminated: [bool; 3],
    truncated: [bool; 3],
    /// Which sub-envs were (auto)reset at this step (their info has "reset", not "t").
    reset: [bool; 3],
}

fn pin_autoreset<V: VectorEnv>(venv: &mut V) {
    let obs = venv.reset(Some(7)).unwrap();
    assert_eq!([obs[0], obs[2], obs[4]], [0.0; 3]);
    assert!(venv.infos().iter().all(|i| i.get("reset") == Some(1.0)));

    // Actions: 0.5, 0.25, 0.125; reward = t + action for a stepped sub-env, 0 for a reset one.
    // A sub-env being autoreset gets the invalid action -1: it must be ignored, not rejected.
    const F: bool = false;
    const T: bool = true;
    let table = [
        // step 1: sub-env 0 ends (terminated) after its single step.
        Expect {
            t: [1., 1., 1.],
            reward: [1.5, 1.25, 1.125],
            terminated: [T, F, F],
            truncated: [F; 3],
            reset: [F; 3],
        },
        // step 2: sub-env 0 is reset (reward 0, no flags); sub-env 1 terminates.
        Expect {
            t: [0., 2., 2.],
            reward: [0., 2.25, 2.125],
            terminated: [F, T, F],
            truncated: [F; 3],
            reset: [T, F, F],
        },
        // step 3: sub-env 0 terminates again; sub-env 1 is reset; sub-env 2 is truncated.
        Expect {
            t: [1., 0., 3.],
            reward: [1.5, 0., 3.125],
            terminated: [T, F, F],
            truncated: [F, F, T],
            reset: [F, T, F],
        },
        // step 4: sub-envs 0 and 2 are reset; sub-env 1 steps.
        Expect {
            t: [0., 1., 0.],
            reward: [0., 1.25, 0.],
            terminated: [F; 3],
            truncated: [F; 3],
            reset: [T, F, T],
        },
        // step 5: everybody steps; 0 and 1 terminate.
        Expect {
            t: [1., 2., 1.],
            reward: [1.5, 2.25, 1.125],
            terminated: [T, T, F],
            truncated: [F; 3],
            reset: [F; 3],
        },
        // step 6: 0 and 1 are reset.
        Expect {
            t: [0., 0., 2.],
            reward: [0., 0., 2.125],
            terminated: [F; 3],
            truncated: [F; 3],
            reset: [T, T, F],
        },
    ];
    let mut pending_reset = [false; 3];
    for (k, e) in table.iter().enumerate() {
        let actions: Vec<f64> =
            (0..3).map(|i| if pending_reset[i] { -1.0 } else { [0.5, 0.25, 0.125][i] }).collect();
        let s = venv.step(&actions).unwrap();
        let step = k + 1;
        assert_eq!([s.observation(0)[0], s.observation(1)[0], s.observation(2)[0]], e.t, "t at step {step}");
        assert_eq!(s.rewards, e.reward, "rewards at step {step}");
        assert_eq!(s.terminated, e.terminated, "terminated at step {step}");
        assert_eq!(s.truncated, e.truncated, "truncated at step {step}");
        for (i, pending) in pending_reset.iter_mut().enumerate() {
            let info = &s.infos[i];
            if e.reset[i] {
                assert_eq!((info.get("reset"), info.get("t")), (Some(1.0), None), "info {i} at step {step}");
            } else {
                assert_eq!(
                    (info.get("reset"), info.get("t")),
                    (None, Some(e.t[i])),
                    "info {i} at step {step}"
                );
            }
            *pending = s.done(i);
        }
    }
}

#[test]
fn sync_autoreset_step_by_step() {
    let _g = serial();
    pin_autoreset(&mut VecEnv::from_fn(3, three_envs));
}

#[test]
fn threaded_autoreset_step_by_step() {
    let _g = serial();
    for workers in 1..=3 {
        pin_autoreset(&mut ThreadedVecEnv::from_fn(3, workers, three_envs).unwrap());
    }
}

// ---------------------------------------------------------------------------------------------
// Reference model: a plain loop over single envs implementing next-step autoreset by hand.

/// Runs `steps` steps over `lens.len()` sub-envs and records every observation, reward and flag.
fn reference_run(lens: &[(u32, bool)], seed: u64, actions: &[Vec<f64>]) -> Vec<u64> {
    let mut envs: Vec<Countdown> = lens.iter().map(|&(l, tr)| Countdown::new(l, tr)).collect();
    let mut obs = vec![[0.0; 2]; envs.len()];
    let mut info = Info::new();
    let mut trace = vec![];
    for (i, e) in envs.iter_mut().enumerate() {
        e.reset(Some(seed + i as u64), &mut obs[i], &mut info).unwrap();
        trace.extend(obs[i].map(f64::to_bits));
    }
    let mut ended = vec![false; envs.len()];
    for a in actions {
        for (i, e) in envs.iter_mut().enumerate() {
            let (r, te, tr) = if ended[i] {
                e.reset(None, &mut obs[i], &mut info).unwrap();
                (0.0, false, false)
            } else {
                let s = e.step(&a[i..i + 1], &mut obs[i], &mut info).unwrap();
                (s.reward, s.terminated, s.truncated)
            };
            ended[i] = te || tr;
            trace.extend(obs[i].map(f64::to_bits));
            trace.extend([r.to_bits(), u64::from(te), u64::from(tr)]);
        }
    }
    trace
}

fn vector_run<V: VectorEnv>(venv: &mut V, seed: u64, actions: &[Vec<f64>]) -> Vec<u64> {
    let mut trace: Vec<u64> = venv.reset(Some(seed)).unwrap().iter().map(|x| x.to_bits()).collect();
    for a in actions {
        let s = venv.step(a).unwrap();
        for i in 0..s.num_envs() {
            trace.extend(s.observation(i).iter().map(|x| x.to_bits()));
            trace.extend([s.rewards[i].to_bits(), u64::from(s.terminated[i]), u64::from(s.truncated[i])]);
        }
    }
    trace
}

fn random_actions(n: usize, steps: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    (0..steps).map(|_| (0..n).map(|_| rng.random_range(-0.9..1.0)).collect()).collect()
}

#[test]
fn sync_and_threaded_match_a_hand_written_reference_loop() {
    let _g = serial();
    let lens: Vec<(u32, bool)> = (0..9).map(|i| (1 + (i * 5 % 7) as u32, i % 4 == 1)).collect();
    let actions = random_actions(lens.len(), 60, 3);
    let expected = reference_run(&lens, 100, &actions);
    let make = |i: usize| Countdown::new(lens[i].0, lens[i].1);
    assert_eq!(vector_run(&mut VecEnv::from_fn(9, make), 100, &actions), expected);
    for workers in [1, 2, 4, 9] {
        let mut t = ThreadedVecEnv::from_fn(9, workers, make).unwrap();
        assert_eq!(vector_run(&mut t, 100, &actions), expected, "{workers} workers");
    }
}

#[test]
fn threaded_is_bit_identical_to_sync_for_many_shapes() {
    let _g = serial();
    for n in 1..=8usize {
        let make = |i: usize| Countdown::new(1 + ((i * 3 + n) % 5) as u32, (i + n).is_multiple_of(3));
        let actions = random_actions(n, 25, n as u64);
        let sync = vector_run(&mut VecEnv::from_fn(n, make), 11, &actions);
        for workers in 1..=4 {
            let mut t = ThreadedVecEnv::from_fn(n, workers, make).unwrap();
            assert_eq!(vector_run(&mut t, 11, &actions), sync, "n = {n}, workers = {workers}");
            // Reset(None) continues each generator identically too.
            let mut s = VecEnv::from_fn(n, make);
            vector_run(&mut s, 11, &actions);
            vector_run(&mut t, 11, &actions);
            assert_eq!(s.reset(None).unwrap(), t.reset(None).unwrap());
        }
    }
}

#[test]
fn seeds_are_seed_plus_index_and_none_continues() {
    let _g = serial();
    let mut venv = VecEnv::from_fn(4, |_| Countdown::new(3, false));
    let a = venv.reset(Some(20)).unwrap().to_vec();
    let b = venv.reset(Some(21)).unwrap().to_vec();
    assert_eq!(&a[2..6], &b[0..4], "sub-env i + 1 with seed 20 == sub-env i with seed 21");
    let c = venv.reset(None).unwrap().to_vec();
    assert_ne!(b, c, "None continues the generators");
    let d = venv.reset_with_seeds(&[Some(20), Some(21), Some(22), Some(23)]).unwrap();
    assert_eq!(d, a);
}

// ---------------------------------------------------------------------------------------------
// Allocation-free stepping.

type Stack = RecordEpisodeStatistics<
    AuxiliaryReward<
        TransformReward<
            NormalizeReward<
                NormalizeObservation<FrameStack<ClipAction<RescaleAction<TimeLimit<Countdown>>>>>,
            >,
            fn(f64) -> f64,
        >,
        fn(&[f64], &[f64], &[f64], &Step) -> f64,
    >,
>;

/// Every wrapper of the crate, stacked.
fn wrapped(i: usize) -> Stack {
    let base = TimeLimit::new(Countdown::new(5 + i as u32, false), 4 + i as u64);
    let rescaled = RescaleAction::new(base, -2.0, 2.0).unwrap();
    let clipped = ClipAction::new(rescaled).unwrap();
    let stacked = FrameStack::new(clipped, 3).unwrap();
    let norm_obs = NormalizeObservation::new(stacked).unwrap();
    let norm_rew = NormalizeReward::new(norm_obs);
    let scaled = TransformReward::new(norm_rew, (|r| 2.0 * r) as fn(f64) -> f64);
    let aux_fn: fn(&[f64], &[f64], &[f64], &Step) -> f64 = |o, _, n, _| n[5] - o[5];
    RecordEpisodeStatistics::new(AuxiliaryReward::new(scaled, aux_fn))
}

fn count_allocs(mut f: impl FnMut()) -> usize {
    track_this_thread();
    let before = ALLOCS.load(Ordering::SeqCst);
    f();
    ALLOCS.load(Ordering::SeqCst) - before
}

fn assert_steps_allocation_free<V: VectorEnv>(venv: &mut V, label: &str) {
    let n = venv.num_envs();
    let mut actions = vec![0.0; n * venv.single_action_space().packed_len()];
    let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
    venv.reset(Some(0)).unwrap();
    let mut run = |venv: &mut V, steps: usize| {
        for _ in 0..steps {
            for a in actions.iter_mut() {
                *a = rng.random_range(-0.9..0.9);
            }
            let s = venv.step(&actions).unwrap();
            std::hint::black_box(s.rewards[0]);
        }
    };
    run(venv, 200); // warm-up: infos and channel wait queues reach their steady size
    let allocs = count_allocs(|| run(venv, 2000));
    assert_eq!(allocs, 0, "{label}: {allocs} allocations in 2000 steps");
}

/// A Countdown that allocates on every step: proves the counter sees the worker threads.
struct Leaky(Countdown);

impl Env for Leaky {
    fn observation_space(&self) -> &Space {
        self.0.observation_space()
    }
    fn action_space(&self) -> &Space {
        self.0.action_space()
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f64], info: &mut Info) -> Result<(), EnvError> {
        self.0.reset(seed, obs, info)
    }
    fn step(&mut self, action: &[f64], obs: &mut [f64], info: &mut Info) -> Result<Step, EnvError> {
        std::hint::black_box(Vec::<u64>::with_capacity(4));
        self.0.step(action, obs, info)
    }
    fn name(&self) -> &str {
        "Leaky"
    }
}

#[test]
fn stepping_does_not_allocate() {
    let _g = serial();
    // The counter works, on the test thread and on worker threads.
    assert!(count_allocs(|| drop(std::hint::black_box(vec![1u8; 10]))) > 0);
    let mut leaky = ThreadedVecEnv::from_fn(2, 2, |_| Leaky(Countdown::new(1000, false))).unwrap();
    leaky.reset(Some(0)).unwrap();
    leaky.step(&[0.0, 0.0]).unwrap();
    assert!(count_allocs(|| assert!(leaky.step(&[0.0, 0.0]).is_ok())) >= 2);

    assert_steps_allocation_free(
        &mut VecEnv::from_fn(6, |i| Countdown::new(3 + i as u32, i.is_multiple_of(2))),
        "VecEnv",
    );
    assert_steps_allocation_free(
        &mut ThreadedVecEnv::from_fn(6, 2, |i| Countdown::new(3 + i as u32, i.is_multiple_of(2))).unwrap(),
        "ThreadedVecEnv",
    );
    let mut spinning = ThreadedVecEnv::from_fn(4, 2, |i| Countdown::new(2 + i as u32, false)).unwrap();
    spinning.set_spin_wait(std::time::Duration::from_micros(20));
    assert_steps_allocation_free(&mut spinning, "ThreadedVecEnv with spin-wait");
    assert_steps_allocation_free(&mut VecEnv::from_fn(3, wrapped), "VecEnv of wrapped envs");
    assert_steps_allocation_free(
        &mut ThreadedVecEnv::from_fn(3, 3, wrapped).unwrap(),
        "ThreadedVecEnv of wrapped",
    );
}
