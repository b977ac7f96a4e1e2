//! [`ThreadedVecEnv`]: `N` environments split across persistent worker threads.
//!
//! The sub-envs are split into `W` contiguous chunks. The calling thread steps the first chunk
//! itself; each other chunk belongs to a spawned worker thread, together with its action and
//! result buffers, in a slot guarded by a mutex, with two condition variables: one wakes the
//! worker when a command is posted, the other wakes the calling thread when the reply is posted.
//! The calling thread writes each chunk's actions and posts the command, steps its own chunk, then
//! collects the replies in order, copying each chunk's results into the contiguous output buffers.
//! Threads, slots and buffers are created once; futex-based mutexes and condvars never allocate,
//! so neither does a step.
//!
//! A side only notifies a condition variable when the other one is actually parked. Waking a
//! parked thread is slow on virtual machines (tens of microseconds when its core is idle), so both
//! sides can first spin on an atomic flag for a bounded time before parking
//! ([`ThreadedVecEnv::set_spin_wait`]; off by default).

use std::any::Any;
use std::hint::spin_loop;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::env::{Env, EnvError, Info, check_len};
use crate::space::Space;
use crate::vector::{Batch, NEEDS_RESET, Spaces, VecStep, VectorEnv, check_seeds};

#[derive(Debug, Clone, Copy)]
enum Command {
    Reset,
    Step,
}

/// `Err((global sub-env index, error))`.
type Reply = Result<(), (usize, EnvError)>;

/// A worker's sub-envs and their buffers.
struct Chunk<E> {
    envs: Vec<E>,
    /// Global index of `envs[0]`.
    offset: usize,
    actions: Vec<f64>,
    seeds: Vec<Option<u64>>,
    batch: Batch,
}

impl<E: Env> Chunk<E> {
    fn run(&mut self, cmd: Command) -> Reply {
        let result = match cmd {
            Command::Reset => {
                let seeds = &self.seeds;
                self.batch.reset(&mut self.envs, |i| seeds[i])
            }
            Command::Step => self.batch.step(&mut self.envs, &self.actions),
        };
        result.map_err(|(i, e)| (self.offset + i, e))
    }
}

/// What the calling thread and one worker share.
struct Slot<E> {
    chunk: Chunk<E>,
    /// Posted by the calling thread, taken by the worker.
    command: Option<Command>,
    /// Posted by the worker, taken by the calling thread.
    reply: Option<Reply>,
    /// Set by the calling thread to stop the worker.
    shutdown: bool,
    /// Set when the worker thread is gone (it panicked outside an env, or was shut down).
    exited: bool,
    /// The worker is parked on `to_worker`.
    worker_parked: bool,
    /// The calling thread is parked on `to_caller`.
    caller_parked: bool,
}

struct Shared<E> {
    slot: Mutex<Slot<E>>,
    /// Signals a posted command or shutdown.
    to_worker: Condvar,
    /// Signals a posted reply or the worker's exit.
    to_caller: Condvar,
    /// Hint, set with the command (or shutdown): lets the worker spin without the lock.
    command_posted: AtomicBool,
    /// Hint, set with the reply (or exit): lets the calling thread spin without the lock.
    reply_posted: AtomicBool,
    /// How long the worker spins for a command before parking, in nanoseconds.
    spin_ns: AtomicU64,
}

impl<E> Shared<E> {
    fn lock(&self) -> MutexGuard<'_, Slot<E>> {
        // Env panics are caught inside the lock, so poisoning should not happen; tolerate it.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Worker<E> {
    shared: Arc<Shared<E>>,
    handle: Option<JoinHandle<()>>,
    offset: usize,
    len: usize,
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(non-string panic payload)"
    }
}

/// Marks the slot as exited when the worker thread ends, however it ends (even by unwinding), so
/// that the calling thread never waits for a reply that cannot come.
struct ExitGuard<E>(Arc<Shared<E>>);

