#!/usr/bin/env python3
"""Record Gymnasium classic-control trajectories as fixtures for `envs/tests/gym_parity.rs`.

Usage, from the repository root:

    python3 -m venv .venv                     # .venv is gitignored
    .venv/bin/pip install gymnasium==1.4.0 numpy
    .venv/bin/python scripts/gen_gym_fixtures.py

This writes one compact JSON file per environment to `envs/tests/fixtures/gymnasium/<id>.json`.
The script refuses to run under another Gymnasium version than `GYMNASIUM_VERSION` (the one the
Rust ports follow) unless `--any-version` is given; the version used is stored in every file.

Every environment is built with `gym.make(id, **kwargs)`, so Gymnasium's `TimeLimit` applies.
For each episode the file holds:

- `kwargs`: the keyword arguments given to `gym.make` (e.g. `{"g": 9.81}`),
- `initial_state`: `env.unwrapped.state` right after `reset` (the exact internal state, as f64),
- `initial_obs`: the observation `reset` returned,
- `actions`: the actions taken (integers, or the float32 value of a continuous action),
- per step: `obs`, `reward`, `terminated`, `truncated`,
- `policy`: how the actions were chosen.

Actions come from numpy generators with fixed seeds: uniformly random ones, plus a few episodes
of simple heuristic controllers (with random exploration) so that goals, time limits, speed
limits and walls are reached. Continuous actions are float32 (the action spaces' dtype) and range
beyond the action bounds to exercise clipping. Episodes stop at `terminated or truncated`, except
the ones marked `after_end`, which keep stepping a few times past termination to record
Gymnasium's behaviour there (CartPole's `steps_beyond_terminated` rewards).

Every float is written as a JSON *string* holding Python's shortest round-trip repr (see `f64`
below), so every value is exact; integers and booleans are plain JSON.
"""

import argparse
import json
import os
import sys

import gymnasium as gym
import numpy as np

GYMNASIUM_VERSION = "1.4.0"
REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT_DIR = os.path.join(REPO, "envs", "tests", "fixtures", "gymnasium")


def f64(x):
    """A float as a JSON string holding Python's shortest round-trip repr of its exact float64
    value (float32 values are widened exactly first). Strings rather than JSON numbers because
    serde_json's default float parser (without its `float_roundtrip` feature) can be one ulp off,
    while Rust's `str::parse::<f64>` is exact."""
    return repr(float(x))


def to_env_action(env, a):
    if isinstance(env.action_space, gym.spaces.Box):
        return np.array([a], dtype=np.float32)
    return int(a)


# ---------------------------------------------------------------------------------------------
# Policies: (rng, obs, step) -> action (an int, or a float cast to float32 later).


def cartpole_random(rng, obs, t):
    return int(rng.integers(2))


def cartpole_balance(rng, obs, t):
    if rng.random() < 0.1:
        return int(rng.integers(2))
    _, _, theta, theta_dot = obs
    return 1 if theta + 0.5 * theta_dot > 0 else 0


def pendulum_random(rng, obs, t):
    # Uniform in [-3, 3]: about a third of the torques lie outside [-2, 2] and get clipped.
    return float(rng.uniform(-3.0, 3.0))


def pendulum_pump(rng, obs, t):
    # Bang-bang energy pumping: spins the pendulum up to the speed limit (|thdot| = 8).
    if rng.random() < 0.1:
        return float(rng.choice([-2.0, 2.0, -2.5, 2.5, 0.0]))
    return 4.0 if obs[2] >= 0 else -4.0


def mountain_car_random(rng, obs, t):
    return int(rng.integers(3))


def mountain_car_pump(rng, obs, t):
    if rng.random() < 0.1:
        return int(rng.integers(3))
    return 2 if obs[1] >= 0 else 0


def mcc_random(rng, obs, t):
    # Uniform in [-1.5, 1.5] plus the exact bounds now and then: both clipping paths are used.
    if rng.random() < 0.05:
        return float(rng.choice([-1.0, 1.0]))
    return float(rng.uniform(-1.5, 1.5))


def mcc_pump(rng, obs, t):
    if rng.random() < 0.1:
        return float(rng.uniform(-1.5, 1.5))
    return float(rng.choice([1.0, 1.3])) if obs[1] >= 0 else float(rng.choice([-1.0, -1.3]))


def acrobot_random(rng, obs, t):
    return int(rng.integers(3))


def acrobot_pump(rng, obs, t):
    if rng.random() < 0.1:
        return int(rng.integers(3))
    # Torque against the first joint's velocity swings the tip up within ~100 steps.
    return 0 if obs[4] >= 0 else 2


