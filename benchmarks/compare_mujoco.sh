#!/usr/bin/env bash
# Side-by-side stepping speed: Gymnasium's MuJoCo Reacher-v5 vs our rapier3d tasks, one machine,
# one run.
#
# Usage: bash benchmarks/compare_mujoco.sh [STEPS]
#   Creates .venv (gitignored) with gymnasium[mujoco] if missing (or adds mujoco to it), builds
#   `alignrl` in release, then measures with uniformly random actions sampled inside every loop:
#     1. gym.make("Reacher-v5") single env                          (Python + MuJoCo)
#     2. gym.make_vec("Reacher-v5", 16, vectorization_mode="sync")  (Python + MuJoCo)
#     3. alignrl bench env --env ID             for ID in $IDS (default Reacher3D-v0 Reach-v0)
#     4. alignrl bench env --env ID --num-envs 16   (synchronous VecEnv)
#   and prints steps/s and our/MuJoCo ratios; one JSON object on stdout, human lines on stderr.
#   Target (issue 8): Reacher3D-v0 single-env steps/s >= 2x Reacher-v5's.
#   Env vars: PY_STEPS (Python steps, default 100000), IDS (space-separated alignrl ids),
#   THREADS (worker threads for our 16-env run, default 1 = synchronous).
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-200000}
PY_STEPS=${PY_STEPS:-100000}
IDS=${IDS:-"Reacher3D-v0 Reach-v0"}
THREADS=${THREADS:-1}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/alignrl-target}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import gymnasium, mujoco" 2>/dev/null; then
  .venv/bin/pip install -q "gymnasium[mujoco]==1.4.0" numpy
fi
cargo build --release -q -p alignrl-experiments --bin alignrl
BIN="$CARGO_TARGET_DIR/release/alignrl"

py_json=$(.venv/bin/python - "$PY_STEPS" <<'PY'
import json, sys, time
import gymnasium as gym
import mujoco
import numpy as np
steps = int(sys.argv[1])
env = gym.make("Reacher-v5")
env.reset(seed=0); env.action_space.seed(0)
t0 = time.perf_counter()
for _ in range(steps):
    _, _, term, trunc, _ = env.step(env.action_space.sample())
    if term or trunc:
        env.reset()
single = steps / (time.perf_counter() - t0)
venv = gym.make_vec("Reacher-v5", num_envs=16, vectorization_mode="sync")
venv.reset(seed=0); venv.action_space.seed(0)
iters = max(1, steps // 16)
t0 = time.perf_counter()
for _ in range(iters):
    venv.step(venv.action_space.sample())
vec = iters * 16 / (time.perf_counter() - t0)
print(json.dumps({"gymnasium_version": gym.__version__, "mujoco_version": mujoco.__version__,
                  "numpy_version": np.__version__, "single_sps": single, "vector16_sps": vec}))
PY
)
ours="{}"
for id in $IDS; do
  if ! s=$("$BIN" bench env --env "$id" --steps "$STEPS" --json 2>/dev/null); then
    echo "note: skipping $id (not registered in this build?)" >&2
    continue
  fi
  v=$("$BIN" bench env --env "$id" --steps "$STEPS" --num-envs 16 --threads "$THREADS" --json)
  ours=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d[sys.argv[2]]=[json.loads(sys.argv[3]), json.loads(sys.argv[4])]; print(json.dumps(d))' "$ours" "$id" "$s" "$v")
done
python3 - "$py_json" "$ours" "$(nproc)" "$THREADS" <<'PY'
import json, sys
py, ours = json.loads(sys.argv[1]), json.loads(sys.argv[2])
out = {
    "machine_cores": int(sys.argv[3]),
    "alignrl_vector_threads": int(sys.argv[4]),
    "gymnasium_version": py["gymnasium_version"],
    "mujoco_version": py["mujoco_version"],
    "mujoco_reacher_v5_single_sps": py["single_sps"],
    "mujoco_reacher_v5_vector16_sps": py["vector16_sps"],
}
for env_id, (s, v) in ours.items():
    out[f"{env_id}_single_sps"] = s["steps_per_sec"]
    out[f"{env_id}_single_ratio"] = s["steps_per_sec"] / py["single_sps"]
    out[f"{env_id}_vector16_sps"] = v["steps_per_sec"]
    out[f"{env_id}_vector16_ratio"] = v["steps_per_sec"] / py["vector16_sps"]
for k, val in out.items():
    print(f"{k:>36}: {val:,.2f}" if isinstance(val, float) else f"{k:>36}: {val}", file=sys.stderr)
print(json.dumps(out))
PY