impl<E> Drop for ExitGuard<E> {
    fn drop(&mut self) {
        self.0.lock().exited = true;
        self.0.reply_posted.store(true, Ordering::Release);
        self.0.to_caller.notify_all();
    }
}

/// Spins until `flag` is set or `budget` has passed; returns whether it was set.
fn spin_until(flag: &AtomicBool, budget: Duration) -> bool {
    if flag.load(Ordering::Acquire) {
        return true;
    }
    if budget.is_zero() {
        return false;
    }
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            spin_loop();
            if flag.load(Ordering::Acquire) {
                return true;
            }
        }
        if start.elapsed() >= budget {
            return false;
        }
    }
}

/// Runs `cmd` on `chunk`, turning a panic in a sub-env into an error naming it.
fn run_caught<E: Env>(chunk: &mut Chunk<E>, cmd: Command) -> Reply {
    match panic::catch_unwind(AssertUnwindSafe(|| chunk.run(cmd))) {
        Ok(r) => r,
        Err(payload) => {
            let i = chunk.offset + chunk.batch.cursor;
            let msg = format!("sub-env {i} panicked: {}", panic_message(payload.as_ref()));
            Err((i, EnvError::Other(msg)))
        }
    }
}

fn worker_loop<E: Env>(shared: Arc<Shared<E>>) {
    let _exit = ExitGuard(Arc::clone(&shared));
    let mut slot = shared.lock();
    loop {
        let mut spun = false;
        let cmd = loop {
            if slot.shutdown {
                return;
            }
            if let Some(cmd) = slot.command.take() {
                shared.command_posted.store(false, Ordering::Relaxed);
                break cmd;
            }
            if !spun {
                spun = true;
                drop(slot);
                spin_until(
                    &shared.command_posted,
                    Duration::from_nanos(shared.spin_ns.load(Ordering::Relaxed)),
                );
                slot = shared.lock();
                continue;
            }
            slot.worker_parked = true;
            slot = shared.to_worker.wait(slot).unwrap_or_else(PoisonError::into_inner);
            slot.worker_parked = false;
        };
        let reply = run_caught(&mut slot.chunk, cmd);
        slot.reply = Some(reply);
        shared.reply_posted.store(true, Ordering::Release);
        if slot.caller_parked {
            shared.to_caller.notify_one();
        }
    }
}

/// Gymnasium's vector env semantics (next-step autoreset, seeds `seed + i`; see the
/// [module docs](crate::vector)) with the sub-envs split into `W` contiguous chunks stepped in
/// parallel: the calling thread steps the first chunk and `W - 1` persistent worker threads step
/// the others (so `W = 1` spawns nothing and runs synchronously).
///
/// Results are bit-identical to [`crate::vector::VecEnv`] for the same seeds and actions: each
/// sub-env sees exactly the same calls. Worth it when stepping a chunk costs clearly more than
/// waking a thread (microseconds to tens of microseconds on a busy machine); measure with the
/// `env_step` benchmark (`sync_vs_threaded`).
///
/// Errors from sub-envs come back as [`EnvError`]s, and so do panics in sub-envs (caught,
/// reported as [`EnvError::Other`] naming the sub-env); either way the vector env must be reset
/// before it steps again. A worker thread that is gone makes every later call an error rather
/// than a hang. Dropping the vector env shuts the workers down and joins them.
///
/// ```
/// # use alignrl_envs::{DType, Env, EnvError, Info, Space, Step};
/// # struct Coin(Space, Space);
/// # impl Env for Coin {
/// #     fn observation_space(&self) -> &Space { &self.0 }
/// #     fn action_space(&self) -> &Space { &self.1 }
/// #     fn reset(&mut self, _: Option<u64>, o: &mut [f64], _: &mut Info) -> Result<(), EnvError> { o[0] = 0.0; Ok(()) }
/// #     fn step(&mut self, a: &[f64], o: &mut [f64], _: &mut Info) -> Result<Step, EnvError> {
/// #         o[0] = a[0]; Ok(Step { reward: a[0], terminated: false, truncated: false })
/// #     }
/// #     fn name(&self) -> &str { "Coin" }
/// # }
/// # fn make_coin() -> Coin { Coin(Space::uniform_box(0.0, 1.0, &[1], DType::F32), Space::discrete(2)) }
/// use alignrl_envs::vector::ThreadedVecEnv;
///
/// // 8 sub-envs on 2 threads, 4 each: the calling thread and one worker.
/// let mut venv = ThreadedVecEnv::from_fn(8, 2, |_| make_coin())?;
/// venv.reset(Some(0))?;
/// let step = venv.step(&[1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0])?;
/// assert_eq!(step.observations, [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0]);
/// # Ok::<(), EnvError>(())
/// ```
pub struct ThreadedVecEnv<E> {
    /// The first chunk, stepped by the calling thread.
    local: Chunk<E>,
    /// The other chunks, one per worker thread.
    workers: Vec<Worker<E>>,
    out: Batch,
    spaces: Spaces,
    name: String,
    num_envs: usize,
    needs_reset: bool,
    /// Set when a worker thread is gone: the vector env is unusable.
    broken: Option<String>,
    /// How long the calling thread spins for a reply before parking.
    spin: Duration,
}

