#!/usr/bin/env bash
# The paper's pooling ablation (NV-Embed Table 2) at small scale: one separately trained model
# per {latent, mean, EOS} × {bidirectional, causal}, equal budgets (same recipe, steps, data,
# seed; only the pooling whose loss is trained and the mask change), each evaluated on the
# same held-out test sets with its own pooling and mask. Writes data/ablation/<variant>/ and
# docs/ABLATION-results.json; docs/ABLATION.md explains and reads the table.
# Each evaluation also writes data/ablation/<variant>/<set>.per-query.jsonl, and
# scripts/ablation_pairs.py turns those into docs/ABLATION-pairs.json: paired-bootstrap intervals
# for the contrasts the paper draws (latent vs mean, latent vs EOS, bidirectional vs causal).
#   scripts/run-ablation.sh [STEPS1 STEPS2]   (default 300 60: ≈ 30 min per variant on 2 cores)
#   ABLATION_EVAL_ONLY=1 scripts/run-ablation.sh   re-evaluate the six models already trained
set -euo pipefail
cd "$(dirname "$0")/.."
S1=${1:-300}
S2=${2:-60}
[[ -f data/teacher/candidates.jsonl ]] || { echo "run scripts/train-default-model.sh first (data and teacher)" >&2; exit 1; }
source scripts/eval-tasks.sh
EVAL_ONLY=${ABLATION_EVAL_ONLY:-0}
# Writes the variant's recipe (data/ablation-VARIANT.json) and trains it into data/ablation/VARIANT.
train_variant() {
  local v=$1 pooling=$2 mask=$3 dir=data/ablation/$1
  python3 - "$v" "$pooling" "$mask" "$S1" "$S2" <<'PY'
import json, sys
v, pooling, mask, s1, s2 = sys.argv[1:]
r = json.load(open("Models/recipes/nvembed-mini.json"))
r["name"] = "ablation-" + v
r["poolings"] = [pooling]
r["mask"] = mask
r["eval_every"] = 0
r["eval_sets"] = []
# The small-scale protocol is one stage-1 cycle and stage 2: the recipe's extra stage-1 cycles
# (stage1b, stage1c, stage1d: warm restarts that only add tokens) are dropped, so every cell gets
# exactly STEPS1 + STEPS2 steps.
r["stages"] = [r["stages"][0], r["stages"][-1]]
assert r["stages"][1]["in_batch_negatives"] is False, "the recipe's last stage should be stage 2"
r["stages"][0]["steps"] = int(s1)
r["stages"][0]["warmup_steps"] = max(10, int(s1) // 10)
r["stages"][1]["steps"] = int(s2)
json.dump(r, open(f"data/ablation-{v}.json", "w"), indent=1)
PY
  mkdir -p "$dir"
  echo "== $v" >&2
  "$BIN" train --recipe "data/ablation-$v.json" --out "$dir" 2>"$dir/train.log"
}

OUT=docs/ABLATION-results.json
trap 'rm -f "$OUT.tmp"' EXIT
json_begin "$OUT"
for mask in bidirectional causal; do
  for pooling in latent mean eos; do
    v="$pooling-$mask"
    dir=data/ablation/$v
    if [[ $EVAL_ONLY == 1 ]]; then
      [[ -f $dir/model.safetensors ]] || { echo "$dir: no trained model to evaluate" >&2; exit 1; }
    else
      train_variant "$v" "$pooling" "$mask"
    fi
    for set in debian-packages wordnet-definitions foldoc-terms pydocs-api; do
      line=$("$BIN" eval --model "$dir" --corpus "data/eval/test/$set" --pooling "$pooling" --mask "$mask" --instruction "${TASK[$set]}" --json \
             --per-query "$dir/$set.per-query.jsonl")
      json_add "$v/$set" "$line"
    done
  done
done
json_end
echo "wrote $OUT"
python3 scripts/ablation_pairs.py
