//! `TabularEnv::step` does not allocate: counted with a global allocator that counts only the
//! test's own thread (the test harness's threads allocate at times of their own choosing).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use alignrl_envs::tabular::{Gridworld, GridworldConfig, TabularEnv, TrapGridworld};
use alignrl_envs::{Env, Info};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static TRACKED: Cell<bool> = const { Cell::new(false) };
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

#[test]
fn step_and_reset_do_not_allocate() {
    TRACKED.with(|t| t.set(true));
    let trap = TrapGridworld::with_weights([1.0, 1.0]).unwrap();
    let (mdp, layout) = trap.into_parts();
    let mut trap_env = TabularEnv::new(mdp, "trap")
        .with_layout(layout)
        .with_info_feature("primary_reward", 0)
        .with_info_feature("aux_reward", 1);
    let grid =
        Gridworld::from_ascii("S...#/.a.../...XG", GridworldConfig { slip: 0.2, ..Default::default() })
            .unwrap();
    let mut grid_env = TabularEnv::new(grid.mdp().clone(), "grid");
    let mut obs = [0.0];
    let mut info = Info::new();
    for env in [&mut trap_env as &mut dyn Env, &mut grid_env] {
        env.reset(Some(0), &mut obs, &mut info).unwrap();
        let before = ALLOCS.load(Ordering::Relaxed);
        let mut total = 0.0;
        for t in 0..20_000u64 {
            info.clear();
            let s = env.step(&[(t % 4) as f64], &mut obs, &mut info).unwrap();
            total += s.reward;
            if s.done() {
                env.reset(None, &mut obs, &mut info).unwrap();
            }
        }
        let after = ALLOCS.load(Ordering::Relaxed);
        assert_eq!(after - before, 0, "{} allocations in 20k steps (total reward {total})", after - before);
    }
}
