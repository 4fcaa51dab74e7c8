#!/usr/bin/env python3
"""A random-weight model folder of any size in the NV-Embed-v2 layout, for benchmarks
(e.g. the yardstick in docs/PERFORMANCE.md: --hidden 384 --layers 6 --heads 6 --kv-heads 2
--ffn 1024 --latents 512 --cross-heads 8 --cross-dim-head 384). Not a trained model.

Run: .venv/bin/python scripts/make_random_model.py --out /tmp/bench-model [shape flags]
"""
import argparse, json, os, shutil, sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tiny_checkpoints import random_weights, write_safetensors  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--hidden", type=int, default=384)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=1024)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--latents", type=int, default=512)
    ap.add_argument("--cross-heads", type=int, default=8)
    ap.add_argument("--cross-dim-head", type=int, default=384)
    ap.add_argument("--dtype", choices=["F32", "F16", "BF16"], default="F32")
    a = ap.parse_args()
    text = dict(vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.ffn, num_hidden_layers=a.layers,
                num_attention_heads=a.heads, num_key_value_heads=a.kv_heads, rms_norm_eps=1e-5, rope_theta=10000.0,
                max_position_embeddings=4096, bos_token_id=1, eos_token_id=2, hidden_act="silu")
    latent = dict(num_latents_value=a.latents, num_cross_heads=a.cross_heads, latent_dim=a.hidden,
                  hidden_dim=a.hidden, cross_dim_head=a.cross_dim_head, output_normalize=True)
    rng = np.random.default_rng(0)
    w = random_weights(rng, text, latent, "embedding_model.")
    os.makedirs(a.out, exist_ok=True)
    write_safetensors(os.path.join(a.out, "model.safetensors"), w, a.dtype, {"format": "pt"})
    cfg = {"_name_or_path": "random-" + os.path.basename(a.out.rstrip("/")), "model_type": "nvembed",
           "is_mask_instruction": True, "padding_side": "right", "hidden_size": a.hidden,
           "text_config": dict(text, model_type="bidir_mistral"),
           "latent_attention_config": dict(latent, model_type="latent_attention")}
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    shutil.copy(os.path.join(ROOT, "Models", "mistral-tokenizer", "tokenizer.model"), os.path.join(a.out, "tokenizer.model"))
    print("wrote", a.out)


if __name__ == "__main__":
    main()