impl<E: Env + 'static> ThreadedVecEnv<E> {
    /// Default of [`ThreadedVecEnv::set_spin_wait`]: no spinning. On a machine whose cores are
    /// shared with other work, spinning steals the time the other threads need (measured on 2
    /// busy cores: 3 to 6 times slower hand-offs with a 50 µs spin); on dedicated idle cores a
    /// spin of about the wake-up latency (tens of microseconds) makes hand-offs much cheaper.
    pub const DEFAULT_SPIN_WAIT: Duration = Duration::ZERO;

    /// A threaded vector env over `envs`, split into `num_workers` contiguous chunks of nearly
    /// equal size, stepped by the calling thread and `num_workers - 1` spawned threads (`0` means
    /// the number of available CPUs; at most one chunk per env). Errors if `envs` is empty, their
    /// spaces differ, or a thread cannot be spawned.
    pub fn new(envs: Vec<E>, num_workers: usize) -> Result<Self, EnvError> {
        let spaces = Spaces::of(&envs)?;
        let n = envs.len();
        let (obs_len, act_len) = (spaces.single_obs.packed_len(), spaces.single_act.packed_len());
        let w = match num_workers {
            0 => thread::available_parallelism().map_or(1, |p| p.get()),
            w => w,
        }
        .min(n);
        let chunk_len = |k: usize| n / w + usize::from(k < n % w);
        let mut rest = envs.into_iter();
        let local_len = chunk_len(0);
        let local = Chunk {
            envs: rest.by_ref().take(local_len).collect(),
            offset: 0,
            actions: vec![0.0; local_len * act_len],
            seeds: vec![None; local_len],
            batch: Batch::new(local_len, obs_len, act_len),
        };
        let mut this = ThreadedVecEnv {
            name: local.envs[0].name().to_string(),
            local,
            workers: Vec::with_capacity(w - 1),
            out: Batch::new(n, obs_len, act_len),
            spaces,
            num_envs: n,
            needs_reset: true,
            broken: None,
            spin: Self::DEFAULT_SPIN_WAIT,
        };
        let mut offset = local_len;
        for k in 1..w {
            let len = chunk_len(k);
            let chunk = Chunk {
                envs: rest.by_ref().take(len).collect(),
                offset,
                actions: vec![0.0; len * act_len],
                seeds: vec![None; len],
                batch: Batch::new(len, obs_len, act_len),
            };
            let shared = Arc::new(Shared {
                slot: Mutex::new(Slot {
                    chunk,
                    command: None,
                    reply: None,
                    shutdown: false,
                    exited: false,
                    worker_parked: false,
                    caller_parked: false,
                }),
                to_worker: Condvar::new(),
                to_caller: Condvar::new(),
                command_posted: AtomicBool::new(false),
                reply_posted: AtomicBool::new(false),
                spin_ns: AtomicU64::new(Self::DEFAULT_SPIN_WAIT.as_nanos() as u64),
            });
            let theirs = Arc::clone(&shared);
            let handle = thread::Builder::new()
                .name(format!("alignrl-vecenv-{k}"))
                .spawn(move || worker_loop(theirs))
                .map_err(|e| EnvError::Other(format!("cannot spawn vector env worker {k}: {e}")))?;
            this.workers.push(Worker { shared, handle: Some(handle), offset, len });
            offset += len;
        }
        Ok(this)
    }

    /// A threaded vector env over `make(0), ..., make(n - 1)` (built on the calling thread) with
    /// `num_workers` threads, the calling thread included (`0`: the number of available CPUs).
    pub fn from_fn(n: usize, num_workers: usize, make: impl FnMut(usize) -> E) -> Result<Self, EnvError> {
        Self::new((0..n).map(make).collect(), num_workers)
    }

    /// Number of sub-envs.
    pub fn num_envs(&self) -> usize {
        self.num_envs
    }
    /// Sets how long a thread busy-waits for its counterpart before parking: workers waiting for
    /// the next command, and the calling thread waiting for a worker's results. Spinning avoids the
    /// latency of waking a parked thread (tens of microseconds on virtual machines) when steps
    /// follow each other quickly, at the price of up to `spin` of CPU per worker and step when they
    /// do not (e.g. while the caller runs a policy). `Duration::ZERO` always parks.
    pub fn set_spin_wait(&mut self, spin: Duration) {
        self.spin = spin;
        for w in &self.workers {
            w.shared.spin_ns.store(spin.as_nanos().min(u64::MAX as u128) as u64, Ordering::Relaxed);
        }
    }
    /// The spin-wait budget (see [`ThreadedVecEnv::set_spin_wait`]).
    pub fn spin_wait(&self) -> Duration {
        self.spin
    }
    /// Number of threads stepping sub-envs: the calling thread plus the spawned workers.
    pub fn num_workers(&self) -> usize {
        1 + self.workers.len()
    }
    /// The space of one sub-env's observations.
    pub fn single_observation_space(&self) -> &Space {
        &self.spaces.single_obs
    }
    /// The space of one sub-env's actions.
    pub fn single_action_space(&self) -> &Space {
        &self.spaces.single_act
    }
    /// The space of batched observations ([`crate::vector::batch_space`]).
    pub fn observation_space(&self) -> &Space {
        &self.spaces.batch_obs
    }
    /// The space of batched actions ([`crate::vector::batch_space`]).
    pub fn action_space(&self) -> &Space {
        &self.spaces.batch_act
    }
    /// The sub-envs' name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `f` on sub-env `i` (e.g. to read or restore wrapper statistics) and returns its result.
    ///
    /// # Panics
    /// If `i >= num_envs()`.
    pub fn with_env<R>(&mut self, i: usize, f: impl FnOnce(&mut E) -> R) -> R {
        assert!(i < self.num_envs, "sub-env {i} out of range ({} sub-envs)", self.num_envs);
        if i < self.local.envs.len() {
            return f(&mut self.local.envs[i]);
        }
        let w = self.workers.iter().find(|w| i < w.offset + w.len).expect("chunks cover every index");
        let mut slot = w.shared.lock();
        f(&mut slot.chunk.envs[i - w.offset])
    }

    /// Resets every sub-env, sub-env `i` with `seed + i` (`None`: continue every generator), and
    /// returns the `N` first observations (row-major). Infos are in [`ThreadedVecEnv::infos`].
    pub fn reset(&mut self, seed: Option<u64>) -> Result<&[f64], EnvError> {
        self.reset_impl(|i| seed.map(|s| s.wrapping_add(i as u64)))
    }

    /// Resets sub-env `i` with `seeds[i]` and returns the `N` first observations.
    pub fn reset_with_seeds(&mut self, seeds: &[Option<u64>]) -> Result<&[f64], EnvError> {
        check_seeds(seeds, self.num_envs)?;
        self.reset_impl(|i| seeds[i])
    }

    fn reset_impl(&mut self, seed: impl Fn(usize) -> Option<u64>) -> Result<&[f64], EnvError> {
        self.check_alive()?;
        self.needs_reset = true;
        for (j, s) in self.local.seeds.iter_mut().enumerate() {
            *s = seed(j);
        }
        for w in &self.workers {
            let mut slot = w.shared.lock();
            for (j, s) in slot.chunk.seeds.iter_mut().enumerate() {
                *s = seed(w.offset + j);
            }
        }
        self.run(Command::Reset)?;
        self.needs_reset = false;
        Ok(&self.out.obs)
    }

    /// Steps every sub-env with its row of `actions` (`N * single_action_space().packed_len()`
    /// values); a sub-env that ended at the previous step is reset instead and its action ignored.
    /// Allocation-free.
    pub fn step(&mut self, actions: &[f64]) -> Result<VecStep<'_>, EnvError> {
        self.check_alive()?;
        if self.needs_reset {
            return Err(EnvError::NeedsReset(NEEDS_RESET));
        }
        let m = self.out.act_len;
        check_len("actions", actions, self.num_envs * m)?;
        let local = self.local.actions.len();
        self.local.actions.copy_from_slice(&actions[..local]);
        for w in &self.workers {
            w.shared.lock().chunk.actions.copy_from_slice(&actions[w.offset * m..(w.offset + w.len) * m]);
        }
        self.run(Command::Step)?;
        Ok(self.out.view())
    }

    /// The observations returned by the last `reset` or `step` (row-major).
    pub fn observations(&self) -> &[f64] {
        &self.out.obs
    }
    /// The infos of the last `reset` or `step`, one per sub-env.
    pub fn infos(&self) -> &[Info] {
        &self.out.infos
    }

    fn check_alive(&self) -> Result<(), EnvError> {
        match &self.broken {
            Some(why) => Err(EnvError::Other(format!("the threaded vector env is unusable: {why}"))),
            None => Ok(()),
        }
    }

    /// Posts `cmd` to every worker, then collects the replies in order, copying each chunk's
    /// results as soon as it is done. Returns the error of the lowest-indexed failing sub-env.
    fn run(&mut self, cmd: Command) -> Result<(), EnvError> {
        for w in &self.workers {
            let mut slot = w.shared.lock();
            slot.command = Some(cmd);
            w.shared.command_posted.store(true, Ordering::Release);
            let parked = slot.worker_parked;
            drop(slot);
            if parked {
                w.shared.to_worker.notify_one();
            }
        }
        let mut first_error: Option<(usize, EnvError)> = None;
        match run_caught(&mut self.local, cmd) {
            Ok(()) => self.out.copy_rows_from(0, &self.local.batch),
            Err(e) => first_error = Some(e),
        }
        for (k, w) in self.workers.iter().enumerate() {
            spin_until(&w.shared.reply_posted, self.spin);
            let mut slot = w.shared.lock();
            let reply = loop {
                if let Some(r) = slot.reply.take() {
                    w.shared.reply_posted.store(false, Ordering::Relaxed);
                    break Some(r);
                }
                if slot.exited {
                    break None;
                }
                slot.caller_parked = true;
                slot = w.shared.to_caller.wait(slot).unwrap_or_else(PoisonError::into_inner);
                slot.caller_parked = false;
            };
            match reply {
                Some(Ok(())) => self.out.copy_rows_from(w.offset, &slot.chunk.batch),
                Some(Err((i, e))) => {
                    if first_error.as_ref().is_none_or(|(j, _)| i < *j) {
                        first_error = Some((i, e));
                    }
                }
                None => self.broken = Some(format!("worker thread {} has exited", k + 1)),
            }
        }
        if let Some((_, e)) = first_error {
            self.needs_reset = true;
            return Err(e);
        }
        if self.broken.is_some() {
            self.needs_reset = true;
            return self.check_alive();
        }
        Ok(())
    }
}

