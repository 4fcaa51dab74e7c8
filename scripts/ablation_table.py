#!/usr/bin/env python3
"""Print docs/ABLATION-results.json (written by scripts/run-ablation.sh) as the Markdown tables
of docs/ABLATION.md: nDCG@10 (and Recall@10) per pooling × mask × held-out test set.

    python3 scripts/ablation_table.py [docs/ABLATION-results.json]
"""
import json
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "docs/ABLATION-results.json"
with open(path) as f:
    results = json.load(f)

sets = []
cells = {}
for key, r in results.items():
    variant, dataset = key.split("/", 1)
    pooling, mask = variant.split("-", 1)
    if dataset not in sets:
        sets.append(dataset)
    cells[(pooling, mask, dataset)] = r["results"][pooling]

poolings = ["latent", "mean", "eos"]
masks = ["bidirectional", "causal"]


def table(metric):
    head = "| pooling | mask | " + " | ".join(sets) + " | mean |"
    rule = "|---|---|" + "---|" * (len(sets) + 1)
    rows = [head, rule]
    for mask in masks:
        for pooling in poolings:
            vals = [cells.get((pooling, mask, s), {}).get(metric) for s in sets]
            present = [v for v in vals if v is not None]
            mean = sum(present) / len(present) if len(present) == len(sets) else None
            fmt = lambda v: "—" if v is None else f"{v:.3f}"
            rows.append(f"| {pooling} | {mask} | " + " | ".join(fmt(v) for v in vals) + f" | {fmt(mean)} |")
    return "\n".join(rows)


print("nDCG@10\n")
print(table("ndcg@10"))
print("\nRecall@10\n")
print(table("recall@10"))
