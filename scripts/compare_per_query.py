#!/usr/bin/env python3
"""Paired comparison of two models (or two settings) on the same BEIR set, query by query.

usage: compare_per_query.py A.jsonl B.jsonl [RUN ...]

A.jsonl and B.jsonl are `latentlens eval --per-query` files written on the same set (e.g. two
checkpoints). For each RUN (default: every run both files have: latent, mean, eos, bm25) it prints
the nDCG@10 of each, the per-query wins / losses / ties of A over B, and the mean difference A − B
with the same 95% paired-bootstrap interval `latentlens eval` reports (docs/EVAL.md:
SplitMix64 seed 1, 2000 resamples over the sorted query ids, nearest-rank percentiles).
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "e2e"))
from bootstrap_check import bootstrap  # noqa: E402


def load(path):
    rows = {}
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        try:
            r = json.loads(line)
        except json.JSONDecodeError as e:
            sys.exit(f"{path}:{n}: not JSON ({e.msg})")
        if r.get("relevant"):
            rows[r["query_id"]] = r
    return rows


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().splitlines()[2])
    a, b = load(sys.argv[1]), load(sys.argv[2])
    if set(a) != set(b):
        sys.exit(f"the files cover different queries ({len(set(a) ^ set(b))} not in both): not the same set")
    ids = sorted(a)
    runs = sys.argv[3:] or [r for r in ("latent", "mean", "eos", "bm25")
                            if all(r in a[q]["runs"] and r in b[q]["runs"] for q in ids)]
    print(f"{len(ids)} queries; A = {sys.argv[1]}, B = {sys.argv[2]}")
    print("run      A nDCG@10  B nDCG@10   A>B   A<B   A=B   mean diff  95% CI (paired bootstrap)")
    for run in runs:
        try:
            diffs = [a[q]["runs"][run]["ndcg@10"] - b[q]["runs"][run]["ndcg@10"] for q in ids]
        except KeyError:
            sys.exit(f"run {run!r} is missing from a file")
        ma = sum(a[q]["runs"][run]["ndcg@10"] for q in ids) / len(ids)
        mb = sum(b[q]["runs"][run]["ndcg@10"] for q in ids) / len(ids)
        lo, hi = bootstrap(diffs, 1)
        print(f"{run:8s} {ma:9.4f}  {mb:9.4f}  {sum(d > 0 for d in diffs):5d} {sum(d < 0 for d in diffs):5d} "
              f"{sum(d == 0 for d in diffs):5d}   {sum(diffs) / len(diffs):+8.4f}   {lo:+.4f} to {hi:+.4f}")


if __name__ == "__main__":
    main()
