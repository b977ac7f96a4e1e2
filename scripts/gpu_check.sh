#!/usr/bin/env bash
# GPU check for the burn CUDA backend (issue: deep RL core, item 7).
#
#   scripts/gpu_check.sh build   # here (no GPU needed): release binary with --features cuda,
#                                # copied to gpu-bin/alignrl (git-ignored) so it can be carried
#   scripts/gpu_check.sh run     # on the GPU machine: cross-check and timing, one JSON summary
#
# `run` does one PPO update on the same seeded synthetic batch on the CPU (Flex) and CUDA
# backends (`alignrl bench ppo-update`): the four losses and every parameter's gradient norm must
# agree to 1e-4 relative (exit 1 otherwise); then it times large-batch updates (4096 and 65536
# samples) on both. Record the printed numbers in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=gpu-bin/alignrl
case "${1:-}" in
  build)
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/alignrl-target}
    cargo build --release --features cuda --bin alignrl
    mkdir -p gpu-bin
    cp "$CARGO_TARGET_DIR/release/alignrl" "$BIN"
    echo "built $BIN ($(du -h "$BIN" | cut -f1))"
    ;;
  run)
    [ -x "$BIN" ] || { echo "no $BIN: run '$0 build' first" >&2; exit 2; }
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >&2 || true
    OUT=$(mktemp -d)
    for b in 4096 65536; do
      "$BIN" bench ppo-update --device cpu --batch "$b" --iters 5 --json > "$OUT/cpu_$b.json"
      "$BIN" bench ppo-update --device cuda --batch "$b" --iters 20 --json > "$OUT/cuda_$b.json"
    done
    python3 - "$OUT" <<'PYEOF'
import json, sys
d = sys.argv[1]
ok, rows = True, []
for b in (4096, 65536):
    c, g = (json.load(open(f"{d}/{k}_{b}.json")) for k in ("cpu", "cuda"))
    pairs = list(zip(c["losses"], g["losses"])) + list(zip(c["grad_norms"], g["grad_norms"]))
    worst = max(abs(x - y) / max(abs(x), abs(y), 1e-12) for x, y in pairs)
    ok &= worst < 1e-4 and len(c["grad_norms"]) == len(g["grad_norms"])
    rows.append({"batch": b, "max_rel_diff": worst, "cpu_secs_per_update": c["secs_per_update"],
                 "cuda_secs_per_update": g["secs_per_update"],
                 "speedup": c["secs_per_update"] / g["secs_per_update"]})
print(json.dumps({"agree_1e-4": ok, "rows": rows}, indent=2))
sys.exit(0 if ok else 1)
PYEOF
    ;;
  *)
    echo "usage: $0 build|run" >&2
    exit 2
    ;;
esac
