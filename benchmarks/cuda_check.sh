#!/usr/bin/env bash
# The CUDA path end to end, on a machine with an NVIDIA GPU and rnncli importable:
#
#     bash benchmarks/cuda_check.sh OUTDIR
#
# 1. `rnn train` of every task's recipe with `device: auto` (which must pick CUDA) and
#    `training.mixed_precision=true`, a few hundred steps each, then an interrupted run
#    resumed on the GPU;
# 2. every command on those runs with `--device auto`, and the built-in models' outputs
#    on the GPU against the CPU (same labels and tags; probabilities within 1e-3);
# 3. benchmarks/bench_gpu.py: training tokens/s against hand-written PyTorch.
# Logs go to OUTDIR; it stops at the first failure. BENCH=0 leaves out step 3.
# A smoke test of the script itself on a machine without a GPU (tiny step counts, the CPU
# in place of the GPU): CHECK_DEVICE=cpu QUICK=1 BENCH=0 bash benchmarks/cuda_check.sh OUTDIR
set -euo pipefail
out=${1:?usage: cuda_check.sh OUTDIR}
dev=${CHECK_DEVICE:-cuda}
amp=${MIXED:-true}
quick=${QUICK:-0}
mkdir -p "$out"
runs=$(mktemp -d)
rnn() { python3 -m rnncli "$@"; }
export PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "(no nvidia-smi)"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())'

train() {  # name recipe steps [extra --set ...]
  local name=$1 recipe=$2 steps=$3
  shift 3
  if [ "$quick" = 1 ]; then steps=20; fi
  local t0=$SECONDS
  rnn train "recipes/$recipe" -q -o "$runs/$name" --set training.device=auto \
    --set training.mixed_precision=$amp --set "training.max_steps=$steps" "$@" >/dev/null
  python3 - "$runs/$name" <<'EOF'
import json, sys
from pathlib import Path
run = Path(sys.argv[1])
lines = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if l.strip()]
last = lines[-1]
keep = {k: v for k, v in last.items() if isinstance(v, (int, float))}
print(run.name, json.dumps(keep))
EOF
  echo "  ($((SECONDS - t0)) s)"
}

echo "== training on the GPU (device auto, mixed precision)"
train lm shakespeare.yaml 600 --set training.eval_every=300
train classify sentiment.yaml 600
train translate eng-fra.yaml 600 --set training.eval_every=300
train forecast airline.yaml 400
train tag wnut17.yaml 600 --set training.max_minutes=2

echo "== interrupt and resume on the GPU"
resume_steps=3000 wait_s=15
if [ "$quick" = 1 ]; then resume_steps=60 wait_s=8; fi
# python itself in the background (not the rnn function: $! would be a subshell's pid)
python3 -m rnncli train recipes/shakespeare.yaml -q -o "$runs/resume" --set training.max_steps=$resume_steps \
  --set training.mixed_precision=$amp --set training.eval_every=500 >/dev/null 2>"$out/stop.err" &
pid=$!
sleep $wait_s
kill -INT "$pid" 2>/dev/null || echo "  (it had finished before the signal)"
wait "$pid" || echo "  interrupted: exit $?"
sed 's/^/  /' "$out/stop.err"
tail -n 1 "$runs/resume/metrics.jsonl" 2>/dev/null || echo "  (no evaluation before the stop)"
rnn train --resume "$runs/resume" -q >/dev/null
echo "  resumed to the end:"
tail -n 1 "$runs/resume/metrics.jsonl"

echo "== commands on the GPU runs"
rnn generate -m "$runs/lm" --seed "He ate" -n 80 --rng-seed 1 | head -c 200; echo
sed -n '2,301p' sample_data/sst2_test.tsv | cut -f1 | rnn classify -m "$runs/classify" | head -n 3
rnn evaluate -m "$runs/classify" sample_data/sst2_test.tsv -f json | head -c 300; echo
printf 'How are you?\nI like cheese.\n' | rnn translate -m "$runs/translate"
rnn forecast -m "$runs/forecast" sample_data/airline-passengers.csv | tail -n 3
echo "Tim Cook visited Paris with the Apple team" | rnn tag -m "$runs/tag" -f spans
rnn evaluate -m "$runs/tag" sample_data/wnut17/test.conll -f json | head -c 300; echo

echo "== built-in models: GPU against CPU"
for d in "$dev" cpu; do
  tail -n +2 sample_data/sst2_test.tsv | cut -f1 | rnn classify -q --device "$d" > "$out/classify.$d.tsv"
  sed -n '2,301p' sample_data/sst2_test.tsv | cut -f1 | rnn translate -q --device "$d" > "$out/translate.$d.txt"
  rnn tag -q --device "$d" --input conll -f jsonl sample_data/wnut17/test.conll > "$out/tag.$d.jsonl"
done
python3 - "$out" "$dev" <<'EOF'
import json, sys
from pathlib import Path
out, dev = Path(sys.argv[1]), sys.argv[2]
def rows(name):
    return [l.split("\t") for l in (out / name).read_text().splitlines()]
g, c = rows(f"classify.{dev}.tsv"), rows("classify.cpu.tsv")
same = sum(a[0] == b[0] for a, b in zip(g, c))
gap = max(abs(float(a[1]) - float(b[1])) for a, b in zip(g, c))
print(f"classify: {same}/{len(c)} labels equal, largest probability gap {gap:.2e}")
g = (out / f"translate.{dev}.txt").read_text().splitlines()
c = (out / "translate.cpu.txt").read_text().splitlines()
print(f"translate: {sum(a == b for a, b in zip(g, c))}/{len(c)} translations identical")
g = [json.loads(l) for l in (out / f"tag.{dev}.jsonl").read_text().splitlines()]
c = [json.loads(l) for l in (out / "tag.cpu.jsonl").read_text().splitlines()]
same = sum(a["tags"] == b["tags"] for a, b in zip(g, c))
gap = max(abs(x - y) for a, b in zip(g, c) for x, y in zip(a["confidence"], b["confidence"]))
print(f"tag: {same}/{len(c)} sentences tagged alike, largest probability gap {gap:.2e}")
EOF

if [ "${BENCH:-1}" = 1 ]; then
  echo "== speed against hand-written PyTorch"
  python3 benchmarks/bench_gpu.py --steps 300 --rounds 3
fi
