#!/usr/bin/env python3
"""Train-split twins of the held-out retrieval sets, to measure how much better the model does
on pairs it trained on than on pairs it did not (the generalisation gap; docs/TRAINING.md).

For each held-out set, whole entities (source package, synset, headword, page) of the *train*
split are drawn at random (seeded) until the sample holds as many documents as the dev set, and
written exactly as scripts/build_data.py writes dev and test (same queries, documents, qrels,
groups.tsv) to DATA/eval/train-sample/<set>. Reads DATA/sources/*.jsonl; downloads nothing.

  python3 scripts/train_sample.py [--data data] [--seed 7]
"""
import argparse, collections, json, os, random, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from build_data import EVAL_SETS, ROOT, eval_set   # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(ROOT, "data"))
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    records = []
    for name in ["debian", "wordnet", "foldoc", "pydocs"]:      # the sources of EVAL_SETS
        path = os.path.join(a.data, "sources", f"{name}.jsonl")
        if not os.path.exists(path):
            sys.exit(f"{path} missing: run python3 scripts/build_data.py first")
        with open(path, encoding="utf-8") as f:
            records += [json.loads(l) for l in f]
    for set_name, (task, keep) in EVAL_SETS.items():
        dev_docs = sum(1 for _ in open(os.path.join(a.data, "eval", "dev", set_name, "corpus.jsonl"), encoding="utf-8"))
        families = collections.defaultdict(list)
        for r in records:
            if r["split"] == "train" and keep(r):
                families[r["entity"]].append(r)
        entities = sorted(families)
        random.Random(f"{a.seed}:{set_name}").shuffle(entities)
        docs, seen = [], collections.Counter()
        for e in entities:
            if len(docs) >= dev_docs:
                break
            for r in families[e]:
                seen[r["id"]] += 1             # ids that repeat get "#2", "#3" as in build_data.py
                docs.append(dict(r, uid=r["id"] if seen[r["id"]] == 1 else f"{r['id']}#{seen[r['id']]}"))
        nq, nd = eval_set(os.path.join(a.data, "eval", "train-sample", set_name), task, docs)
        print(f"eval/train-sample/{set_name}: {nq} queries, {nd} docs (dev: {dev_docs} docs)")


if __name__ == "__main__":
    main()
