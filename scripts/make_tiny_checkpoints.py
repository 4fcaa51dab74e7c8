#!/usr/bin/env python3
"""Tiny random checkpoints in the exact NV-Embed-v2 layout, and reference outputs for them.

Writes Tests/LensModelTests/Fixtures/<name>/ with config.json (NV-Embed schema, or a plain
Mistral/LLaMA one), safetensors weights (sharded with model.safetensors.index.json, or one
file), tokenizer.model (the tiny BPE model from the tokenizer fixtures) and
reference.json: vectors from scripts/reference.py (float64 numpy) for a fixed list of cases
(mixed-length batches, with and without instruction, bidirectional and causal, truncated).

Shapes are small but keep the real structure: GQA (4 query heads, 2 KV heads), a latent block
whose per-head width (24) differs from hidden/heads (8), so the known wrong ports fail.
Run: .venv/bin/python scripts/make_tiny_checkpoints.py
"""
import json, os, shutil, struct, sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "Tests", "LensModelTests", "Fixtures")
TOKENIZER = os.path.join(ROOT, "Tests", "LensTokenizerTests", "Fixtures", "tiny-bpe.model")

TEXT = dict(vocab_size=600, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=1000.0,
            max_position_embeddings=4096, bos_token_id=1, eos_token_id=2, hidden_act="silu")
LATENT = dict(num_latents_value=16, num_cross_heads=2, latent_dim=32, hidden_dim=32, cross_dim_head=24,
              output_normalize=True)


def bf16_round(a):
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return u


def encode(a, dtype):
    if dtype == "F32":
        return a.astype("<f4").tobytes()
    if dtype == "F16":
        return a.astype("<f2").tobytes()
    return bf16_round(a).astype("<u2").tobytes()


def write_safetensors(path, tensors, dtype, metadata=None):
    header, chunks, off = {}, [], 0
    for name in sorted(tensors):
        b = encode(tensors[name], dtype)
        header[name] = {"dtype": dtype, "shape": list(tensors[name].shape), "data_offsets": [off, off + len(b)]}
        chunks.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)   # pad like the reference writer so data is 8-aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


def random_weights(rng, text, latent, prefix, lm_head=False):
    d, f, V = text["hidden_size"], text["intermediate_size"], text["vocab_size"]
    nh, nkv = text["num_attention_heads"], text["num_key_value_heads"]
    hd = d // nh

    def lin(o, i):
        return rng.standard_normal((o, i)) / np.sqrt(i)

    def norm(n):
        return 1 + 0.2 * rng.standard_normal(n)

    w = {prefix + "embed_tokens.weight": rng.standard_normal((V, d)), prefix + "norm.weight": norm(d)}
    for i in range(text["num_hidden_layers"]):
        p = f"{prefix}layers.{i}."
        w.update({p + "input_layernorm.weight": norm(d), p + "post_attention_layernorm.weight": norm(d),
                  p + "self_attn.q_proj.weight": lin(nh * hd, d), p + "self_attn.k_proj.weight": lin(nkv * hd, d),
                  p + "self_attn.v_proj.weight": lin(nkv * hd, d), p + "self_attn.o_proj.weight": lin(d, nh * hd),
                  p + "mlp.gate_proj.weight": lin(f, d), p + "mlp.up_proj.weight": lin(f, d),
                  p + "mlp.down_proj.weight": lin(d, f)})
    if lm_head:
        w["lm_head.weight"] = lin(V, d)
    if latent:
        P = "latent_attention_model."
        B = P + "cross_attend_blocks."
        inner = latent["num_cross_heads"] * latent["cross_dim_head"]
        q, c, ff = latent["latent_dim"], latent["hidden_dim"], 4 * latent["latent_dim"]
        w.update({P + "latents": rng.standard_normal((latent["num_latents_value"], q)),
                  B + "0.norm.weight": norm(q), B + "0.norm.bias": 0.1 * rng.standard_normal(q),
                  B + "0.norm_context.weight": norm(c), B + "0.norm_context.bias": 0.1 * rng.standard_normal(c),
                  B + "0.fn.to_q.weight": 2 * lin(inner, q), B + "0.fn.to_kv.weight": 2 * lin(2 * inner, c),
                  B + "0.fn.to_out.weight": lin(q, inner),
                  B + "1.norm.weight": norm(q), B + "1.norm.bias": 0.1 * rng.standard_normal(q),
                  B + "1.fn.net.0.weight": lin(2 * ff, q), B + "1.fn.net.0.bias": 0.1 * rng.standard_normal(2 * ff),
                  B + "1.fn.net.2.weight": lin(q, ff), B + "1.fn.net.2.bias": 0.1 * rng.standard_normal(q)})
    return w


