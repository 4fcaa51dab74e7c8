#!/usr/bin/env python3
"""Golden tokenizations for the Swift tokenizer tests.

Writes Tests/LensTokenizerTests/Fixtures/:
  tiny-train.txt        small multilingual training text (written by this script)
  tiny-bpe.model        a small BPE model trained on it with `spm_train` (byte fallback)
  goldens-mistral.json  Python `sentencepiece` ids/pieces/byte ranges with the Mistral-7B-v0.1 model
  goldens-tiny.json     the same with tiny-bpe.model
  goldens-hf.json       the Hugging Face LlamaTokenizer NV-Embed ships (legacy mode): literal
                        special tokens, and the exact NV-Embed input: ids of
                        tokenizer(instruction + text + "</s>") and len(tokenize(instruction)).

Run: .venv/bin/python scripts/make_tokenizer_goldens.py   (after scripts/setup-python.sh)
"""
import json, os, subprocess, sys, tempfile

import sentencepiece as spm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "Tests", "LensTokenizerTests", "Fixtures")
MISTRAL = os.path.join(ROOT, "Models", "mistral-tokenizer", "tokenizer.model")

LONG = ("The quick brown fox jumps over the lazy dog. " * 300) + "끝 🎉" + ("x" * 3000)

STRINGS = [
    "", " ", "  ", "\n", "\n\n\n", "\t", "Hello world", "Hello, World!", "hello   world",
    "  leading and trailing  ", "a\nb\n\nc", "line one\r\nline two", "tabs\tand\tspaces  \t ",
    "def f(x):\n    return x ** 2  # square\n", "for (int i = 0; i < n; ++i) { a[i] += b[i]; }",
    "SELECT * FROM t WHERE id = 42;", "{\"key\": [1, 2.5e-3, null]}",
    "12345", "3.14159", "1,000,000", "2024-05-17T12:00:00Z", "0x7FFF and 0b1010", "v1.2.3-rc.4",
    "café naïve résumé", "Ångström über Straße", "e\u0301 (combining acute)", "ﬁ ligature",
    "안녕하세요", "안녕하세요, 세계! 한국어 텍스트", "日本語のテキスト", "中文文本测试", "Привет, мир",
    "مرحبا بالعالم", "Γειά σου Κόσμε", "हिन्दी पाठ",
    "👋", "👋🏽", "👨‍👩‍👧‍👦 family", "🎉🎉🎉", "I ❤️ NY", "math: ∑ ∫ √ ≤ ≥ ≠ ∞",
    "\u200bzero\u200bwidth", "\ufeffBOM", "\ufffd replacement", "control\x07bell",
    "<s> not special here", "text </s> more", "<unk>", "a<s>b</s>c", "</s>",
    "Instruct: Given a question, retrieve passages that answer the question\nQuery: ",
    "Instruct: Given a question, retrieve passages that answer the question\nQuery: are judo throws allowed in wrestling?",
    "what is the capital of France?", "10 reasons", " space first",
    LONG,
]

INSTRUCTION = "Instruct: Given a question, retrieve passages that answer the question\nQuery: "
NVEMBED_CASES = [
    (INSTRUCTION, "are judo throws allowed in wrestling?"),
    (INSTRUCTION, "how to become a radiology technician in michigan?"),
    (INSTRUCTION, "10 best beaches"),          # digit: lone "▁" stays separate and is pooled
    (INSTRUCTION, " leading space"),
    (INSTRUCTION, "한국어 질문"),
    (INSTRUCTION, "👋 hello"),
    (INSTRUCTION, ""),
    ("", "A passage with no instruction."),
    ("", ""),
    ("Instruct: Retrieve semantically similar text.\nQuery: ", "a man is playing a guitar"),
    ("", "typed literal </s> inside"),
]


def encode(sp, text):
    res = sp.encode(text, out_type="immutable_proto") if hasattr(sp, "_x") else sp.encode(text, return_type="proto")
    return [{"id": p.id, "piece": p.piece, "begin": p.begin, "end": p.end} for p in res.pieces]


def goldens(model_path, strings):
    sp = spm.SentencePieceProcessor(model_file=model_path)
    return {
        "model": os.path.relpath(model_path, ROOT),
        "vocab_size": sp.get_piece_size(),
        "bos": sp.bos_id(), "eos": sp.eos_id(), "unk": sp.unk_id(),
        "sentencepiece_version": spm.__version__,
        "cases": [{"text": s, "tokens": encode(sp, s)} for s in strings],
    }


def write(name, obj):
    with open(os.path.join(FIX, name), "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


def tiny_text():
    lines = []
    words = "the a of embedding model token latent attention pooling query passage retrieve vector".split()
    for i in range(600):
        w = [words[(i * 7 + k * 3) % len(words)] for k in range(8)]
        lines.append(" ".join(w) + f" {i} {i * 31 % 997}.")
    lines += ["안녕하세요 세계 한국어 문장입니다", "café naïve résumé Straße", "def f(x):\n    return x",
              "日本語 中文 Привет мир", "emoji 👋 🎉 ❤️"] * 20
    return "\n".join(lines) + "\n"


def main():
    os.makedirs(FIX, exist_ok=True)
    train = os.path.join(FIX, "tiny-train.txt")
    with open(train, "w", encoding="utf-8") as f:
        f.write(tiny_text())
    with tempfile.TemporaryDirectory() as d:
        prefix = os.path.join(d, "tiny")
        subprocess.run(["spm_train", f"--input={train}", f"--model_prefix={prefix}", "--vocab_size=600",
                        "--model_type=bpe", "--byte_fallback=true", "--character_coverage=1.0", "--normalization_rule_name=identity",
                        "--unk_id=0", "--bos_id=1", "--eos_id=2", "--pad_id=-1", "--seed_sentencepiece_size=10000",
                        "--num_threads=1", "--minloglevel=2"], check=True)
        with open(prefix + ".model", "rb") as src, open(os.path.join(FIX, "tiny-bpe.model"), "wb") as dst:
            dst.write(src.read())
    write("goldens-mistral.json", goldens(MISTRAL, STRINGS))
    write("goldens-tiny.json", goldens(os.path.join(FIX, "tiny-bpe.model"), STRINGS))

    from transformers import LlamaTokenizer
    tok = LlamaTokenizer(vocab_file=MISTRAL, legacy=True, add_bos_token=True, add_eos_token=False)
    special = [s for s in STRINGS if "<" in s] + ["x </s> y", " </s>", "</s> ", "<s><s>", "a<unk>b"]
    hf = {"transformers": __import__("transformers").__version__, "literal_cases": [], "nvembed_cases": []}
    for s in special:
        hf["literal_cases"].append({"text": s, "ids": tok(s, add_special_tokens=False)["input_ids"]})
    for instruction, text in NVEMBED_CASES:
        full = tok(instruction + text + "</s>", add_special_tokens=True)["input_ids"]
        n = len(tok.tokenize(instruction)) if instruction else 0
        hf["nvembed_cases"].append({"instruction": instruction, "text": text, "ids": full,
                                    "instruction_length": n})
    write("goldens-hf.json", hf)
    print("wrote goldens to", FIX)


if __name__ == "__main__":
    sys.exit(main())
