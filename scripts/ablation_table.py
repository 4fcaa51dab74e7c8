#!/usr/bin/env python3
"""Print docs/ABLATION-results.json (written by scripts/run-ablation.sh) as the Markdown tables
of docs/ABLATION.md: nDCG@10 (and Recall@10) per pooling × mask × held-out test set.

    python3 scripts/ablation_table.py [docs/ABLATION-results.json]
"""
import json
import os
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

pairs_path = os.path.join(os.path.dirname(path), "ABLATION-pairs.json")
if os.path.exists(pairs_path):
    with open(pairs_path) as f:
        contrasts = json.load(f)["contrasts"]
    print("\nPaired differences, nDCG@10 of A − B per query: mean (95% paired-bootstrap interval); "
          "**bold** where the interval is clear of 0\n")
    names = []
    for c in contrasts:
        if (c["a"], c["b"]) not in names:
            names.append((c["a"], c["b"]))
    print("| A − B | " + " | ".join(sets) + " |")
    print("|---|" + "---|" * len(sets))
    for a, b in names:
        cells_ = []
        for s in sets:
            c = next((c for c in contrasts if (c["a"], c["b"], c["set"]) == (a, b, s)), None)
            if c is None:
                cells_.append("—")
                continue
            lo, hi = c["ndcg@10_delta_ci95"]
            cell = f"{c['ndcg@10_delta']:+.3f} ({lo:+.3f} to {hi:+.3f})"
            cells_.append(f"**{cell}**" if lo > 0 or hi < 0 else cell)
        print(f"| {a} − {b} | " + " | ".join(cells_) + " |")