INSTRUCTION = "Instruct: Given a question, retrieve passages that answer the question\nQuery: "
TEXTS = ["the latent attention pooling model", "a query", "embedding vector 42 retrieve passage token token",
         "안녕하세요 세계", "x", "10 reasons to pool", "emoji 👋 and café"]
CASES = [
    {"name": "passages-bidirectional", "texts": TEXTS, "instruction": "", "mask": "bidirectional", "max_length": 4096},
    {"name": "queries-bidirectional", "texts": TEXTS, "instruction": INSTRUCTION, "mask": "bidirectional", "max_length": 4096},
    {"name": "passages-causal", "texts": TEXTS, "instruction": "", "mask": "causal", "max_length": 4096},
    {"name": "queries-causal", "texts": TEXTS, "instruction": INSTRUCTION, "mask": "causal", "max_length": 4096},
    {"name": "truncated", "texts": TEXTS[:3] + ["the a of " * 30], "instruction": "", "mask": "bidirectional", "max_length": 12},
    {"name": "trace", "texts": TEXTS[2:4], "instruction": INSTRUCTION, "mask": "bidirectional", "max_length": 4096, "trace": True},
]

VARIANTS = [
    # name, family, dtype, shards, key prefix
    ("tiny-nvembed-f32", "nvembed", "F32", 2, "embedding_model."),
    ("tiny-nvembed-f16", "nvembed", "F16", 3, "embedding_model."),
    ("tiny-nvembed-bf16", "nvembed", "BF16", 1, "embedding_model."),
    ("tiny-mistral-f32", "mistral", "F32", 1, "model."),
    ("tiny-llama-bf16", "llama", "BF16", 2, ""),
]


def main():
    for name, family, dtype, shards, prefix in VARIANTS:
        rng = np.random.default_rng(sum(map(ord, name)))
        out = os.path.join(FIX, name)
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        latent = LATENT if family == "nvembed" else None
        w = random_weights(rng, TEXT, latent, prefix, lm_head=(family == "mistral"))
        if family == "nvembed":
            cfg = {"_name_or_path": name, "architectures": ["NVEmbedModel"], "model_type": "nvembed",
                   "add_eos": True, "add_pad_token": True, "is_mask_instruction": True, "mask_type": "b",
                   "padding_side": "right", "hidden_size": TEXT["hidden_size"], "torch_dtype": dtype.lower(),
                   "text_config": dict(TEXT, model_type="bidir_mistral", architectures=["MistralModel"],
                                       sliding_window=4096),
                   "latent_attention_config": dict(LATENT, model_type="latent_attention")}
        else:
            cfg = dict(TEXT, model_type=family, _name_or_path=name, architectures=["MistralModel"])
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        shutil.copy(TOKENIZER, os.path.join(out, "tokenizer.model"))
        names = sorted(w)
        if shards == 1:
            write_safetensors(os.path.join(out, "model.safetensors"), w, dtype, {"format": "pt"})
        else:
            groups = [names[i::shards] for i in range(shards)]
            wm = {}
            for i, g in enumerate(groups):
                fn = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
                write_safetensors(os.path.join(out, fn), {k: w[k] for k in g}, dtype, {"format": "pt"})
                wm.update({k: fn for k in g})
            total = sum(w[k].size for k in names) * (4 if dtype == "F32" else 2)
            with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
                json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(wm.items()))}, f, indent=2)
        # Cross-check our writer with the safetensors library where numpy has the dtype.
        if dtype != "BF16":
            from safetensors.numpy import load_file
            files = [x for x in os.listdir(out) if x.endswith(".safetensors")]
            got = {}
            for x in files:
                got.update(load_file(os.path.join(out, x)))
            for k in names:
                assert np.array_equal(got[k].astype(np.float64), w[k].astype("<f4" if dtype == "F32" else "<f2").astype(np.float64)), k
        model = reference.Model(out)
        results = []
        for case in CASES:
            if family != "nvembed" and case.get("trace"):
                continue
            emb = model.embed(case["texts"], case["instruction"], case["mask"] == "causal", case["max_length"],
                              trace=case.get("trace", False))
            results.append(dict(case, outputs=emb))
        with open(os.path.join(out, "reference.json"), "w") as f:
            json.dump({"generator": "scripts/make_tiny_checkpoints.py + scripts/reference.py (float64 numpy)",
                       "cases": results}, f, separators=(",", ":"))
        print(name, "ok", sum(os.path.getsize(os.path.join(out, x)) for x in os.listdir(out)), "bytes")


if __name__ == "__main__":
    main()
