#!/usr/bin/env python3
"""The ablation's contrasts with their noise: paired-bootstrap intervals between ablation cells.

    python3 scripts/ablation_pairs.py [ABLATION_DIR] [OUT.json]   (default data/ablation, docs/ABLATION-pairs.json)

Reads the per-query files scripts/run-ablation.sh writes (ABLATION_DIR/<pooling>-<mask>/<set>.per-query.jsonl)
and, for each contrast the paper draws (latent vs mean, latent vs EOS, bidirectional vs causal) and each test
set, writes the mean per-query nDCG@10 difference A − B, the queries A wins / loses / ties, and the 95%
paired-bootstrap interval (the same procedure as `latentlens eval`, docs/EVAL.md). The two models of a contrast
answer the same queries, so the interval is about query sampling; a second training seed would add its own
spread, which one seed per cell cannot measure.
"""
import json
import os
import sys

from paired_bootstrap import load_per_query, paired

SETS = ["debian-packages", "wordnet-definitions", "foldoc-terms", "pydocs-api"]
CONTRASTS = [("latent-bidirectional", "mean-bidirectional"), ("latent-bidirectional", "eos-bidirectional"),
             ("latent-causal", "mean-causal"), ("latent-bidirectional", "latent-causal"),
             ("mean-bidirectional", "mean-causal"), ("eos-bidirectional", "eos-causal")]


def per_query(root, variant, dataset):
    path = os.path.join(root, variant, f"{dataset}.per-query.jsonl")
    pooling = variant.split("-")[0]
    return {q: r["runs"][pooling]["ndcg@10"] for q, r in load_per_query(path).items()}, path


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "data/ablation"
    out = sys.argv[2] if len(sys.argv) > 2 else "docs/ABLATION-pairs.json"
    result = []
    for a, b in CONTRASTS:
        for s in SETS:
            try:
                qa, pa = per_query(root, a, s)
                qb, pb = per_query(root, b, s)
            except FileNotFoundError as e:
                sys.exit(f"{e.filename}: missing (run scripts/run-ablation.sh, or ABLATION_EVAL_ONLY=1 for trained models)")
            if set(qa) != set(qb):
                sys.exit(f"{pa} and {pb} cover different queries")
            ids = sorted(qa)
            diffs = [qa[q] - qb[q] for q in ids]
            result.append({"a": a, "b": b, "set": s, "queries": len(ids)} | paired(diffs))
    with open(out + ".tmp", "w") as f:
        json.dump({"contrasts": result}, f, indent=1)
    os.replace(out + ".tmp", out)
    print("wrote", out)


if __name__ == "__main__":
    main()