impl<E: Env + 'static> VectorEnv for ThreadedVecEnv<E> {
    fn num_envs(&self) -> usize {
        ThreadedVecEnv::num_envs(self)
    }
    fn single_observation_space(&self) -> &Space {
        ThreadedVecEnv::single_observation_space(self)
    }
    fn single_action_space(&self) -> &Space {
        ThreadedVecEnv::single_action_space(self)
    }
    fn observation_space(&self) -> &Space {
        ThreadedVecEnv::observation_space(self)
    }
    fn action_space(&self) -> &Space {
        ThreadedVecEnv::action_space(self)
    }
    fn reset(&mut self, seed: Option<u64>) -> Result<&[f64], EnvError> {
        ThreadedVecEnv::reset(self, seed)
    }
    fn reset_with_seeds(&mut self, seeds: &[Option<u64>]) -> Result<&[f64], EnvError> {
        ThreadedVecEnv::reset_with_seeds(self, seeds)
    }
    fn step(&mut self, actions: &[f64]) -> Result<VecStep<'_>, EnvError> {
        ThreadedVecEnv::step(self, actions)
    }
    fn observations(&self) -> &[f64] {
        ThreadedVecEnv::observations(self)
    }
    fn infos(&self) -> &[Info] {
        ThreadedVecEnv::infos(self)
    }
}

