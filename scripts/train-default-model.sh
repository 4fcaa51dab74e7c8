#!/usr/bin/env bash
# Rebuilds the bundled default model, Models/nvembed-mini, from a clean clone — the exact
# command behind the committed weights (see Models/nvembed-mini/MODEL_CARD.md):
#
#   scripts/train-default-model.sh
#
# 1. system packages and a release build; 2. training data from Debian packages
# (scripts/build_data.py); 3. the teacher's outputs (scripts/teacher.py: piece embeddings,
# mined candidates, vectors); 4. `latentlens train --recipe nvembed-mini` (resumable: rerun
# after an interruption); 5. copy the weights into Models/nvembed-mini; 6. evaluate.
# Takes hours on 2 cores: MODEL_CARD.md has the figure measured from a clean clone (preparation,
# mostly the teacher, then the training), and `python3 scripts/estimate_regeneration.py` projects
# this machine's own time from a few timed steps of every stage once steps 1-3 have run. With
# OpenBLAS's AVX-512 kernels on an AVX-512 CPU the training runs 1.7× faster than with AVX2 ones, so
# unset an OPENBLAS_CORETYPE that forces narrower kernels (`latentlens train` names one when it
# starts). RUN=folder overrides data/runs/nvembed-mini.
# MATMUL=bf16 scripts/train-default-model.sh: the same, with the teacher's and the trainer's
# matrix products in bfloat16 (CPUs with AMX or AVX512_BF16 only; ~1.3-1.5x faster steps, and the
# teacher in batches of 32 at 2.4x float32's batch-256 speed, both measured on a Zen 5); not the
# committed weights' arithmetic: from step 0 to stage 2 it cost dev Debian .009 nDCG@10 against the
# float32 lineage (docs/TRAINING.md, "The bfloat16 fast path from step 0"); speed:
# docs/PERFORMANCE.md, "bfloat16 products on AMX" and "on AVX512_BF16").
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
RUN=${RUN:-data/runs/nvembed-mini}
MATMUL=${MATMUL:-fp32}
case "$MATMUL" in fp32) TEACHER_FLAGS=();; bf16) TEACHER_FLAGS=(--bf16 --batch 32);; *) echo "MATMUL is fp32 or bf16" >&2; exit 2;; esac
prep_start=$(date +%s)
scripts/install-deps.sh
swift build -c release --product latentlens
python3 scripts/build_data.py
scripts/setup-python.sh --teacher
# The teacher under tcmalloc (scripts/install-deps.sh installs it): the same vectors bit for bit as
# under glibc's malloc, 1.50x faster over a whole run (glibc maps and the kernel zero-fills the big activation
# tensors afresh for every batch; docs/PERFORMANCE.md, "The teacher's batch size").
# (dpkg, not ldconfig: ldconfig is not on a non-root user's PATH, and under set -e its absence would stop the script)
TCMALLOC=$(dpkg -L libtcmalloc-minimal4 2>/dev/null | grep -m1 '/libtcmalloc_minimal\.so\.4$' || true)
TEACHER=(.venv-teacher/bin/python scripts/teacher.py)
[[ -z $TCMALLOC ]] || TEACHER=(env "LD_PRELOAD=$TCMALLOC" "${TEACHER[@]}")
[[ -f data/teacher/pieces.npy ]] || "${TEACHER[@]}" pieces
[[ -f data/teacher/candidates.jsonl ]] || "${TEACHER[@]}" train "${TEACHER_FLAGS[@]}"
start=$(date +%s)
echo "preparation wall time: $(( start - prep_start )) s (this invocation; steps already done are skipped)"
.build/release/latentlens train --recipe nvembed-mini --out "$RUN" --matmul "$MATMUL"
echo "training wall time: $(( $(date +%s) - start )) s (this invocation)"
# The shipped weights are f16 (26.6 MB instead of 53 MB); the engine computes in f32.
.build/release/latentlens train --recipe nvembed-mini --out "$RUN" --export-only --export-dtype f16
mkdir -p Models/nvembed-mini
cp "$RUN"/config.json "$RUN"/model.safetensors "$RUN"/tokenizer.model "$RUN"/training_summary.json Models/nvembed-mini/
cp "$RUN"/train.csv "$RUN"/eval.csv Models/nvembed-mini/
scripts/evaluate-default-model.sh
