#!/usr/bin/env bash
# Side-by-side env stepping speed: Python Gymnasium vs alignrl, one machine, one run.
#
# Usage: bash benchmarks/compare_gymnasium.sh [STEPS]
#   Creates .venv (gitignored) with gymnasium + numpy if missing, builds `alignrl` in release,
#   then measures, with uniformly random actions sampled inside the loop in both libraries:
#     1. gym.make("CartPole-v1") single env            vs  alignrl bench env --env CartPole-v1
#     2. gymnasium CartPoleVectorEnv(num_envs=64)       vs  alignrl bench env --num-envs 64
#   and prints steps/s and the ratios as one JSON object on stdout (human lines on stderr).
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-1000000}
PY_STEPS=${PY_STEPS:-200000}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/alignrl-target}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q "gymnasium==1.4.0" numpy
fi
cargo build --release -q -p alignrl-experiments --bin alignrl
BIN="$CARGO_TARGET_DIR/release/alignrl"

py_json=$(.venv/bin/python - "$PY_STEPS" <<'PY'
import json, sys, time
import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv
steps = int(sys.argv[1])
env = gym.make("CartPole-v1")
env.reset(seed=0); env.action_space.seed(0)
t0 = time.perf_counter()
for _ in range(steps):
    _, _, term, trunc, _ = env.step(env.action_space.sample())
    if term or trunc:
        env.reset()
single = steps / (time.perf_counter() - t0)
venv = CartPoleVectorEnv(num_envs=64)
venv.reset(seed=0); venv.action_space.seed(0)
iters = max(1, steps // 64)
t0 = time.perf_counter()
for _ in range(iters):
    venv.step(venv.action_space.sample())
vec = iters * 64 / (time.perf_counter() - t0)
print(json.dumps({"gymnasium_version": gym.__version__, "numpy_version": np.__version__,
                  "single_sps": single, "vector64_sps": vec}))
PY
)
ours_single=$("$BIN" bench env --env CartPole-v1 --steps "$STEPS" --json)
ours_vec=$("$BIN" bench env --env CartPole-v1 --steps "$STEPS" --num-envs 64 --json)
python3 - "$py_json" "$ours_single" "$ours_vec" "$(nproc)" <<'PY'
import json, sys
py, s, v = (json.loads(a) for a in sys.argv[1:4])
out = {
    "machine_cores": int(sys.argv[4]),
    "gymnasium_version": py["gymnasium_version"],
    "gymnasium_single_sps": py["single_sps"],
    "alignrl_single_sps": s["steps_per_sec"],
    "single_ratio": s["steps_per_sec"] / py["single_sps"],
    "gymnasium_vector64_sps": py["vector64_sps"],
    "alignrl_vector64_sps": v["steps_per_sec"],
    "vector64_ratio": v["steps_per_sec"] / py["vector64_sps"],
}
for k, val in out.items():
    print(f"{k:>24}: {val:,.2f}" if isinstance(val, float) else f"{k:>24}: {val}", file=sys.stderr)
print(json.dumps(out))
PY
