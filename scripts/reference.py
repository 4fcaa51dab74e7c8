#!/usr/bin/env python3
"""Independent float64 numpy reference of the NV-Embed forward pass (docs/nvembed.md).

Written from the description in ../shared/docs/nvembed.md, not from any Swift code:
  tokenizer   Hugging Face LlamaTokenizer (legacy mode, as NV-Embed ships it):
              ids = tok(instruction + text + "</s>", truncation to max_length), <s> added;
              pool mask = attention mask with the first len(tok.tokenize(instruction)) zeroed.
  decoder     Mistral: RMSNorm, rotate-half RoPE, GQA, SwiGLU, final norm, on a RIGHT-PADDED
              batch (pad id 2) with an additive mask: padding only (bidirectional) or causal+padding.
  latent      LN_q(h) @ to_q^T queries LN_ctx(latents) @ to_kv^T (K first half), per-head
              softmax / sqrt(cross_dim_head), to_out, residual; LN, GEGLU (value first half,
              gate second half, exact erf GELU), net.2, residual; masked mean; L2 normalise.
  mean / eos  masked mean of the decoder's last states / the state at the last non-pad position.

Usage as a tool:  reference.py --model DIR [--instruction TEXT] [--mask causal] [--max-length N] TEXT...
prints one JSON object per text with the three pooled vectors.
"""
import argparse, json, math, os, struct, sys

import numpy as np

# --------------------------------------------------------------------------- files

