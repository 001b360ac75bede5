#!/usr/bin/env bash
# The held-out protocol that chose the WNUT-17 recipe (docs/RESULTS.md): one tagger of the
# recipe (ensemble 1), trained on the tweets and one half of dev (x4), scored each epoch on
# the other half of dev, for a fixed number of minutes on one thread pinned to one core;
# the test set is not read.
#
#     bash benchmarks/tag_heldout.sh CORE NAME MINUTES [--set key=value ...]
#
# The run goes to $RUNS/NAME (default runs/heldout), its log to $RUNS/NAME.log; $RNN is
# the command (default rnn). Runs on different cores at once compare with each other, not
# with runs on another machine or thread count. Summarise with
# `python benchmarks/tag_heldout_stats.py $RUNS/*/`.
set -euo pipefail
core=${1:?usage: tag_heldout.sh CORE NAME MINUTES [--set ...]}
name=${2:?name}
minutes=${3:?minutes}
shift 3
runs=${RUNS:-runs/heldout}
mkdir -p "$runs"
# shellcheck disable=SC2086
taskset -c "$core" ${RNN:-rnn} train recipes/wnut17.yaml --threads 1 -o "$runs/$name" \
  --set model.ensemble=1 --set training.patience=1000 --set data.test=null \
  --set 'data.train=[sample_data/wnut17/train.conll, {file: sample_data/wnut17/dev.conll, repeat: 4, valid_fraction: 0.5}]' \
  --set data.valid_fraction=0 --set training.max_minutes="$minutes" "$@" >"$runs/$name.log" 2>&1
