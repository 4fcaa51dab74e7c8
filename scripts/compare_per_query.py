#!/usr/bin/env python3
"""Paired comparison of two models (or two settings) on the same BEIR set, query by query.

usage: compare_per_query.py A.jsonl B.jsonl [RUN ...]

A.jsonl and B.jsonl are `latentlens eval --per-query` files written on the same set (e.g. two
checkpoints). For each RUN (default: every run both files have: latent, mean, eos, bm25) it prints
the nDCG@10 of each, the per-query wins / losses / ties of A over B, and the mean difference A − B
with the same 95% paired-bootstrap interval `latentlens eval` reports (docs/EVAL.md:
SplitMix64 seed 1, 2000 resamples over the sorted query ids, nearest-rank percentiles).
"""
import sys

from paired_bootstrap import load_per_query, paired


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().splitlines()[2])
    a, b = load_per_query(sys.argv[1]), load_per_query(sys.argv[2])
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
        c = paired(diffs)
        lo, hi = c["ndcg@10_delta_ci95"]
        print(f"{run:8s} {ma:9.4f}  {mb:9.4f}  {c['better']:5d} {c['worse']:5d} {c['tied']:5d}   "
              f"{c['ndcg@10_delta']:+8.4f}   {lo:+.4f} to {hi:+.4f}")


if __name__ == "__main__":
    main()
