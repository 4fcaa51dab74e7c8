#!/usr/bin/env python3
"""Checks the explorer's map twin against numpy: `export --format map` positions must be an
affine function of the exported vectors (the projection is linear), their variances the top two
eigenvalues of the vectors' covariance (the axes are the principal components), and
`search --json --map` must place the query by the same function and each hit where the export does.
usage: map_check.py MAP.jsonl VECTORS_BASE(npy export --out without .npy) SEARCH.json EMBED.jsonl"""
import json, sys
import numpy as np

map_path, base, search_path, embed_path = sys.argv[1:5]
rows = [json.loads(l) for l in open(map_path)]
ids = [json.loads(l) for l in open(base + "-ids.jsonl")]
assert ids == [r["id"] for r in rows], "map rows are not in the export's row order"
s = json.load(open(search_path))
q = json.loads(open(embed_path).readline())
for p in ["latent", "mean", "eos"]:
    V = np.load(f"{base}-{p}.npy").astype(np.float64)
    P = np.array([r[p] for r in rows], dtype=np.float64)
    X = np.hstack([V, np.ones((len(V), 1))])
    W = np.linalg.lstsq(X, P, rcond=None)[0]
    assert np.abs(X @ W - P).max() < 1e-5, f"{p}: positions are not an affine map of the vectors"
    top2 = np.sort(np.linalg.eigvalsh(np.cov(V.T, bias=True)))[::-1][:2]
    assert np.allclose(np.var(P, axis=0), top2, rtol=1e-3, atol=1e-7), f"{p}: variances {np.var(P, axis=0)} vs eigenvalues {top2}"
    assert np.allclose(np.array(q[p] + [1.0]) @ W, s["query_xy"][p], atol=1e-5), f"{p}: query position"
    for h in s["results"][p]:
        assert np.allclose(h["xy"], rows[ids.index(h["id"])][p], atol=1e-6), f"{p}: hit {h['id']}"
print("map: positions are the top-2 principal components; query and hits placed consistently")
