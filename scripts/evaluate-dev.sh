#!/usr/bin/env bash
# Model selection on the dev sets (data/eval/dev/*; never the test sets): latent pooling against
# the tool's BM25 on full dev sets, each query with its training task's instruction, one line per
# set with the paired-bootstrap interval of the difference. Writes DIR/eval-dev.json and, per set,
# DIR/eval-dev.SET.jsonl (each query's result: compare two models with scripts/compare_per_query.py).
#   scripts/evaluate-dev.sh MODEL_DIR [SET ...]   (default: every dev retrieval set)
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 1 ]] || { echo "usage: scripts/evaluate-dev.sh MODEL_DIR [SET ...]" >&2; exit 2; }
source scripts/eval-tasks.sh
model_and_dev_sets "$@"
OUT=$MODEL/eval-dev.json
trap 'rm -f "$OUT.tmp"' EXIT
json_begin "$OUT"
for set in "${SETS[@]}"; do
  line=$("$BIN" eval --model "$MODEL" --corpus "data/eval/dev/$set" --instruction "${TASK[$set]}" --pooling latent --baseline bm25 --json \
         --per-query "$MODEL/eval-dev.$set.jsonl")
  json_add "$set" "$line"
  print_versus_bm25 "$(printf '%-20s' "$set")" "$line"
done
json_end
echo "wrote $OUT" >&2
