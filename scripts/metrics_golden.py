#!/usr/bin/env python3
"""Golden ranking metrics from pytrec_eval (what BEIR's EvaluateRetrieval calls), for the Swift tests.

Writes Tests/LensRetrievalTests/Fixtures/graded-metrics.json: seeded random graded qrels (grades
0-3, as in TREC-COVID or NFCorpus; some queries judged 0 everywhere) and runs (a ranking of up to
100 documents per query, some relevant documents ranked past 10 or not at all), with each query's
nDCG@10, Recall@10 and Recall@100 from pytrec_eval (trec_eval's ndcg_cut.10, recall.10,
recall.100: gain = grade, relevant = grade >= 1) and MRR@10 as BEIR's custom_metrics.mrr computes
it (1 / rank of the first document with a grade above 0 in the top 10). Also Spearman and
Pearson correlations from scipy.stats (what MTEB's STS evaluation calls) on seeded pairs with many
ties, for `eval --pairs`. The Swift metric code (Sources/LensRetrieval/Metrics.swift) never sees
either library; MetricsTests compares.

    scripts/setup-python.sh && .venv/bin/python scripts/metrics_golden.py   # pytrec-eval-terrier, scipy
"""
import os
import random
import sys


import pytrec_eval
import scipy
from scipy import stats

from golden_io import write_rows_per_line

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "Tests", "LensRetrievalTests", "Fixtures", "graded-metrics.json")


def build(seed=7, queries=80, documents=400):
    rng = random.Random(seed)
    docs = ["d%03d" % i for i in range(documents)]
    qrels, run, order = {}, {}, {}
    for qi in range(queries):
        q = "q%03d" % qi
        judged = rng.sample(docs, rng.randint(1, 8))
        if qi % 17 == 5:            # judged, but nothing relevant: BEIR scores such a query 0
            grades = {d: 0 for d in judged}
        else:
            grades = {d: rng.choice([0, 1, 1, 2, 3]) for d in judged}
            if all(g == 0 for g in grades.values()):
                grades[judged[0]] = rng.randint(1, 3)
        qrels[q] = grades
        depth = rng.choice([100, 100, 100, 30, 5])   # some runs return fewer than 100
        ranking = rng.sample([d for d in docs if d not in grades], depth)
        for d in judged:            # most judged documents near the top, some deep, some not returned
            where = rng.random()
            if where < 0.6:
                ranking.insert(min(rng.randrange(12), len(ranking)), d)
            elif where < 0.8:
                ranking.insert(rng.randrange(len(ranking) + 1), d)
        ranking = ranking[:depth]
        run[q] = {d: float(1000 - r) for r, d in enumerate(ranking)}   # distinct scores: no tie order
        order[q] = ranking
    return qrels, run, order


def beir_mrr(grades, ranking, k=10):
    relevant = {d for d, g in grades.items() if g > 0}
    for r, d in enumerate(ranking[:k]):
        if d in relevant:
            return 1.0 / (r + 1)
    return 0.0


def correlations(seed=11, n=200):
    rng = random.Random(seed)
    gold = [round(rng.uniform(0, 5) * 2) / 2 for _ in range(n)]              # 0, 0.5, ... 5: many ties
    pred = [round(g / 5 + rng.gauss(0, 0.25), 2) for g in gold]              # cosine-like, some ties
    return {"gold": gold, "predicted": pred, "spearman": float(stats.spearmanr(pred, gold).statistic),
            "pearson": float(stats.pearsonr(pred, gold).statistic),
            "source": "scipy %s stats.spearmanr / stats.pearsonr" % scipy.__version__}


def main():
    qrels, run, order = build()
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.10", "recall.100"})
    scores = ev.evaluate(run)
    rows = []
    for q in sorted(qrels):
        s = scores[q]
        rows.append({"id": q, "grades": qrels[q], "ranking": order[q],
                     "ndcg@10": s["ndcg_cut_10"], "recall@10": s["recall_10"],
                     "recall@100": s["recall_100"], "mrr@10": beir_mrr(qrels[q], order[q])})
    judged = [r for r in rows if any(g > 0 for g in r["grades"].values())]
    mean = {m: sum(r[m] for r in judged) / len(judged) for m in ("ndcg@10", "mrr@10", "recall@10", "recall@100")}
    header = {"source": "pytrec_eval %s (ndcg_cut.10, recall.10, recall.100); MRR@10 as BEIR's custom_metrics.mrr"
                        % getattr(pytrec_eval, "__version__", "?"),
              "regenerate": "scripts/metrics_golden.py", "correlations": correlations(),
              "mean_over_queries_with_a_relevant_document": mean, "queries_with_a_relevant_document": len(judged)}
    write_rows_per_line(OUT, header, rows)
    print("wrote %s: %d queries (%d with a relevant document), mean nDCG@10 %.6f"
          % (os.path.relpath(OUT), len(rows), len(judged), mean["ndcg@10"]), file=sys.stderr)


if __name__ == "__main__":
    main()
