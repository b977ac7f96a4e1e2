"""Stable-Baselines3 side of benchmarks/compare_sb3.sh: prints one JSON object per run.

  python sb3_runner.py ppo SEED THREADS   PPO on CartPole-v1 with rl-zoo's hyperparameters (8 envs);
                                          wall-clock seconds from the start of learn() until the mean
                                          return of the last 20 training episodes first reaches 475
                                          (training stops there), or null within 100k steps.
  python sb3_runner.py sac SEED THREADS   SAC on Pendulum-v1 with rl-zoo's hyperparameters; gradient
                                          updates per second between env steps 1000 and 3000 (one
                                          update per env step after learning_starts = 100).
"""

import json
import sys
import time
from collections import deque

import torch
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env


def linear(x0):
    return lambda progress_remaining: progress_remaining * x0


class Threshold(BaseCallback):
    def __init__(self, threshold=475.0, window=20):
        super().__init__()
        self.returns = deque(maxlen=window)
        self.threshold = threshold
        self.reached = None
        self.t0 = None

    def _on_training_start(self):
        self.t0 = time.perf_counter()

    def _on_step(self):
        for info in self.locals["infos"]:
            ep = info.get("episode")
            if ep is not None:
                self.returns.append(ep["r"])
                full = len(self.returns) == self.returns.maxlen
                if full and sum(self.returns) / len(self.returns) >= self.threshold:
                    self.reached = (self.num_timesteps, time.perf_counter() - self.t0)
                    return False
        return True


class UpdateRate(BaseCallback):
    def __init__(self, a=1000, b=3000):
        super().__init__()
        self.a, self.b, self.marks = a, b, {}

    def _on_step(self):
        for k in (self.a, self.b):
            if self.num_timesteps == k:
                self.marks[k] = (time.perf_counter(), self.model._n_updates)
        return True


def main():
    algo, seed, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    if algo == "ppo":
        env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
        model = PPO(
            "MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
            ent_coef=0.0, learning_rate=linear(0.001), clip_range=linear(0.2), seed=seed, device="cpu",
        )
        cb = Threshold()
        t0 = time.perf_counter()
        model.learn(total_timesteps=100_000, callback=cb)
        wall = time.perf_counter() - t0
        out = {"lib": "sb3", "algo": "ppo", "seed": seed, "threads": threads,
               "steps_to_threshold": cb.reached[0] if cb.reached else None,
               "time_to_threshold_s": cb.reached[1] if cb.reached else None,
               "steps": model.num_timesteps, "wall_time_s": wall, "sps": model.num_timesteps / wall}
    else:
        model = SAC("MlpPolicy", "Pendulum-v1", learning_rate=1e-3, seed=seed, device="cpu")
        cb = UpdateRate()
        model.learn(total_timesteps=3000, callback=cb)
        (ta, ua), (tb, ub) = cb.marks[1000], cb.marks[3000]
        out = {"lib": "sb3", "algo": "sac", "seed": seed, "threads": threads,
               "updates_per_sec": (ub - ua) / (tb - ta)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
