#!/usr/bin/env bash
# Which of the translator's four design choices (taken from OpenNMT-py) makes it learn
# more per step: uniform +-0.1 initialisation, input feeding, general attention and the
# encoder's state copied to the decoder. recipes/eng-fra.yaml is trained with all four
# (new), with none (old: the defaults before 2026-12-04), and with each one turned back
# (leave-one-out); MINUTES each (default 8), one pinned core each, two runs at a time,
# so a 2-core machine is busy for about 3 x (MINUTES + 2) minutes. Compare validation
# loss and accuracy at equal steps: python benchmarks/translate_ablation.py OUT
#   bash benchmarks/translate_ablation.sh [OUT=runs/ablation] [MINUTES=8]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/ablation}
minutes=${2:-8}
rnn=${RNN:-.venv/bin/rnn}
mkdir -p "$out"
one() {
  local core=$1 name=$2
  shift 2
  rm -rf "${out:?}/$name"
  taskset -c "$core" "$rnn" train recipes/eng-fra.yaml --threads 1 -o "$out/$name" \
    --set training.max_minutes="$minutes" --set training.eval_every=250 "$@" \
    > "$out/$name.log" 2>&1
}
one 0 new & one 1 old --set model.init_range=null --set model.input_feeding=false \
  --set model.attention=additive --set model.bridge=linear & wait
one 0 no-init --set model.init_range=null & one 1 no-feeding --set model.input_feeding=false & wait
one 0 additive --set model.attention=additive & one 1 linear-bridge --set model.bridge=linear & wait
