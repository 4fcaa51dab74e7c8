#!/usr/bin/env python3
"""Paired comparison of two models (or two settings) on the same BEIR set, query by query.

usage: compare_per_query.py A.jsonl B.jsonl [RUN ...] [--groups GROUPS.tsv]

A.jsonl and B.jsonl are `latentlens eval --per-query` files written on the same set (e.g. two
checkpoints). For each RUN (default: every run both files have: latent, mean, eos, bm25) it prints
the nDCG@10 of each, the per-query wins / losses / ties of A over B, and the mean difference A − B
with the same 95% paired-bootstrap interval `latentlens eval` reports (docs/EVAL.md:
SplitMix64 seed 1, 2000 resamples over the sorted query ids, nearest-rank percentiles).

--groups GROUPS.tsv (corpus-id<TAB>group, as scripts/build_data.py writes beside each held-out
set) adds a second interval that resamples whole groups instead of queries (a cluster bootstrap;
a query belongs to the group of its first relevant document). Queries of one group are not
independent (Debian packages of one source package, siblings that differ in one name), so
when a few groups are a large share of a set the query-level interval is too narrow.
It also counts, per run and file, the **wrong-sibling top hits**: queries whose top-ranked
document is not relevant but belongs to the query's own group (on Debian, another package of
the same source package, often told apart by one rare name).
"""
import sys

from paired_bootstrap import grouped_bootstrap, load_per_query, paired


def load_groups(path):
    groups = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if n == 1 and parts[0] == "corpus-id":
                continue
            if len(parts) != 2 or not parts[0] or not parts[1]:
                sys.exit(f"{path}:{n}: expected corpus-id<TAB>group")
            groups[parts[0]] = parts[1]
    return groups


def main():
    args, groups = sys.argv[1:], None
    if "--groups" in args:
        i = args.index("--groups")
        if i + 1 >= len(args):
            sys.exit("--groups needs a file (corpus-id<TAB>group)")
        groups = load_groups(args[i + 1])
        del args[i:i + 2]
    if len(args) < 2:
        sys.exit(__doc__.strip().splitlines()[2])
    a, b = load_per_query(args[0]), load_per_query(args[1])
    if set(a) != set(b):
        sys.exit(f"the files cover different queries ({len(set(a) ^ set(b))} not in both): not the same set")
    ids = sorted(a)
    runs = args[2:] or [r for r in ("latent", "mean", "eos", "bm25")
                            if all(r in a[q]["runs"] and r in b[q]["runs"] for q in ids)]
    order = []   # groups in the order of their first query id, each its queries
    if groups is not None:
        missing = [q for q in ids if a[q]["relevant"][0] not in groups]
        if missing:
            sys.exit(f"{len(missing)} queries' relevant documents are not in the groups file (first: {missing[0]})")
        index = {}
        for q in ids:
            g = groups[a[q]["relevant"][0]]
            if g not in index:
                index[g] = len(order)
                order.append([])
            order[index[g]].append(q)
    print(f"{len(ids)} queries{f' in {len(order)} groups' if groups is not None else ''}; A = {args[0]}, B = {args[1]}")
    print("run      A nDCG@10  B nDCG@10   A>B   A<B   A=B   mean diff  95% CI (paired bootstrap)"
          + ("   95% CI (groups resampled)" if groups is not None else ""))
    for run in runs:
        try:
            diffs = [a[q]["runs"][run]["ndcg@10"] - b[q]["runs"][run]["ndcg@10"] for q in ids]
        except KeyError:
            sys.exit(f"run {run!r} is missing from a file")
        ma = sum(a[q]["runs"][run]["ndcg@10"] for q in ids) / len(ids)
        mb = sum(b[q]["runs"][run]["ndcg@10"] for q in ids) / len(ids)
        c = paired(diffs)
        lo, hi = c["ndcg@10_delta_ci95"]
        line = (f"{run:8s} {ma:9.4f}  {mb:9.4f}  {c['better']:5d} {c['worse']:5d} {c['tied']:5d}   "
                f"{c['ndcg@10_delta']:+8.4f}   {lo:+.4f} to {hi:+.4f}")
        if groups is not None:
            d = dict(zip(ids, diffs))
            glo, ghi = grouped_bootstrap([[d[q] for q in g] for g in order])
            line += f"   {glo:+.4f} to {ghi:+.4f}"
        print(line)
    if groups is not None:
        print("wrong-sibling top hits (top-1 not relevant, same group as the query's relevant document):")
        for run in runs:
            print(f"{run:8s} A {wrong_siblings(a, ids, run, groups):5d}   B {wrong_siblings(b, ids, run, groups):5d}")


def wrong_siblings(per_query, ids, run, groups):
    """Queries whose run ranks first a non-relevant document of their own group."""
    n = 0
    for q in ids:
        top, relevant = per_query[q]["runs"][run].get("top") or [None], per_query[q]["relevant"]
        if top[0] is not None and top[0] not in relevant and groups.get(top[0]) == groups[relevant[0]]:
            n += 1
    return n


if __name__ == "__main__":
    main()