# (id, [(kwargs, policy, number of episodes, steps past termination)])
PLANS = [
    (
        "CartPole-v1",
        [
            ({}, cartpole_random, 30, 0),
            ({}, cartpole_balance, 2, 0),
            ({}, cartpole_random, 2, 6),
            ({"sutton_barto_reward": True}, cartpole_random, 3, 0),
            ({"sutton_barto_reward": True}, cartpole_random, 1, 6),
        ],
    ),
    (
        "Pendulum-v1",
        [
            ({}, pendulum_random, 4, 0),
            ({}, pendulum_pump, 2, 0),
            ({"g": 9.81}, pendulum_random, 1, 0),
        ],
    ),
    (
        "MountainCar-v0",
        [
            ({}, mountain_car_random, 3, 0),
            ({}, mountain_car_pump, 4, 0),
            ({"goal_velocity": 0.01}, mountain_car_pump, 1, 0),
        ],
    ),
    (
        "MountainCarContinuous-v0",
        [
            ({}, mcc_random, 2, 0),
            ({}, mcc_pump, 4, 0),
        ],
    ),
    (
        "Acrobot-v1",
        [
            ({}, acrobot_random, 3, 0),
            ({}, acrobot_pump, 4, 0),
        ],
    ),
]


def record_episode(env, seed, policy, rng, after_end):
    obs, _ = env.reset(seed=seed)
    ep = {
        "seed": seed,
        "initial_state": [f64(x) for x in np.asarray(env.unwrapped.state, dtype=np.float64)],
        "initial_obs": [f64(x) for x in obs],
        "actions": [],
        "obs": [],
        "rewards": [],
        "terminated": [],
        "truncated": [],
    }
    past_end = None
    t = 0
    while True:
        a = policy(rng, obs, t)
        if isinstance(env.action_space, gym.spaces.Box):
            a = np.float32(a)
        obs, reward, terminated, truncated, _ = env.step(to_env_action(env, a))
        ep["actions"].append(f64(a) if isinstance(a, np.floating) else int(a))
        ep["obs"].append([f64(x) for x in obs])
        ep["rewards"].append(f64(reward))
        ep["terminated"].append(bool(terminated))
        ep["truncated"].append(bool(truncated))
        t += 1
        if terminated and past_end is None:
            past_end = 0
        elif past_end is not None:
            past_end += 1
        if truncated or (terminated and after_end == 0) or (past_end is not None and past_end >= after_end):
            return ep


def record(env_id, plan):
    episodes = []
    seed = 1000
    for k, (kwargs, policy, n, after_end) in enumerate(plan):
        rng = np.random.default_rng(12345 + k)
        env = gym.make(env_id, **kwargs)
        for _ in range(n):
            ep = record_episode(env, seed, policy, rng, after_end)
            ep["kwargs"] = kwargs
            ep["policy"] = policy.__name__ + (f" (+{after_end} steps past termination)" if after_end else "")
            episodes.append(ep)
            seed += 1
        max_steps = env.spec.max_episode_steps
        env.close()
    return {
        "gymnasium_version": gym.__version__,
        "numpy_version": np.__version__,
        "id": env_id,
        "max_episode_steps": max_steps,
        "episodes": episodes,
    }


def summary(data):
    eps = data["episodes"]
    steps = sum(len(e["actions"]) for e in eps)
    term = sum(any(e["terminated"]) for e in eps)
    trunc = sum(any(e["truncated"]) for e in eps)
    return f"{len(eps)} episodes, {steps} steps, {term} terminated, {trunc} truncated"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=OUT_DIR, help="output folder (default: %(default)s)")
    ap.add_argument(
        "--any-version", action="store_true", help=f"allow a Gymnasium other than {GYMNASIUM_VERSION}"
    )
    args = ap.parse_args()
    if gym.__version__ != GYMNASIUM_VERSION and not args.any_version:
        sys.exit(
            f"Gymnasium {gym.__version__} installed, fixtures are pinned to {GYMNASIUM_VERSION} "
            "(--any-version to override)"
        )
    gym.logger.min_level = gym.logger.ERROR  # silence the warning about stepping past termination
    os.makedirs(args.out, exist_ok=True)
    for env_id, plan in PLANS:
        data = record(env_id, plan)
        path = os.path.join(args.out, f"{env_id}.json")
        with open(path, "w") as f:
            json.dump(data, f, separators=(",", ":"), allow_nan=False)
            f.write("\n")
        print(f"{env_id}: {summary(data)}, {os.path.getsize(path) / 1024:.0f} KiB -> {os.path.relpath(path)}")


if __name__ == "__main__":
    main()
