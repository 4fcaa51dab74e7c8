#!/usr/bin/env python3
"""Independent re-implementation of `latentlens eval`'s paired-bootstrap intervals (docs/EVAL.md).

usage: bootstrap_check.py EVAL.json PER_QUERY.jsonl

The resampling itself is scripts/paired_bootstrap.py's, written from the description, not
from the Swift code.

For every comparison the JSON reports (each pooling vs bm25, each pair of poolings) it recomputes,
from the per-query nDCG@10 values alone, the mean difference and the 95% interval: SplitMix64
seeded with 1, 2000 resamples of as many queries as there are, drawn over the query ids in sorted
order, nearest-rank 2.5th / 97.5th percentiles. It also recomputes every interval with seed 2 and
requires at least one to differ, so a set too small to tell seeds apart fails instead of passing
vacuously.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from paired_bootstrap import bootstrap, load_per_query  # noqa: E402


def main():
    agg = json.load(open(sys.argv[1]))
    by_id = load_per_query(sys.argv[2])
    rows = [by_id[q] for q in sorted(by_id)]
    poolings = [p for p in ("latent", "mean", "eos") if p in agg["results"]]
    pairs = [(p, "bm25", agg["versus_bm25"][p]) for p in poolings if "versus_bm25" in agg]
    pairs += [(a, b, agg["pooling_pairs"][f"{a}-{b}"]) for i, a in enumerate(poolings) for b in poolings[i + 1:]]
    assert pairs, "nothing to compare"
    seed_matters = False
    for a, b, v in pairs:
        diffs = [r["runs"][a]["ndcg@10"] - r["runs"][b]["ndcg@10"] for r in rows]
        delta = sum(diffs) / len(diffs)
        assert abs(v["ndcg@10_delta"] - delta) < 1e-12, (a, b, v["ndcg@10_delta"], delta)
        assert abs(delta - (agg["results"][a]["ndcg@10"] - agg["results"][b]["ndcg@10"])) < 1e-9, (a, b)
        assert v["better"] == sum(d > 0 for d in diffs) and v["worse"] == sum(d < 0 for d in diffs), (a, b, v)
        lo, hi = bootstrap(diffs, 1)
        got = v["ndcg@10_delta_ci95"]
        assert max(abs(got[0] - lo), abs(got[1] - hi)) < 1e-12, (a, b, got, (lo, hi))
        seed_matters |= bootstrap(diffs, 2) != (lo, hi)
    assert seed_matters, "every interval is the same under another seed: the set is too small to check the resampling"
    print(f"{len(pairs)} intervals over {len(rows)} queries match")


if __name__ == "__main__":
    main()
