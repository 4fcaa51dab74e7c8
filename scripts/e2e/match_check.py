#!/usr/bin/env python3
"""`embed --trace --match QUERY` against `search --json`: for each pooling's top hit, the
per-token match contributions must sum to match_score, and match_score must equal the score
search gave that document (same query instruction, same mask).
usage: match_check.py BIN MODEL CORPUS.jsonl SEARCH.json QUERY"""
import json, subprocess, sys

bin_, model, corpus, search_path, query = sys.argv[1:6]
s = json.load(open(search_path))
docs = {}
for line in open(corpus):
    d = json.loads(line)
    docs[d["id"]] = d
for p in ("latent", "mean", "eos"):
    hit = s["results"][p][0]
    d = docs[hit["id"]]
    text = d["title"] + " " + d["text"] if d.get("title") else d["text"]
    out = subprocess.run([bin_, "embed", "--model", model, "--max-length", "512", "--trace", "--match", query, text],
                         capture_output=True, text=True, check=True).stdout
    t = json.loads(out)["trace"]
    assert abs(sum(t["match"][p]) - t["match_score"][p]) < 1e-5, f"{p}: contributions do not sum to match_score"
    assert abs(t["match_score"][p] - hit["score"]) < 1e-5, f"{p}: match_score {t['match_score'][p]} vs search's {hit['score']}"
    if "made_of" in hit:   # search --explain: the heaviest pieces of those parts, summed per piece
        tokens = json.loads(out)["tokens"]
        total, first = {}, {}
        for i, (tok, part) in enumerate(zip(tokens, t["match"][p])):
            if tok["pooled"]:
                total[tok["piece"]] = total.get(tok["piece"], 0.0) + part
                first.setdefault(tok["piece"], i)
        top = sorted(total, key=lambda k: (-total[k], first[k]))[:len(hit["made_of"])]
        assert [m["piece"] for m in hit["made_of"]] == top, f"{p}: made_of {hit['made_of']} vs {top}"
        assert all(abs(m["part"] - total[m["piece"]]) < 1e-5 for m in hit["made_of"]), f"{p}: parts"
print("match: contributions sum to the score search gives" + (" and search --explain lists their heaviest pieces" if "made_of" in s["results"]["latent"][0] else ""))
