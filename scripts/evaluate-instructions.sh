#!/usr/bin/env bash
# Which query instruction to use when the task is not known (dev sets only). Builds one mixed
# corpus from every dev retrieval set's documents (~10.5k) and draws 200 queries per set (seed 1);
# scores each set's queries (a) under its own training task's instruction — the oracle — and
# (b) all of them under one instruction each: the debian task's, three general ones and none.
# Prints nDCG@10 per set and the macro average, per pooling (BM25 for reference); ~8 min on
# 2 cores. docs/EVAL.md, "Which instruction", has the bundled model's table.
#   scripts/evaluate-instructions.sh [MODEL_DIR]   (default: Models/nvembed-mini)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-Models/nvembed-mini}
source scripts/eval-tasks.sh
require_model "$MODEL"
SETS=("${DEV_SETS[@]}")
require_dev_sets "${SETS[@]}"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
python3 - "$TMP" "${SETS[@]}" <<'PY'
import json, os, random, sys
out, sets = sys.argv[1], sys.argv[2:]
random.seed(1)
with open(f"{out}/corpus.jsonl", "w") as c:
    for s in sets:
        c.writelines(open(f"data/eval/dev/{s}/corpus.jsonl"))
os.makedirs(f"{out}/all/qrels")
os.symlink("../corpus.jsonl", f"{out}/all/corpus.jsonl")
with open(f"{out}/all/queries.jsonl", "w") as aq, open(f"{out}/all/qrels/test.tsv", "w") as ar:
    ar.write("query-id\tcorpus-id\tscore\n")
    for s in sets:
        rel = {}
        for i, line in enumerate(open(f"data/eval/dev/{s}/qrels/test.tsv")):
            if i > 0:
                rel.setdefault(line.split("\t")[0], []).append(line)
        qs = [q for q in map(json.loads, open(f"data/eval/dev/{s}/queries.jsonl")) if q["_id"] in rel]
        random.shuffle(qs)
        qs = qs[:200]
        os.makedirs(f"{out}/{s}/qrels")
        os.symlink("../corpus.jsonl", f"{out}/{s}/corpus.jsonl")
        with open(f"{out}/{s}/queries.jsonl", "w") as f, open(f"{out}/{s}/qrels/test.tsv", "w") as r:
            r.write("query-id\tcorpus-id\tscore\n")
            for q in qs:
                f.write(json.dumps(q) + "\n")
                r.writelines(rel[q["_id"]])
                aq.write(json.dumps({**q, "_id": f"{s}:{q['_id']}"}) + "\n")
                ar.writelines(f"{s}:{l}" for l in rel[q["_id"]])
PY
for set in "${SETS[@]}"; do
  "$BIN" eval --model "$MODEL" --corpus "$TMP/$set" --instruction "${TASK[$set]}" --pooling all --baseline bm25 \
    --per-query "$TMP/own.$set.jsonl" >/dev/null
  echo "scored $set under its own instruction" >&2
done
# One instruction for every query, and its label in the table.
GLOBAL=("${TASK[debian-packages]}" "$GENERAL_INSTRUCTION"
        "Given a web search query, retrieve relevant passages that answer the query" "$QA_INSTRUCTION" "")
LABELS=("debian task's" "general (search default)" "web search (varied, trained)" "question (never trained)" "none")
for i in "${!GLOBAL[@]}"; do
  "$BIN" eval --model "$MODEL" --corpus "$TMP/all" --instruction "${GLOBAL[$i]}" --pooling all --per-query "$TMP/global$i.jsonl" >/dev/null
  echo "scored every query under instruction $((i + 1)) of ${#GLOBAL[@]}" >&2
done
python3 - "$TMP" "$(IFS=$'\t'; echo "${LABELS[*]}")" "${SETS[@]}" <<'PY'
import json, sys, collections
tmp, labels, sets = sys.argv[1], sys.argv[2].split("\t"), sys.argv[3:]
def load(path, fixed=None):
    d = collections.defaultdict(list)
    for line in open(path):
        r = json.loads(line)
        d[fixed or r["query_id"].split(":")[0]].append({k: v["ndcg@10"] for k, v in r["runs"].items()})
    return d
own = {}
for s in sets:
    own.update(load(f"{tmp}/own.{s}.jsonl", s))
rows = [("own task's (oracle)", own)] + [(n, load(f"{tmp}/global{i}.jsonl")) for i, n in enumerate(labels)]
print(f"mixed dev corpus: 200 queries per set, nDCG@10; columns: {' '.join(sets)}, macro")
for pool in ("latent", "mean", "eos", "bm25"):
    for n, d in rows:
        if pool not in d[sets[0]][0]:
            continue
        vals = [sum(x[pool] for x in d[s]) / len(d[s]) for s in sets]
        print(f"{pool:6s} {n:30s} " + " ".join(f"{v:.3f}" for v in vals) + f"  {sum(vals) / len(vals):.3f}")
PY
