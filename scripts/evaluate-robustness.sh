#!/usr/bin/env bash
# How much a model's retrieval depends on the exact query form and instruction it was trained
# with (dev sets only). Each query is rewritten in a question form no recipe trains on
# ("What is {}?", 'What does "{}" mean?', "Which package provides a {}?") and scored under
# (a) the set's trained instruction, (b) the general instruction search and eval send when none is
# given (GENERAL_INSTRUCTION) and (c) an instruction no recipe trains on
# ("Given a question, retrieve passages that answer the question"); latent pooling and BM25,
# nDCG@10. Writes MODEL/eval-robust.json (scripts/model_card.py puts it in the card); with
# PER_QUERY=DIR also DIR/robust.SET.{trained,general,qa}.jsonl (each query's result; compare two models
# with scripts/compare_per_query.py).
#   scripts/evaluate-robustness.sh MODEL_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 1 ]] || { echo "usage: scripts/evaluate-robustness.sh MODEL_DIR" >&2; exit 2; }
MODEL=$1
source scripts/eval-tasks.sh
require_model "$MODEL"
require_dev_sets foldoc-terms wordnet-definitions debian-packages
TMP=$(mktemp -d); OUT=$MODEL/eval-robust.json
trap 'rm -rf "$TMP" "$OUT.tmp"' EXIT
json_begin "$OUT"
python3 - "$TMP" <<'PY'
import json, os, sys
forms = {"foldoc-terms": "What is {}?", "wordnet-definitions": 'What does "{}" mean?',
         "debian-packages": "Which package provides a {}?"}
for s, form in forms.items():
    src, dst = f"data/eval/dev/{s}", f"{sys.argv[1]}/{s}"
    os.makedirs(dst + "/qrels")
    for f in ("corpus.jsonl", "qrels/test.tsv"):
        os.symlink(os.path.abspath(f"{src}/{f}"), f"{dst}/{f}")
    with open(dst + "/queries.jsonl", "w") as out:
        for line in open(src + "/queries.jsonl"):
            q = json.loads(line)
            t = q["text"]
            if s == "debian-packages" and t[:1].isupper() and not t[1:2].isupper():
                t = t[0].lower() + t[1:]          # "a Tool for …" reads as a sentence
            q["text"] = form.format(t)
            out.write(json.dumps(q) + "\n")
PY
for set in foldoc-terms wordnet-definitions debian-packages; do
  for kind in trained general qa; do
    case $kind in trained) instr=${TASK[$set]} ;; general) instr=$GENERAL_INSTRUCTION ;; qa) instr=$QA_INSTRUCTION ;; esac
    per_query=()
    [[ -z ${PER_QUERY:-} ]] || { mkdir -p "$PER_QUERY"; per_query=(--per-query "$PER_QUERY/robust.$set.$kind.jsonl"); }
    line=$("$BIN" eval --model "$MODEL" --corpus "$TMP/$set" --instruction "$instr" --pooling all --baseline bm25 --json "${per_query[@]}")
    json_add "$set $kind" "$line"
    print_versus_bm25 "$(printf '%-20s %-8s' "$set" "$kind")" "$line"
  done
done
json_end
echo "wrote $OUT" >&2
