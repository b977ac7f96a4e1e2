#!/usr/bin/env bash
# Side-by-side PPO (CartPole-v1, rl-zoo hyperparameters, 8 envs) and SAC (Pendulum-v1) against
# Stable-Baselines3 on this machine, 3 seeds each; prints per-run JSON lines and the ratios.
#
#   bash benchmarks/compare_sb3.sh            # uses/creates the venv in $SB3_VENV
#
# PPO: wall-clock seconds until the mean return of the last 20 training episodes first reaches
# 475 (ours: summary.json's threshold_reached.wall_time_s, timed from the start of training;
# SB3: from the start of learn()); median over seeds; ratio = ours / SB3's faster thread setting.
# SAC: gradient updates per second between env steps 1000 and 3000, acting included (ours:
# metrics.csv rows at steps 1000 and 3000); ratio = ours / SB3.
set -euo pipefail
cd "$(dirname "$0")/.."
SB3_VENV=${SB3_VENV:-$HOME/.cache/venv-sb3}
SEEDS=${SEEDS:-"1 2 3"}
if [ ! -x "$SB3_VENV/bin/python" ]; then
  python3 -m venv "$SB3_VENV"
  "$SB3_VENV/bin/pip" install -q stable-baselines3==2.9.2 gymnasium==1.4.0
fi
PY="$SB3_VENV/bin/python"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/alignrl-target}
cargo build -q --release --bin alignrl
BIN="$CARGO_TARGET_DIR/release/alignrl"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2
for s in $SEEDS; do
  "$BIN" train --env CartPole-v1 --seed "$s" --run-dir "$OUT/ppo$s" --json 2>/dev/null \
    | "$PY" -c 'import json,sys; d=json.load(sys.stdin); t=d["threshold_reached"] or {}; print(json.dumps({"lib":"alignrl","algo":"ppo","seed":d["seed"],"steps_to_threshold":t.get("step"),"time_to_threshold_s":t.get("wall_time_s"),"steps":d["steps"],"wall_time_s":d["wall_time_s"],"sps":d["steps"]/d["wall_time_s"]}))' | tee -a "$OUT/runs.jsonl"
  "$PY" benchmarks/sb3_runner.py ppo "$s" 1 | tee -a "$OUT/runs.jsonl"
  OMP_WAIT_POLICY=PASSIVE "$PY" benchmarks/sb3_runner.py ppo "$s" 2 | tee -a "$OUT/runs.jsonl"
  printf 'env = "Pendulum-v1"\nalgo = "sac"\ntotal_steps = 3000\n[sac]\nlog_interval = 1000\nseed = %s\n' "$s" > "$OUT/sac.toml"
  "$BIN" train --config "$OUT/sac.toml" --run-dir "$OUT/sac$s" --json > /dev/null 2>&1
  "$PY" - "$OUT/sac$s/metrics.csv" "$s" <<'PYEOF' | tee -a "$OUT/runs.jsonl"
import csv, json, sys
rows = {int(r["step"]): r for r in csv.DictReader(open(sys.argv[1]))}
a, b = rows[1000], rows[3000]
rate = (int(b["updates"]) - int(a["updates"])) / (float(b["wall_time_s"]) - float(a["wall_time_s"]))
print(json.dumps({"lib": "alignrl", "algo": "sac", "seed": int(sys.argv[2]), "updates_per_sec": rate}))
PYEOF
  "$PY" benchmarks/sb3_runner.py sac "$s" 1 | tee -a "$OUT/runs.jsonl"
done
"$PY" - "$OUT/runs.jsonl" <<'PYEOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None
def sel(lib, algo, key, threads=None):
    return [r[key] for r in runs if r["lib"] == lib and r["algo"] == algo and (threads is None or r.get("threads") == threads)]
ours_t = med(sel("alignrl", "ppo", "time_to_threshold_s"))
sb3_t = {t: med(sel("sb3", "ppo", "time_to_threshold_s", t)) for t in (1, 2)}
best = min(v for v in sb3_t.values() if v is not None)
ours_u, sb3_u = med(sel("alignrl", "sac", "updates_per_sec")), med(sel("sb3", "sac", "updates_per_sec"))
summary = {
    "ppo_time_to_475_s": {"alignrl": ours_t, "sb3_1_thread": sb3_t[1], "sb3_2_threads": sb3_t[2],
                          "ratio_vs_best_sb3": ours_t / best if ours_t and best else None},
    "ppo_sps": {"alignrl": med(sel("alignrl", "ppo", "sps")), "sb3_1_thread": med(sel("sb3", "ppo", "sps", 1))},
    "sac_updates_per_sec": {"alignrl": ours_u, "sb3": sb3_u, "ratio": ours_u / sb3_u},
}
print(json.dumps(summary, indent=2))
PYEOF
