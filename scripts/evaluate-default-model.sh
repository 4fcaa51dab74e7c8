#!/usr/bin/env bash
# Scores a model on every held-out test set (data/eval/test/*): latent / mean / EOS pooling,
# the tool's own BM25, and (when .venv-teacher exists) the all-MiniLM-L6-v2 teacher.
# Writes MODEL/eval-test.json, (dev sets, scripts/evaluate-robustness.sh) MODEL/eval-robust.json and (train sample
# against dev, scripts/evaluate-train-gap.sh) MODEL/eval-train-gap.json, then regenerates MODEL/MODEL_CARD.md (scripts/model_card.py).
#   scripts/evaluate-default-model.sh [MODEL_DIR]     (default Models/nvembed-mini)
# PER_QUERY=DIR also keeps each query's result, DIR/SET.jsonl (compare two models on the test sets
# with scripts/compare_per_query.py; docs/TRAINING.md, "Reproducibility").
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-Models/nvembed-mini}
source scripts/eval-tasks.sh
require_model "$MODEL"
OUT=$MODEL/eval-test.json
trap 'rm -f "$OUT.tmp"' EXIT
json_begin "$OUT"
for set in debian-packages wordnet-definitions foldoc-terms pydocs-sections pydocs-api; do
  dir=data/eval/test/$set
  [[ -d $dir ]] || { echo "missing $dir: run python3 scripts/build_data.py" >&2; exit 1; }
  echo "== $set" >&2
  per_query=()
  [[ -z ${PER_QUERY:-} ]] || { mkdir -p "$PER_QUERY"; per_query=(--per-query "$PER_QUERY/$set.jsonl"); }
  line=$("$BIN" eval --model "$MODEL" --corpus "$dir" --instruction "${TASK[$set]}" --baseline bm25 --json "${per_query[@]}")
  json_add "$set" "$line"
done
if [[ -x .venv-teacher/bin/python ]]; then
  echo "== teacher (all-MiniLM-L6-v2)" >&2
  json_add teacher "$(.venv-teacher/bin/python scripts/teacher.py eval data/eval/test/{debian-packages,wordnet-definitions,foldoc-terms,pydocs-sections,pydocs-api} 2>/dev/null)"
fi
json_end
echo "wrote $OUT"
scripts/evaluate-robustness.sh "$MODEL"
scripts/evaluate-train-gap.sh "$MODEL"
python3 scripts/model_card.py "$MODEL"
