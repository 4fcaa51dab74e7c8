#!/usr/bin/env python3
"""How long would `scripts/train-default-model.sh` take on this machine? Measured, not guessed.

Runs every stage of the shipped recipe for a few steps (a copy of the recipe with each stage cut
to --steps steps, no dev evaluations, no checkpoints), times one dev evaluation, and projects the
whole run: each stage's tokens in the shipped run (Models/nvembed-mini/train.csv) divided by the
tokens/s this machine reached on that stage, plus the recipe's dev evaluations. Needs the data and
the teacher files (steps 1-3 of train-default-model.sh); reports the preparation phases' own
times if they are given (--prep-seconds, e.g. from a first run of those steps).

  python3 scripts/estimate_regeneration.py [--steps 24] [--json OUT.json]

The first steps of each stage are left out of its rate (--skip, default 4): they include loading
the stage's data and the first touches of fresh memory.
"""
import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def stage_tokens(train_csv):
    """Tokens and steps of each stage of a finished run, in order."""
    out = {}
    with open(train_csv) as f:
        for row in csv.DictReader(f):
            t, n = out.get(row["stage"], (0, 0))
            out[row["stage"]] = (t + int(row["tokens"]), n + 1)
    return out


def stage_rates(train_csv, skip):
    """tokens/s of each stage of the timing run: its tokens over its seconds, first `skip` steps left out."""
    rows = list(csv.DictReader(open(train_csv)))
    prev = 0.0
    per = {}
    for row in rows:
        el = float(row["elapsed_s"])
        secs, prev = el - prev, el
        if int(row["step"]) <= skip:
            continue
        per.setdefault(row["stage"], []).append((int(row["tokens"]), secs))
    return {s: (sum(t for t, _ in v) / max(sum(d for _, d in v), 1e-9),
                statistics.median(t / max(d, 1e-9) for t, d in v), len(v)) for s, v in per.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", default=os.path.join(ROOT, "Models/recipes/nvembed-mini.json"))
    ap.add_argument("--shipped-log", default=os.path.join(ROOT, "Models/nvembed-mini/train.csv"),
                    help="train.csv of the run whose stage token counts are projected")
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/latentlens"))
    ap.add_argument("--out", default=os.path.join(ROOT, "data/runs/estimate"))
    ap.add_argument("--steps", type=int, default=24, help="steps of each stage to time")
    ap.add_argument("--skip", type=int, default=4, help="first steps of each stage not counted")
    ap.add_argument("--prep-seconds", type=float, default=None,
                    help="measured seconds of steps 1-3 of train-default-model.sh, added to the total")
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--matmul", choices=["fp32", "bf16"], default="fp32",
                    help="precision of the timed steps' products (`latentlens train --matmul`)")
    args = ap.parse_args()
    if args.steps <= args.skip:
        sys.exit("error: --steps must exceed --skip")
    recipe = json.load(open(args.recipe))
    shipped = stage_tokens(args.shipped_log)
    names = [s["name"] for s in recipe["stages"]]
    missing = [n for n in names if n not in shipped]
    if missing:
        sys.exit(f"error: {args.shipped_log} has no steps of stage(s) {', '.join(missing)}")
    timing = dict(recipe, name="estimate", eval_every=10**9, checkpoint_every=10**9,
                  stages=[dict(s, steps=args.steps, warmup_steps=min(s.get("warmup_steps", 0), args.skip))
                          for s in recipe["stages"]])
    path = os.path.join(args.out, "recipe.json")
    if os.path.isdir(args.out) and os.listdir(args.out):
        # Start clean (a checkpoint left there would resume instead of timing), but only in a
        # folder an earlier estimate made.
        if not os.path.exists(path) or json.load(open(path)).get("name") != "estimate":
            sys.exit(f"error: {args.out} is not empty and was not made by this script; give another --out")
        shutil.rmtree(args.out)
    os.makedirs(args.out)
    json.dump(timing, open(path, "w"), indent=1)
    log = os.path.join(args.out, "train.csv")
    print(f"timing {args.steps} steps of each of {len(names)} stages ...", flush=True)
    t0 = time.monotonic()
    subprocess.run([args.binary, "train", "--recipe", path, "--out", args.out, "--matmul", args.matmul], check=True,
                   stdout=subprocess.DEVNULL, cwd=ROOT)
    wall = time.monotonic() - t0
    t0 = time.monotonic()
    subprocess.run([args.binary, "train", "--recipe", path, "--out", args.out, "--eval-only"], check=True,
                   stdout=subprocess.DEVNULL, cwd=ROOT)
    eval_s = time.monotonic() - t0
    rates = stage_rates(log, args.skip)
    rows = list(csv.DictReader(open(log)))
    # Everything but the steps: loading data, each stage's setup (BM25 mining where a stage
    # asks for it), the dev evaluation and export at each stage's end. The real run has the same,
    # plus the evaluations every eval_every steps that do not fall on a stage's end.
    overhead = wall - float(rows[-1]["elapsed_s"])
    ends, g = set(), 0
    for n in names:
        g += shipped[n][1]
        ends.add(g)
    points = ends | set(range(recipe["eval_every"], g + 1, recipe["eval_every"]))
    extra_evals = len(points) - len(ends)
    print(f"\n{'stage':10} {'shipped tokens':>15} {'tokens/s here':>14} {'median':>9} {'projected':>10}")
    total = 0.0
    stages = []
    for n in names:
        tok, steps = shipped[n]
        rate, med, counted = rates[n]
        secs = tok / rate
        total += secs
        stages.append(dict(stage=n, steps=steps, tokens=tok, tokens_per_s=round(rate), median_tokens_per_s=round(med),
                           timed_steps=counted, projected_seconds=round(secs)))
        print(f"{n:10} {tok:>15,} {rate:>14,.0f} {med:>9,.0f} {secs / 60:>8.1f} m")
    all_tok = sum(shipped[n][0] for n in names)
    print(f"{'steps':10} {all_tok:>15,} {all_tok / total:>14,.0f} {'':>9} {total / 3600:>8.2f} h")
    print(f"data, stage setup, stage-end evaluations and exports: {overhead / 60:.1f} min (measured)")
    print(f"dev evaluations between stage ends: {extra_evals} × {eval_s:.0f} s (one timed) = {extra_evals * eval_s / 60:.1f} min")
    training = total + overhead + extra_evals * eval_s
    whole = training + (args.prep_seconds or 0)
    prep = f" + preparation {args.prep_seconds / 60:.0f} min (measured)" if args.prep_seconds else " (preparation not included)"
    print(f"projected training {training / 3600:.2f} h{prep} = {whole / 3600:.2f} h")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS") if k in os.environ}
    print(f"on {os.cpu_count()} × {cpu}, {args.matmul} products" + "".join(f", {k}={v}" for k, v in env.items()))
    if args.json:
        json.dump(dict(date=time.strftime("%Y-%m-%d"), stages=stages, step_seconds=round(total),
                       step_tokens_per_s=round(all_tok / total), eval_seconds_each=round(eval_s, 1), extra_evals=extra_evals,
                       overhead_seconds=round(overhead), training_seconds=round(training),
                       prep_seconds=args.prep_seconds, projected_seconds=round(whole), cpus=os.cpu_count(), cpu=cpu,
                       environment=env, matmul=args.matmul, steps_per_stage=args.steps, skipped_per_stage=args.skip),
                  open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
