#!/usr/bin/env bash
# Scores a model on every held-out test set (data/eval/test/*): latent / mean / EOS pooling,
# the tool's own BM25, and (when .venv-teacher exists) the all-MiniLM-L6-v2 teacher.
# Writes MODEL/eval-test.json and prints a Markdown table for the model card.
#   scripts/evaluate-default-model.sh [MODEL_DIR]     (default Models/nvembed-mini)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
MODEL=${1:-Models/nvembed-mini}
BIN=.build/release/latentlens
[[ -x $BIN ]] || swift build -c release --product latentlens
declare -A TASK=(
  [debian-packages]="Given a one-line summary of a software package, retrieve the package's full description"
  [wordnet-definitions]="Given a word or phrase, retrieve its dictionary definition"
  [foldoc-terms]="Given a computing term, retrieve its definition"
  [pydocs-sections]="Given a section title from the Python documentation, retrieve the section"
  [pydocs-api]="Given a Python API name, retrieve its documentation"
)
OUT=$MODEL/eval-test.json
echo "{" >"$OUT.tmp"
first=1
for set in debian-packages wordnet-definitions foldoc-terms pydocs-sections pydocs-api; do
  dir=data/eval/test/$set
  [[ -d $dir ]] || { echo "missing $dir: run python3 scripts/build_data.py" >&2; exit 1; }
  echo "== $set" >&2
  line=$("$BIN" eval --model "$MODEL" --corpus "$dir" --instruction "${TASK[$set]}" --baseline bm25 --json)
  [[ $first == 1 ]] || echo "," >>"$OUT.tmp"
  first=0
  printf '"%s": %s' "$set" "$line" >>"$OUT.tmp"
done
if [[ -x .venv-teacher/bin/python ]]; then
  echo "== teacher (all-MiniLM-L6-v2)" >&2
  printf ',\n"teacher": %s' "$(.venv-teacher/bin/python scripts/teacher.py eval data/eval/test/{debian-packages,wordnet-definitions,foldoc-terms,pydocs-sections,pydocs-api} 2>/dev/null)" >>"$OUT.tmp"
fi
echo "}" >>"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
python3 - "$OUT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
t = d.get("teacher", {})
print("| test set | queries | docs | latent | mean | EOS | BM25 | MiniLM-L6 (teacher) |")
print("|---|---|---|---|---|---|---|---|")
for k, v in d.items():
    if k == "teacher":
        continue
    r = v["results"]
    f = lambda x: f"{x['ndcg@10']:.3f}"
    tt = f"{t[k]['ndcg@10']:.3f}" if k in t else "—"
    print(f"| {k} | {v['queries']} | {v['documents']} | {f(r['latent'])} | {f(r['mean'])} | {f(r['eos'])} | {f(r['bm25'])} | {tt} |")
PY