def read_safetensors(path):
    """Minimal independent reader: returns {name: float64 array}."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        raw = data[base + b: base + end]
        if e["dtype"] == "F32":
            a = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif e["dtype"] == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float64)
        elif e["dtype"] == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            a = u.view(np.float32).astype(np.float64)
        else:
            raise ValueError(f"dtype {e['dtype']}")
        out[name] = a.reshape(e["shape"])
    return out


def load_weights(folder):
    idx = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        w = {}
        for s in shards:
            w.update(read_safetensors(os.path.join(folder, s)))
        return w
    return read_safetensors(os.path.join(folder, "model.safetensors"))


def load_config(folder):
    with open(os.path.join(folder, "config.json")) as f:
        c = json.load(f)
    if c["model_type"] == "nvembed":
        t = c["text_config"]
        lat = {"num_latents_value": 512, "num_cross_heads": 8, "latent_dim": 4096, "hidden_dim": 4096,
               "cross_dim_head": 4096}
        lat.update({k: v for k, v in c.get("latent_attention_config", {}).items() if k != "model_type"})
        return t, lat
    return c, None


class Model:
    def __init__(self, folder):
        self.t, self.lat = load_config(folder)
        w = load_weights(folder)
        keys = list(w)
        if any(k.startswith("embedding_model.") for k in keys):
            p = "embedding_model."
        elif any(k.startswith("model.") for k in keys):
            p = "model."
        else:
            p = ""
        self.w = {(k[len(p):] if k.startswith(p) and not k.startswith("latent_attention_model.") else k): v
                  for k, v in w.items()}
        from transformers import LlamaTokenizer
        self.tok = LlamaTokenizer(vocab_file=os.path.join(folder, "tokenizer.model"), legacy=True,
                                  add_bos_token=True, add_eos_token=False)

    # ----------------------------------------------------------------------- inputs
    def inputs(self, texts, instruction, max_length):
        rows = [self.tok(instruction + t + "</s>", add_special_tokens=True, truncation=True,
                         max_length=max_length)["input_ids"] for t in texts]
        L = max(len(r) for r in rows)
        ids = np.full((len(rows), L), 2, dtype=np.int64)
        att = np.zeros((len(rows), L))
        for i, r in enumerate(rows):
            ids[i, :len(r)] = r
            att[i, :len(r)] = 1
        pool = att.copy()
        if instruction:
            n = len(self.tok.tokenize(instruction))
            pool[:, :n] = 0
        return ids, att, pool, rows

    # ----------------------------------------------------------------------- decoder
    def decoder(self, ids, att, causal):
        t, w = self.t, self.w
        B, L = ids.shape
        d = t["hidden_size"]
        nh = t["num_attention_heads"]
        nkv = t.get("num_key_value_heads", nh)
        hd = t.get("head_dim", d // nh)
        eps = t.get("rms_norm_eps", 1e-6)
        theta = t.get("rope_theta", 10000.0)

        def rms(x, g):
            return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g

        inv = 1.0 / theta ** (np.arange(0, hd, 2) / hd)
        ang = np.arange(L)[:, None] * inv[None, :]
        cos = np.concatenate([np.cos(ang), np.cos(ang)], -1)
        sin = np.concatenate([np.sin(ang), np.sin(ang)], -1)

        def rope(x):  # x [B, heads, L, hd]
            x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
            return x * cos + np.concatenate([-x2, x1], -1) * sin

        bias = np.where(att[:, None, None, :] > 0, 0.0, -np.inf)  # padding keys
        if causal:
            bias = bias + np.where(np.tril(np.ones((L, L))) > 0, 0.0, -np.inf)[None, None]
        h = w["embed_tokens.weight"][ids]
        for i in range(t["num_hidden_layers"]):
            g = lambda n: w[f"layers.{i}.{n}"]
            x = rms(h, g("input_layernorm.weight"))
            q = (x @ g("self_attn.q_proj.weight").T).reshape(B, L, nh, hd).transpose(0, 2, 1, 3)
            k = (x @ g("self_attn.k_proj.weight").T).reshape(B, L, nkv, hd).transpose(0, 2, 1, 3)
            v = (x @ g("self_attn.v_proj.weight").T).reshape(B, L, nkv, hd).transpose(0, 2, 1, 3)
            q, k = rope(q), rope(k)
            rep = nh // nkv
            k = np.repeat(k, rep, axis=1)
            v = np.repeat(v, rep, axis=1)
            s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + bias
            s = s - np.max(s, axis=-1, keepdims=True)
            p = np.exp(s)
            p = p / p.sum(-1, keepdims=True)
            o = (p @ v).transpose(0, 2, 1, 3).reshape(B, L, nh * hd)
            h = h + o @ g("self_attn.o_proj.weight").T
            x = rms(h, g("post_attention_layernorm.weight"))
            gate = x @ g("mlp.gate_proj.weight").T
            up = x @ g("mlp.up_proj.weight").T
            h = h + (gate / (1 + np.exp(-gate)) * up) @ g("mlp.down_proj.weight").T
        return rms(h, w["norm.weight"])

    # ----------------------------------------------------------------------- latent block
    def latent(self, h):
        w, lat = self.w, self.lat
        P = "latent_attention_model.cross_attend_blocks."
        H, dh = lat["num_cross_heads"], lat["cross_dim_head"]

        def ln(x, g, b):
            mu = x.mean(-1, keepdims=True)
            var = ((x - mu) ** 2).mean(-1, keepdims=True)
            return (x - mu) / np.sqrt(var + 1e-5) * g + b

        x = ln(h, w[P + "0.norm.weight"], w[P + "0.norm.bias"])
        c = ln(w["latent_attention_model.latents"], w[P + "0.norm_context.weight"], w[P + "0.norm_context.bias"])
        q = x @ w[P + "0.fn.to_q.weight"].T                       # [B, L, H*dh]
        kv = c @ w[P + "0.fn.to_kv.weight"].T                     # [n, 2*H*dh]
        k, v = kv[:, : H * dh], kv[:, H * dh:]
        B, L, _ = q.shape
        qh = q.reshape(B, L, H, dh).transpose(0, 2, 1, 3)          # [B, H, L, dh]
        kh = k.reshape(-1, H, dh).transpose(1, 0, 2)               # [H, n, dh]
        vh = v.reshape(-1, H, dh).transpose(1, 0, 2)
        s = qh @ kh.transpose(0, 2, 1)[None] / math.sqrt(dh)       # [B, H, L, n]
        s = s - s.max(-1, keepdims=True)
        a = np.exp(s)
        a = a / a.sum(-1, keepdims=True)
        o = (a @ vh[None]).transpose(0, 2, 1, 3).reshape(B, L, H * dh)
        y = h + o @ w[P + "0.fn.to_out.weight"].T
        u = ln(y, w[P + "1.norm.weight"], w[P + "1.norm.bias"]) @ w[P + "1.fn.net.0.weight"].T + w[P + "1.fn.net.0.bias"]
        half = u.shape[-1] // 2
        gate = u[..., half:]
        erf = np.vectorize(math.erf)
        g = u[..., :half] * (0.5 * gate * (1 + erf(gate / math.sqrt(2))))
        y = y + g @ w[P + "1.fn.net.2.weight"].T + w[P + "1.fn.net.2.bias"]
        return y, a

    # ----------------------------------------------------------------------- pooling
    def embed(self, texts, instruction="", causal=False, max_length=4096, trace=False):
        ids, att, pool, rows = self.inputs(texts, instruction, max_length)
        h = self.decoder(ids, att, causal)
        out = []
        y, a = self.latent(h) if self.lat else (None, None)
        for i, r in enumerate(rows):
            n = len(r)
            m = pool[i, :n]
            res = {"ids": [int(x) for x in r], "pool_mask": [int(x) for x in m],
                   "truncated": len(self.tok(instruction + texts[i] + "</s>")["input_ids"]) > max_length}
            shares = {}
            for name, states in (("latent", y), ("mean", h)):
                if states is None:
                    continue
                s = states[i, :n]
                p = (m[:, None] * s).sum(0) / m.sum()
                res[name] = (p / max(np.linalg.norm(p), 1e-12)).tolist()
                shares[name] = (m * (s @ p) / (m.sum() * (p @ p))).tolist()
            e = h[i, n - 1]
            res["eos"] = (e / max(np.linalg.norm(e), 1e-12)).tolist()
            if trace:
                res["shares"] = shares
                if a is not None:
                    res["latent_probabilities"] = a[i, :, :n, :].tolist()   # [H, n, latents]
            out.append(res)
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--instruction", default="")
    ap.add_argument("--task", default=None, help="wrap as 'Instruct: TASK\\nQuery: '")
    ap.add_argument("--mask", choices=["bidirectional", "causal"], default="bidirectional")
    ap.add_argument("--max-length", type=int, default=4096)
    ap.add_argument("texts", nargs="+")
    a = ap.parse_args()
    instr = f"Instruct: {a.task}\nQuery: " if a.task else a.instruction
    m = Model(a.model)
    for r in m.embed(a.texts, instr, a.mask == "causal", a.max_length):
        print(json.dumps(r))


if __name__ == "__main__":
    main()
