#!/usr/bin/env python3
"""Golden BM25 rankings from bm25s (Lucene variant), for the Swift tests.

The tool's BM25 (Sources/LensRetrieval/BM25.swift) is the yardstick every held-out result is
read against, so it is checked against a library it shares no code with: bm25s 0.3.16,
method "lucene" (idf = ln(1 + (N - df + 0.5)/(df + 0.5)), tf part tf / (tf + k1(1 - b + b dl/avgdl))),
k1 0.9, b 0.4, in float64. Lucene's score leaves out BM25's constant (k1 + 1) factor, so the
tool's scores are (k1 + 1) = 1.9 times these; rankings are the same.

Words are made here from the documented rule, written again in Python: lower-case the text, keep
runs of Unicode letters, marks and digits (categories L*, M*, N*), drop the 33 stop words. A
query counts each distinct word once. Ties in score are broken by document order.

Corpus: the texts of SampleCorpora/sampler.jsonl (3,000 documents). Queries: every 10th
document's title plus a few edge cases. Writes Tests/LensRetrievalTests/Fixtures/bm25-golden.json:

    scripts/setup-python.sh && .venv/bin/python scripts/bm25_golden.py   # needs bm25s
"""
import json
import os
import sys
import unicodedata

import bm25s
import numpy as np

from golden_io import write_rows_per_line

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
OUT = os.path.join(ROOT, "Tests", "LensRetrievalTests", "Fixtures", "bm25-golden.json")
STOP = set("a an and are as at be but by for if in into is it no not of on or such that the their "
           "then there these they this to was will with".split())
K1, B, K = 0.9, 0.4, 10
EXTRA_QUERIES = [
    "the of and",                               # stop words only: no word, nothing returned
    "python python python library",             # a repeated word counts once
    "ÉLÉONORE résumés 景太郎 KORVIGELLOÙ porté",  # lower-casing beyond ASCII, CJK letters
    "x11 2to3 utf-8 ipv6",                       # digits inside words, a hyphen splits
    "zzzzunknownword",                          # a word no document has
]


def words(text):
    out, cur = [], []
    for ch in text.lower():
        if unicodedata.category(ch)[0] in "LMN":
            cur.append(ch)
        elif cur:
            out.append("".join(cur)); cur = []
    if cur:
        out.append("".join(cur))
    return [w for w in out if w not in STOP]


def main():
    rows = [json.loads(l) for l in open(os.path.join(ROOT, "SampleCorpora", "sampler.jsonl"), encoding="utf-8")]
    docs = [r["text"] for r in rows]
    queries = [r["title"] for r in rows[::10]] + EXTRA_QUERIES
    retriever = bm25s.BM25(k1=K1, b=B, method="lucene", dtype="float64")
    retriever.index([words(d) for d in docs], show_progress=False)
    out = []
    for q in queries:
        terms = sorted(set(words(q)))
        scores = retriever.get_scores(terms) if terms else np.zeros(len(docs))
        order = sorted((i for i in range(len(docs)) if scores[i] > 0), key=lambda i: (-scores[i], i))[:K]
        out.append({"query": q, "top": [[i, float(scores[i]) * (K1 + 1)] for i in order]})
    write_rows_per_line(OUT, {"source": "bm25s %s, method lucene, k1 %s, b %s, float64; scores times (k1 + 1)"
                                        % (bm25s.__version__, K1, B),
                              "regenerate": "scripts/bm25_golden.py", "corpus": "SampleCorpora/sampler.jsonl (text field)",
                              "k": K}, out)
    print("wrote %s: %d queries over %d documents" % (os.path.relpath(OUT), len(out), len(docs)), file=sys.stderr)


if __name__ == "__main__":
    main()
