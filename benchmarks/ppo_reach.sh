#!/usr/bin/env bash
# PPO learning the rapier3d manipulation task Reach-v0 (issue 8's must-show: >= 80% success).
#
# Usage: bash benchmarks/ppo_reach.sh [STEPS] [SEEDS]
#   Builds `alignrl` in release, trains PPO with the defaults `alignrl train --env Reach-v0` uses
#   (PpoConfig::tuned: 8 envs x 256 steps, 10 epochs x 8 minibatches, lr 3e-4) for STEPS env
#   steps (default 1000000) for each seed in 1..=SEEDS (default 5), then evaluates every run's
#   final checkpoint greedily on 100 held-out episodes (reset seeds 10000..10099, not used in
#   training) with `alignrl eval --json`. Success = info["success"] at some step of the episode
#   (TCP within 5 cm of the goal). Prints one JSON object on stdout:
#   {"env", "steps", "runs": [{"seed", "success_rate", "mean_return", "train_wall_s"}],
#    "success_rate_median", "seeds_at_least_0.8"}; progress lines on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-1000000}
SEEDS=${2:-5}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/alignrl-target}"
cargo build --release -q -p alignrl-experiments --bin alignrl
BIN="$CARGO_TARGET_DIR/release/alignrl"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
runs=()
for seed in $(seq 1 "$SEEDS"); do
  t=$("$BIN" train --env Reach-v0 --total-steps "$STEPS" \
        --seed "$seed" --run-dir "$OUT/seed$seed" --json 2>/dev/null)
  e=$("$BIN" eval --run-dir "$OUT/seed$seed" --episodes 100 --seed 10000 --json 2>/dev/null)
  runs+=("$(python3 -c 'import json,sys; t=json.loads(sys.argv[1]); e=json.loads(sys.argv[2]); print(json.dumps({"seed": int(sys.argv[3]), "success_rate": e["success_rate"], "mean_return": e["mean_return"], "train_wall_s": t["wall_time_s"]}))' "$t" "$e" "$seed")")
  echo "seed $seed: ${runs[-1]}" >&2
done
python3 - "$STEPS" "${runs[@]}" <<'PY'
import json, statistics, sys
steps, runs = int(sys.argv[1]), [json.loads(r) for r in sys.argv[2:]]
rates = [r["success_rate"] for r in runs]
print(json.dumps({"env": "Reach-v0", "steps": steps, "runs": runs, "success_rate_median": statistics.median(rates),
                  "seeds_at_least_0.8": sum(r >= 0.8 for r in rates)}))
PY
