#!/usr/bin/env bash
# The generalisation gap: latent pooling and the tool's BM25 on a sample of the model's own
# *training* pairs (data/eval/train-sample, built by scripts/train_sample.py like the dev sets,
# same size) against the dev sets, each query with its training task's instruction. BM25 learns
# nothing, so where it is level between the two samples they are equally hard, and latent
# pooling's drop from train to dev is what the model memorised rather than learned
# (docs/TRAINING.md, "Train against dev on Debian"). Writes DIR/eval-train-gap.json.
#   scripts/evaluate-train-gap.sh MODEL_DIR [SET ...]   (default: every retrieval set)
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 1 ]] || { echo "usage: scripts/evaluate-train-gap.sh MODEL_DIR [SET ...]" >&2; exit 2; }
source scripts/eval-tasks.sh
model_and_dev_sets "$@"
[[ -d data/eval/train-sample/${SETS[0]} ]] || python3 scripts/train_sample.py
OUT=$MODEL/eval-train-gap.json
trap 'rm -f "$OUT.tmp"' EXIT
json_begin "$OUT"
for set in "${SETS[@]}"; do
  for split in train-sample dev; do
    line=$("$BIN" eval --model "$MODEL" --corpus "data/eval/$split/$set" --instruction "${TASK[$set]}" --pooling latent --baseline bm25 --json)
    json_add "$split/$set" "$line"
    print_versus_bm25 "$(printf '%-20s %-12s' "$set" "$split")" "$line"
  done
done
json_end
python3 - "$OUT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"\n{'set':20s} {'latent train→dev':>18s} {'BM25 train→dev':>16s}  latent gap − BM25 gap")
for key in d:
    if not key.startswith("train-sample/"):
        continue
    s = key.split("/", 1)[1]
    if f"dev/{s}" not in d:
        continue
    t, v = d[key]["results"], d[f"dev/{s}"]["results"]
    lt, ld, bt, bd = t["latent"]["ndcg@10"], v["latent"]["ndcg@10"], t["bm25"]["ndcg@10"], v["bm25"]["ndcg@10"]
    print(f"{s:20s} {lt:.3f} → {ld:.3f}   {bt:.3f} → {bd:.3f}    {(lt - ld) - (bt - bd):+.3f}")
PY
echo "wrote $OUT" >&2