impl<E> std::fmt::Debug for ThreadedVecEnv<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadedVecEnv")
            .field("name", &self.name)
            .field("num_envs", &self.num_envs)
            .field("num_workers", &(1 + self.workers.len()))
            .field("needs_reset", &self.needs_reset)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl<E> Drop for ThreadedVecEnv<E> {
    /// Tells every worker to stop and joins the threads.
    fn drop(&mut self) {
        for w in &self.workers {
            w.shared.lock().shutdown = true;
            w.shared.command_posted.store(true, Ordering::Release);
            w.shared.to_worker.notify_one();
        }
        for w in &mut self.workers {
            if let Some(h) = w.handle.take() {
                // A worker that died has already been reported; nothing to propagate from drop.
                let _ = h.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::VecEnv;
    use crate::vector::testing::Counter;

    #[test]
    fn chunks_cover_every_env_and_workers_are_clamped() {
        let mut venv = ThreadedVecEnv::from_fn(7, 3, |_| Counter::new(3)).unwrap();
        assert_eq!(venv.num_workers(), 3);
        let lens: Vec<usize> = venv.workers.iter().map(|w| w.len).collect();
        assert_eq!((venv.local.envs.len(), lens), (3, vec![2, 2]));
        let offsets: Vec<usize> = venv.workers.iter().map(|w| w.offset).collect();
        assert_eq!(offsets, vec![3, 5]);
        assert_eq!(ThreadedVecEnv::from_fn(3, 1, |_| Counter::new(3)).unwrap().workers.len(), 0);
        assert_eq!(ThreadedVecEnv::from_fn(2, 8, |_| Counter::new(3)).unwrap().num_workers(), 2);
        assert!(ThreadedVecEnv::from_fn(3, 0, |_| Counter::new(3)).unwrap().num_workers() >= 1);
        assert!(ThreadedVecEnv::<Counter>::new(vec![], 2).is_err());
        for i in 0..7 {
            venv.with_env(i, |e| e.len = i as u32 + 1);
        }
        assert_eq!(venv.with_env(6, |e| e.len), 7);
        assert_eq!(venv.name(), "Counter");
        assert!(format!("{venv:?}").contains("num_workers: 3"));
    }

    #[test]
    fn matches_the_synchronous_env_bit_for_bit() {
        let make = |i: usize| {
            let mut c = Counter::new(3 + i as u32 % 4);
            c.truncate = i.is_multiple_of(3);
            c
        };
        for spin in [Duration::ZERO, Duration::from_micros(20)] {
            let mut thr = ThreadedVecEnv::from_fn(7, 3, make).unwrap();
            thr.set_spin_wait(spin);
            assert_eq!(thr.spin_wait(), spin);
            compare_with_sync(&mut VecEnv::from_fn(7, make), &mut thr);
        }
    }

    fn compare_with_sync(sync: &mut VecEnv<Counter>, thr: &mut ThreadedVecEnv<Counter>) {
        assert_eq!(sync.reset(Some(5)).unwrap(), thr.reset(Some(5)).unwrap());
        assert_eq!(sync.infos(), thr.infos());
        let mut actions = vec![0.0; 7];
        for t in 0..40 {
            for (i, a) in actions.iter_mut().enumerate() {
                *a = ((t * 7 + i) % 5) as f64 * 0.5;
            }
            let a = sync.step(&actions).unwrap();
            let b = thr.step(&actions).unwrap();
            let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(a.observations), bits(b.observations), "step {t}");
            assert_eq!(bits(a.rewards), bits(b.rewards));
            assert_eq!((a.terminated, a.truncated), (b.terminated, b.truncated));
            assert_eq!(a.infos, b.infos);
        }
    }

    #[test]
    fn env_errors_and_panics_come_back_as_errors() {
        let mut venv = ThreadedVecEnv::from_fn(4, 2, |_| Counter::new(10)).unwrap();
        venv.reset(Some(0)).unwrap();
        // Sub-env 3 fails (on the worker) and sub-env 1 panics (on this thread): lowest index wins.
        let err = venv.step(&[0.0, -2.0, 0.0, -1.0]).unwrap_err();
        assert!(
            matches!(&err, EnvError::Other(m) if m.contains("sub-env 1 panicked: Counter told to panic")),
            "{err}"
        );
        assert!(matches!(venv.step(&[0.0; 4]), Err(EnvError::NeedsReset(_))));
        venv.reset(Some(0)).unwrap();
        let err = venv.step(&[0.0, 0.0, 0.0, -1.0]).unwrap_err();
        assert!(matches!(err, EnvError::InvalidAction { .. }));
        venv.reset(None).unwrap();
        let err = venv.step(&[0.0, 0.0, 0.0, -2.0]).unwrap_err();
        assert!(err.to_string().contains("sub-env 3 panicked"), "{err}");
        venv.reset(None).unwrap();
        assert!(venv.step(&[0.0; 4]).is_ok());
        assert!(matches!(venv.step(&[0.0; 3]), Err(EnvError::BufferLength { .. })));
    }

    #[test]
    fn a_dead_worker_is_an_error_not_a_hang() {
        let mut venv = ThreadedVecEnv::from_fn(4, 2, |_| Counter::new(10)).unwrap();
        venv.reset(Some(0)).unwrap();
        // Stop worker thread 1 behind the vector env's back and wait until it is gone.
        let w = &mut venv.workers[0];
        w.shared.lock().shutdown = true;
        w.shared.command_posted.store(true, Ordering::Release);
        w.shared.to_worker.notify_one();
        w.handle.take().unwrap().join().unwrap();
        let err = venv.step(&[0.0; 4]).unwrap_err();
        assert!(err.to_string().contains("worker thread 1 has exited"), "{err}");
        assert!(venv.reset(Some(0)).is_err(), "stays unusable");
    }

    #[test]
    fn drop_joins_the_workers() {
        let venv = ThreadedVecEnv::from_fn(4, 4, |_| Counter::new(10)).unwrap();
        let probes: Vec<_> = venv.workers.iter().map(|w| Arc::downgrade(&w.shared)).collect();
        drop(venv);
        assert!(probes.iter().all(|p| p.upgrade().is_none()), "every worker released its slot");
    }
}
