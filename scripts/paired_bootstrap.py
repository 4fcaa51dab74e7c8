"""The paired bootstrap of `latentlens eval` (docs/EVAL.md), written independently in Python:
shared by scripts/compare_per_query.py, scripts/ablation_pairs.py and the end-to-end check
scripts/e2e/bootstrap_check.py, which holds the Swift implementation to it.

SplitMix64 seeded with `seed`, `resamples` draws of as many per-query differences as there are
(indices `next() % n`, the differences in sorted query-id order), nearest-rank 2.5th / 97.5th
percentiles of the resampled means.
"""
import json
import math
import sys

M = (1 << 64) - 1


def bootstrap(diffs, seed=1, resamples=2000):
    """The 95% interval (low, high) of the mean of `diffs`: `grouped_bootstrap` with one
    query per group."""
    return grouped_bootstrap([[d] for d in diffs], seed, resamples)


def grouped_bootstrap(groups, seed=1, resamples=2000):
    """The 95% interval of the mean per-query difference when whole groups are resampled (a
    cluster bootstrap): `groups` is a list of lists of per-query differences, ordered by each
    group's first query id. Each resample draws len(groups) groups (indices `next() % n`); its
    mean is the drawn groups' summed differences over their summed query counts."""
    state, means = seed, []
    sums, counts = [sum(g) for g in groups], [len(g) for g in groups]
    for _ in range(resamples):
        s, n = 0.0, 0
        for _ in groups:
            state = (state + 0x9E3779B97F4A7C15) & M
            z = state
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
            k = (z ^ (z >> 31)) % len(groups)
            s += sums[k]
            n += counts[k]
        means.append(s / n)
    means.sort()
    return means[math.ceil(0.025 * resamples) - 1], means[math.ceil(0.975 * resamples) - 1]


def paired(diffs):
    """What `latentlens eval` reports for one comparison, from its per-query differences."""
    lo, hi = bootstrap(diffs)
    return {"better": sum(d > 0 for d in diffs), "worse": sum(d < 0 for d in diffs),
            "tied": sum(d == 0 for d in diffs), "ndcg@10_delta": sum(diffs) / len(diffs),
            "ndcg@10_delta_ci95": [lo, hi]}


def load_per_query(path):
    """A `latentlens eval --per-query` file: {query_id: row} for the queries with a relevant document."""
    rows = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{n}: not JSON ({e.msg})")
            if r.get("relevant"):
                rows[r["query_id"]] = r
    return rows
