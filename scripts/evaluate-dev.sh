#!/usr/bin/env bash
# Model selection on the dev sets (data/eval/dev/*; never the test sets): latent pooling against
# the tool's BM25 on full dev sets, each query with its training task's instruction, one line per
# set with the paired-bootstrap interval of the difference. Writes DIR/eval-dev.json and, per set,
# DIR/eval-dev.SET.jsonl (each query's result: compare two models with scripts/compare_per_query.py).
#   scripts/evaluate-dev.sh MODEL_DIR [SET ...]   (default: every dev retrieval set)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
[[ $# -ge 1 ]] || { echo "usage: scripts/evaluate-dev.sh MODEL_DIR [SET ...]" >&2; exit 2; }
MODEL=$1; shift
BIN=.build/release/latentlens
[[ -x $BIN ]] || swift build -c release --product latentlens
source scripts/eval-tasks.sh
SETS=("$@")
[[ ${#SETS[@]} -gt 0 ]] || SETS=(debian-packages foldoc-terms pydocs-sections pydocs-api wordnet-definitions)
for set in "${SETS[@]}"; do
  [[ -n ${TASK[$set]+x} ]] || { echo "unknown set $set (one of: ${!TASK[*]})" >&2; exit 2; }
  [[ -d data/eval/dev/$set ]] || { echo "missing data/eval/dev/$set: run python3 scripts/build_data.py" >&2; exit 1; }
done
[[ -f $MODEL/config.json ]] || { echo "$MODEL: no config.json (not a model folder)" >&2; exit 1; }
OUT=$MODEL/eval-dev.json
trap 'rm -f "$OUT.tmp"' EXIT
echo "{" >"$OUT.tmp"
first=1
for set in "${SETS[@]}"; do
  dir=data/eval/dev/$set
  line=$("$BIN" eval --model "$MODEL" --corpus "$dir" --instruction "${TASK[$set]}" --pooling latent --baseline bm25 --json \
         --per-query "$MODEL/eval-dev.$set.jsonl")
  [[ $first == 1 ]] || echo "," >>"$OUT.tmp"
  first=0
  printf '"%s": %s' "$set" "$line" >>"$OUT.tmp"
  print_versus_bm25 "$(printf '%-20s' "$set")" "$line"
done
echo "}" >>"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "wrote $OUT" >&2
