#!/usr/bin/env bash
# End-to-end checks of the CLI binary: help texts, JSON output, errors as one line on
# stderr with a non-zero exit, malformed input reported as file:line and skipped.
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-$(swift build --show-bin-path)/latentlens}
FIX=Tests/LensModelTests/Fixtures
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export XDG_CONFIG_HOME=$T/config   # the user's own explorer config never reaches the tests
source scripts/e2e/lib.sh

for c in "" explore tokenize embed index search export eval train bench; do
  check "help: latentlens $c --help" "'$BIN' $c --help >$T/help 2>&1 && grep -q USAGE $T/help"
done

"$BIN" embed --model $FIX/tiny-nvembed-f32 --instruction "find things" "hello world" "안녕 👋" >$T/out 2>$T/err
check "embed: two JSON lines" "[[ \$(wc -l <$T/out) == 2 ]]"
check "embed: valid JSON with all poolings" "python3 -c 'import json,sys; [json.loads(l) for l in open(\"$T/out\")]; o=json.loads(open(\"$T/out\").readline()); assert len(o[\"latent\"])==32 and len(o[\"mean\"])==32 and len(o[\"eos\"])==32 and o[\"truncated\"] is False'"

"$BIN" embed --model /nonexistent "x" >$T/out 2>$T/err; rc=$?
check "missing model: exit 1" "[[ $rc == 1 ]]"
check "missing model: one line on stderr" "[[ \$(wc -l <$T/err) == 1 ]] && grep -q '^latentlens: error: .*no such model folder' $T/err"

"$BIN" embed --model $FIX/tiny-mistral-f32 --pooling latent "x" >$T/out 2>$T/err; rc=$?
check "latent pooling on a plain Mistral folder is refused" "[[ $rc == 1 ]] && grep -q 'no latent-attention block' $T/err"

printf '{"text": "first"}\nnot json\n{"id": 7}\n\xff\xfe bad utf8\n{"text": "second", "id": "b"}\n' >$T/in.jsonl
"$BIN" embed --model $FIX/tiny-nvembed-f32 --input $T/in.jsonl >$T/out 2>$T/err; rc=$?
check "malformed JSONL: exit 0 with the valid lines embedded" "[[ $rc == 0 ]] && [[ \$(wc -l <$T/out) == 2 ]]"
check "malformed JSONL: file:line reported" "grep -q 'in.jsonl:2: not a JSON object' $T/err && grep -q 'in.jsonl:3: no string field' $T/err && grep -q 'in.jsonl:4: invalid UTF-8' $T/err"
check "malformed JSONL: id carried" "grep -q '\"id\":\"b\"' $T/out"

printf 'not json at all\n' >$T/bad.jsonl
"$BIN" embed --model $FIX/tiny-nvembed-f32 --input $T/bad.jsonl >$T/out 2>$T/err; rc=$?
check "nothing valid: exit 1" "[[ $rc == 1 ]] && grep -q 'no valid input' $T/err"

printf 'line one\nline two\n' | "$BIN" embed --model $FIX/tiny-nvembed-f32 --pooling mean - >$T/out 2>$T/err
check "stdin lines" "[[ \$(wc -l <$T/out) == 2 ]] && ! grep -q latent $T/out"

"$BIN" embed --model $FIX/tiny-nvembed-f32 --max-length 4 "a rather long input that gets cut" >$T/out 2>$T/err
check "truncation flagged" "grep -q '\"truncated\":true' $T/out"

"$BIN" embed --model $FIX/tiny-nvembed-f32 --instruction "x y z w" --max-length 3 "q" >$T/out 2>$T/err; rc=$?
check "empty pool reported, not NaN" "grep -q 'empty pool' $T/err && ! grep -qi nan $T/out"

"$BIN" embed --model $FIX/tiny-nvembed-f32 --trace "trace me" >$T/out 2>$T/err
check "trace: shares and latent probabilities" "python3 -c 'import json; o=json.loads(open(\"$T/out\").read()); t=o[\"trace\"]; assert abs(sum(t[\"shares\"][\"latent\"])-1)<1e-3; assert len(t[\"latent_probabilities\"])==2 and len(t[\"latent_probabilities\"][0])==len(o[\"tokens\"])'"

"$BIN" tokenize --model $FIX/tiny-nvembed-f32 --json "hi </s> there" >$T/out 2>$T/err
check "tokenize: literal </s> becomes id 2" "python3 -c 'import json; o=json.loads(open(\"$T/out\").read()); assert o[\"ids\"].count(2)==2 and o[\"ids\"][0]==1'"

"$BIN" embed --model $FIX/tiny-nvembed-f32 --max-length 0 "x" >$T/out 2>$T/err; rc=$?
check "bad option value: non-zero exit with a message" "[[ $rc != 0 ]] && grep -q 'max-length' $T/err"

"$BIN" embed --bogus >$T/out 2>$T/err; rc=$?
check "unknown option named as such, even with no texts" "[[ $rc != 0 ]] && grep -q \"Unknown option '--bogus'\" $T/err"
"$BIN" embed >$T/out 2>$T/err; rc=$?
check "no texts: what to give, and the subcommand's usage" "[[ $rc != 0 ]] && grep -q 'give TEXT arguments' $T/err && grep -q 'latentlens embed --help' $T/err"

"$BIN" train --recipe nvembed-mini --out $T/run --start-stage stage1b >$T/out 2>$T/err; rc=$?
check "train: --start-stage without --from is refused" "[[ $rc != 0 ]] && grep -q 'go together' $T/err"
"$BIN" train --recipe nvembed-mini --out $T/run --matmul fp16 >$T/out 2>$T/err; rc=$?
check "train: --matmul other than fp32/bf16 is refused before anything is written" "[[ $rc != 0 ]] && grep -q 'matmul is fp32 or bf16' $T/err && [[ ! -d $T/run ]]"
ONEDNN_MAX_CPU_ISA=AVX2 "$BIN" train --recipe nvembed-mini --out $T/run --matmul bf16 >$T/out 2>$T/err; rc=$?
check "train: --matmul bf16 refused when oneDNN may not use bfloat16 hardware, naming the ISA" "[[ $rc != 0 ]] && grep -q 'needs a CPU with AMX or AVX512_BF16 (oneDNN finds avx2' $T/err && [[ ! -d $T/run ]]"
# AVX-512 without its bfloat16 instructions (on an AVX2-only CPU oneDNN stays at avx2): refused too.
ONEDNN_MAX_CPU_ISA=AVX512_CORE "$BIN" train --recipe nvembed-mini --out $T/run --matmul bf16 >$T/out 2>$T/err; rc=$?
check "train: --matmul bf16 refused on AVX-512 without bf16 instructions" "[[ $rc != 0 ]] && grep -Eq 'needs a CPU with AMX or AVX512_BF16 \(oneDNN finds (avx512_core|avx2) ' $T/err && [[ ! -d $T/run ]]"
# bf16 products need AMX or AVX512_BF16: the CPU's own flags are the oracle (accepted where
# present, so the run goes on to the next check, which refuses --start-stage without --from).
"$BIN" train --recipe nvembed-mini --out $T/run --matmul bf16 --start-stage stage1b >$T/out 2>$T/err; rc=$?
if grep -qwE 'amx_bf16|avx512_bf16' /proc/cpuinfo; then
  check "train: --matmul bf16 accepted on this CPU (AMX or AVX512_BF16)" "[[ $rc != 0 ]] && grep -q 'go together' $T/err"
else
  check "train: --matmul bf16 refused without AMX or AVX512_BF16, naming the ISA found" "[[ $rc != 0 ]] && grep -q 'needs a CPU with AMX or AVX512_BF16 (oneDNN finds' $T/err"
fi
# The shipped stage 2 resets the moments; this recipe's copy of it keeps them.
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); [s.pop("reset_optimizer",None) for s in r["stages"] if s["name"]=="stage2"]; json.dump(r,open(sys.argv[2],"w"))' Models/recipes/nvembed-mini.json $T/keep.json
"$BIN" train --recipe $T/keep.json --out $T/run --start-stage stage2 --from $FIX/tiny-nvembed-f32 >$T/out 2>$T/err; rc=$?
check "train: --start-stage at a stage that keeps AdamW moments is refused, before data loads" "[[ $rc == 1 ]] && grep -q 'must set reset_optimizer' $T/err && [[ ! -d $T/run ]]"
"$BIN" train --recipe nvembed-mini --out $T/run --start-stage stage9 --from $FIX/tiny-nvembed-f32 >$T/out 2>$T/err; rc=$?
check "train: unknown --start-stage lists the stages" "[[ $rc == 1 ]] && grep -q 'stages: stage1, stage1b, stage1c, stage1d, stage2, stage1e, stage2c, stage1f, stage2d' $T/err"

# eval on a small BEIR folder (the bundled model, BM25 baseline, per-query file): the per-query
# nDCG@10 values must average to the reported ones, and ranks must agree with nDCG.
mkdir -p $T/beir/qrels
python3 - $T/beir <<'PY'
import json, sys
d = sys.argv[1]
docs = [("pkg-%d" % i, t) for i, t in enumerate([
    "A fast text editor for programmers with syntax highlighting and macros.",
    "Command-line tool to download files over HTTP, HTTPS and FTP.",
    "Library for reading and writing compressed zip archives.",
    "Terminal multiplexer: several shells in one terminal window, detachable sessions.",
    "Image viewer for the desktop with thumbnails and slideshows.",
    "Network packet analyser that captures and decodes traffic.",
])]
qs = ["text editor for programmers", "download files from the web", "zip archive library",
      "terminal multiplexer", "view pictures", "capture network traffic"]
with open(d + "/corpus.jsonl", "w") as f:
    for i, t in docs: f.write(json.dumps({"_id": i, "title": "", "text": t}) + "\n")
with open(d + "/queries.jsonl", "w") as f:
    for k, q in enumerate(qs): f.write(json.dumps({"_id": "q%d" % k, "text": q}) + "\n")
with open(d + "/qrels/test.tsv", "w") as f:
    f.write("query-id\tcorpus-id\tscore\n")
    for k in range(len(qs)): f.write("q%d\tpkg-%d\t1\n" % (k, k))
PY
"$BIN" eval --corpus $T/beir --instruction "Given a one-line summary of a software package, retrieve the package's full description" --baseline bm25 --json --per-query $T/pq.jsonl >$T/out 2>$T/err; rc=$?
check "eval --json --per-query: the per-query file agrees with the averages" "[[ $rc == 0 ]] && python3 - $T/out $T/pq.jsonl <<'PY'
import json, math, sys
agg = json.load(open(sys.argv[1]))
rows = [json.loads(l) for l in open(sys.argv[2])]
assert len(rows) == 6 and agg['queries'] == 6, (len(rows), agg['queries'])
for run in ('latent', 'mean', 'eos', 'bm25'):
    mean = sum(r['runs'][run]['ndcg@10'] for r in rows) / len(rows)
    assert abs(mean - agg['results'][run]['ndcg@10']) < 1e-9, (run, mean)
    for r in rows:
        k = r['runs'][run]['rank']
        want = 1 / math.log2(k + 1) if k is not None and k <= 10 else 0
        assert abs(r['runs'][run]['ndcg@10'] - want) < 1e-9, (run, r)
        assert len(r['runs'][run]['top']) == 3 or (run == 'bm25' and len(r['runs'][run]['top']) <= 3)
for p in ('latent', 'mean', 'eos'):
    v = agg['versus_bm25'][p]
    assert v['better'] + v['worse'] + v['tied'] == 6, v
    better = sum(r['runs'][p]['ndcg@10'] > r['runs']['bm25']['ndcg@10'] for r in rows)
    assert better == v['better'], (p, v, better)
PY"
# The query instruction eval uses: the general one search uses when none is given, none for
# --instruction '', and the pairs mode reports the one both texts got.
"$BIN" eval --corpus $T/beir --pooling latent --json >$T/out 2>$T/err; rc=$?
"$BIN" eval --corpus $T/beir --pooling latent --json --instruction '' >$T/out2 2>>$T/err; rc2=$?
check "eval: queries get the general instruction by default, none with --instruction ''" "[[ $rc == 0 && $rc2 == 0 ]] && python3 - $T/out $T/out2 <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
assert a['instruction'] == 'Instruct: Retrieve the passage most relevant to the query\\nQuery: ', a['instruction']
assert b['instruction'] == '', b['instruction']
PY"
# --split reads qrels/SPLIT.tsv; a lone relevant document's grade cancels out of nDCG (gain over
# ideal gain), so the same pairs graded 3 score exactly as graded 1. Graded arithmetic itself is
# checked against pytrec_eval in MetricsTests. A split the folder lacks names those it has.
sed 's/\t1$/\t3/' $T/beir/qrels/test.tsv >$T/beir/qrels/graded.tsv
"$BIN" eval --corpus $T/beir --pooling latent --baseline bm25 --json --split graded --per-query $T/pqg.jsonl >$T/outg 2>$T/err; rc=$?
check "eval --split: reads qrels/SPLIT.tsv; one relevant document graded 3 scores as graded 1; per-query grades" "[[ $rc == 0 ]] && python3 - $T/out $T/outg $T/pqg.jsonl <<'PY'
import json, sys
a, g = (json.load(open(f)) for f in sys.argv[1:3])
assert g['split'] == 'graded' and a['split'] == 'test', (a['split'], g['split'])
assert g['results']['latent'] == a['results']['latent'] and g['results']['bm25']['ndcg@10'] > 0, (a['results'], g['results'])
rows = [json.loads(l) for l in open(sys.argv[3])]
assert len(rows) == 6 and all(list(r['grades'].values()) == [3] for r in rows), rows[0]
PY"
"$BIN" eval --corpus $T/beir --split train >$T/out2 2>$T/err; rc=$?
check "eval --split: a missing split is an error naming the splits the folder has" "[[ $rc == 1 ]] && grep -qF 'qrels/train.tsv' $T/err && grep -qF 'qrels/graded.tsv (--split graded), qrels/test.tsv (--split test)' $T/err"
printf 'a text editor\tan editor for text\t1\nzip archives\tthe weather today\t0\nterminal window\tconsole emulator\t1\n' >$T/pairs.tsv
"$BIN" eval --pairs $T/pairs.tsv --pooling latent --instruction 'Retrieve semantically similar text' >$T/out 2>$T/err; rc=$?
check "eval --pairs: reports the instruction both texts got" "[[ $rc == 0 ]] && grep -qF 'instruction (both texts): \"Instruct: Retrieve semantically similar text⏎Query: \"' $T/out"
# The paired-bootstrap intervals against an independent Python re-implementation, on a set big
# enough for the resampling seed to matter: 150 sampler documents, each queried by its title.
mkdir -p $T/beir150/qrels
python3 - $T/beir150 SampleCorpora/sampler.jsonl <<'PY'
import json, sys
d, rows = sys.argv[1], [json.loads(l) for l in open(sys.argv[2])][::20]
with open(d + "/corpus.jsonl", "w") as f:
    for r in rows: f.write(json.dumps({"_id": r["id"], "title": "", "text": r["text"]}) + "\n")
with open(d + "/queries.jsonl", "w") as f:
    for k, r in enumerate(rows): f.write(json.dumps({"_id": "q%03d" % k, "text": r["title"]}) + "\n")
with open(d + "/qrels/test.tsv", "w") as f:
    f.write("query-id\tcorpus-id\tscore\n")
    for k, r in enumerate(rows): f.write("q%03d\t%s\t1\n" % (k, r["id"]))
PY
"$BIN" eval --corpus $T/beir150 --baseline bm25 --json --per-query $T/pq150.jsonl >$T/out 2>$T/err; rc=$?
check "eval: every bootstrap interval equals scripts/e2e/bootstrap_check.py's (150 queries, 6 comparisons)" "[[ $rc == 0 ]] && python3 scripts/e2e/bootstrap_check.py $T/out $T/pq150.jsonl | grep -q '6 intervals over 150 queries match'"
python3 scripts/compare_per_query.py $T/pq150.jsonl $T/pq150.jsonl latent >$T/out 2>&1; rc=$?
check "compare_per_query.py: a file against itself ties on every query, interval 0 to 0" "[[ $rc == 0 ]] && grep -Eq '^latent .* 0 +0 +150 +\+0\.0000 +\+0\.0000 to \+0\.0000' $T/out"
python3 scripts/compare_per_query.py $T/pq150.jsonl $T/pq.jsonl >$T/out 2>&1; rc=$?
check "compare_per_query.py: files from different sets are refused" "[[ $rc != 0 ]] && grep -q 'cover different queries' $T/out"
python3 - $T/pq150.jsonl $T/pqB.jsonl $T/beir150 <<'PY'   # B: latent's nDCG@10 replaced by BM25's; two groups files
import json, sys
with open(sys.argv[2], "w") as f:
    for l in open(sys.argv[1]):
        r = json.loads(l); r["runs"]["latent"] = r["runs"]["bm25"]; f.write(json.dumps(r) + "\n")
ids = [json.loads(l)["_id"] for l in open(sys.argv[3] + "/corpus.jsonl")]
open(sys.argv[3] + "/single.tsv", "w").write("corpus-id\tgroup\n" + "".join(f"{d}\t{d}\n" for d in ids))
open(sys.argv[3] + "/one.tsv", "w").write("corpus-id\tgroup\n" + "".join(f"{d}\tall\n" for d in ids))
PY
python3 scripts/compare_per_query.py $T/pq150.jsonl $T/pqB.jsonl latent --groups $T/beir150/single.tsv >$T/out 2>&1; rc=$?
check "compare_per_query.py --groups: one query per group gives exactly the query-level interval" "[[ $rc == 0 ]] && grep -q '150 queries in 150 groups' $T/out && python3 -c 'import re,sys; f=re.findall(r\"[+-]\d\.\d{4} to [+-]\d\.\d{4}\", open(sys.argv[1]).read()); sys.exit(not (len(f) == 2 and f[0] == f[1] and f[0] != \"+0.0000 to +0.0000\"))' $T/out"
python3 scripts/compare_per_query.py $T/pq150.jsonl $T/pqB.jsonl latent --groups $T/beir150/one.tsv >$T/out 2>&1; rc=$?
check "compare_per_query.py --groups: a single group collapses the interval to the mean" "[[ $rc == 0 ]] && python3 -c 'import sys; p=[l for l in open(sys.argv[1]).read().splitlines() if l.startswith(\"latent \")][0].split(); sys.exit(not (p[6] == p[-3] == p[-1]))' $T/out"
check "compare_per_query.py --groups: in a single group every wrong top hit is a sibling (A: latent, B: BM25; a query BM25 finds nothing for has no top hit)" "python3 -c 'import json,sys; r=[json.loads(l)[\"runs\"] for l in open(sys.argv[1])]; n=lambda k: sum(x[k][\"rank\"]!=1 and len(x[k][\"top\"])>0 for x in r); a, b = n(\"latent\"), n(\"bm25\"); sys.exit(not (a != b and open(sys.argv[2]).read().splitlines()[-1].split() == [\"latent\", \"A\", str(a), \"B\", str(b)]))' $T/pq150.jsonl $T/out"
python3 scripts/compare_per_query.py $T/pq150.jsonl $T/pqB.jsonl latent --groups $T/beir150/single.tsv >$T/out 2>&1
check "compare_per_query.py --groups: with every document its own group no top hit is a sibling" "[[ \$(tail -1 $T/out | tr -s ' ') == 'latent A 0 B 0' ]]"
printf 'corpus-id\tgroup\nnot-a-doc\n' >$T/bad.tsv
python3 scripts/compare_per_query.py $T/pq150.jsonl $T/pqB.jsonl latent --groups $T/bad.tsv >$T/out 2>&1; rc=$?
check "compare_per_query.py --groups: a malformed groups line is reported with file:line" "[[ $rc != 0 ]] && grep -q 'bad.tsv:2: expected corpus-id<TAB>group' $T/out"
# train_sample.py: train-split twins of the held-out sets (scripts/evaluate-train-gap.sh), on
# synthetic sources: whole train-split entities only, as many documents as the dev set.
python3 - $T/ts <<'PY'
import json, os, sys
d = sys.argv[1]
def jl(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").write("".join(json.dumps(r) + "\n" for r in rows))
def rec(src, ent, i, split, **kw):
    return dict(source=src, entity=ent, id=f"{src}:{ent}-{i}", title=f"t {ent} {i}", text=f"text of {ent} {i}", split=split, **kw)
rows = {"debian": [], "wordnet": [], "foldoc": [], "vera": [], "pydocs": []}
for e in range(12):
    split = ["train", "train", "dev", "test"][e % 4]
    for i in range(3):   # families of three
        rows["debian"].append(rec("debian", f"pkg{e}", i, split, summary=f"summary {e} {i}", label=""))
        rows["wordnet"].append(rec("wordnet", f"syn{e}", i, split))
        rows["foldoc"].append(rec("foldoc", f"term{e}", i, split))
        rows["pydocs"].append(rec("pydocs", f"page{e}", i, split, heading=f"h {e} {i}", kind="section" if i < 2 else "api"))
for name, rs in rows.items():
    jl(f"{d}/sources/{name}.jsonl", rs)
for s in ["debian-packages", "wordnet-definitions", "foldoc-terms", "pydocs-sections", "pydocs-api"]:
    jl(f"{d}/eval/dev/{s}/corpus.jsonl", [{"_id": str(i), "title": "", "text": "x"} for i in range(4)])
PY
python3 scripts/train_sample.py --data $T/ts >$T/out 2>&1; rc=$?
check "train_sample.py: whole train-split families, dev's size, queries and qrels on the sampled documents" "[[ $rc == 0 ]] && python3 - $T/ts <<'PY'
import json, sys
d = sys.argv[1]
src = {json.loads(l)['id']: json.loads(l) for n in ['debian', 'wordnet', 'foldoc', 'pydocs'] for l in open(f'{d}/sources/{n}.jsonl')}
for s in ['debian-packages', 'wordnet-definitions', 'foldoc-terms', 'pydocs-sections', 'pydocs-api']:
    f = f'{d}/eval/train-sample/{s}'
    docs = [json.loads(l)['_id'] for l in open(f + '/corpus.jsonl')]
    assert all(src[i]['split'] == 'train' for i in docs), s
    ents = {src[i]['entity'] for i in docs}
    per = 2 if s == 'pydocs-sections' else 1 if s == 'pydocs-api' else 3
    assert len(docs) == len(ents) * per >= 4 and len(docs) - per < 4, (s, len(docs))
    qrels = [l.split('\\t') for l in open(f + '/qrels/test.tsv').read().splitlines()[1:]]
    qs = {json.loads(l)['_id'] for l in open(f + '/queries.jsonl')}
    assert len(qrels) == len(docs) and {q for q, _, _ in qrels} == qs and {x for _, x, _ in qrels} == set(docs), s
PY"
cat >$T/timing.csv <<'CSV'
global_step,stage,step,lr,loss_latent,loss_mean,loss_eos,acc_latent,acc_mean,acc_eos,grad_norm,tokens,tokens_per_s,elapsed_s
1,a,1,0,0,0,0,0,0,0,0,999,1,50.0
2,a,2,0,0,0,0,0,0,0,0,1000,1,51.0
3,a,3,0,0,0,0,0,0,0,0,3000,1,52.0
4,b,1,0,0,0,0,0,0,0,0,777,1,90.0
5,b,2,0,0,0,0,0,0,0,0,500,1,92.0
CSV
check "estimate_regeneration.py: each stage's rate is its counted tokens over their seconds, first steps left out" "python3 - $T/timing.csv <<'PY'
import sys
sys.path.insert(0, 'scripts')
from estimate_regeneration import stage_rates, stage_tokens
r = stage_rates(sys.argv[1], skip=1)
assert abs(r['a'][0] - 2000.0) < 1e-9 and r['a'][2] == 2, r   # (1000 + 3000) tokens / (1 + 1) s
assert abs(r['b'][0] - 250.0) < 1e-9 and r['b'][2] == 1, r    # 500 tokens / 2 s; its slow first step left out
assert stage_tokens(sys.argv[1]) == {'a': (4999, 3), 'b': (1277, 2)}
PY"
python3 scripts/train_sample.py --data $T/nowhere >$T/out 2>&1; rc=$?
check "train_sample.py: missing sources are named, exit non-zero" "[[ $rc != 0 ]] && grep -q 'sources/debian.jsonl missing: run python3 scripts/build_data.py first' $T/out"
check "build_data.py: fresh Debian pairs keep to the train split and never name or repeat a held-out record" "python3 - <<'PY'
import sys
sys.path.insert(0, 'scripts')
from build_data import fresh_debian_records, split_of
ents = {s: next(f'src{i}' for i in range(1000) if split_of('debian', f'src{i}') == s) for s in ['train', 'dev']}
def r(pkg, ent, summary, text):
    return dict(source='debian', entity=ent, id=f'debian:{pkg}', title=pkg, summary=summary, text=text, label='')
book = [dict(r('a', ents['train'], 'sum a', 'text a'), split='train'), dict(r('h', ents['dev'], 'sum h', 'text h'), split='dev')]
new = [r('a', ents['train'], 'sum a', 'text a'),           # already held: dropped
       r('a', ents['train'], 'sum a2', 'text a2'),         # changed description: kept
       r('h', ents['train'], 'sum x', 'text x'),           # names a held-out package: dropped
       r('n', ents['train'], 'sum n', 'text h'),           # repeats a held-out description: dropped
       r('m', ents['dev'], 'sum m', 'text m'),             # held-out split: dropped
       r('k', ents['train'], 'sum k', 'text k')]           # new package: kept
out = fresh_debian_records(book, [('trixie', new), ('bullseye', [r('k', ents['train'], 'sum k', 'text k')])])
assert [(o['id'], o['suite'], o['split']) for o in out] == [('debian:a@trixie', 'trixie', 'train'), ('debian:k@trixie', 'trixie', 'train')], out
PY"
(source scripts/eval-tasks.sh; for k in "${!TASK[@]}"; do grep -qF "\"${TASK[$k]}\"" Sources/LensTraining/TrainingData.swift || echo "$k"; done) >$T/out
check "scripts/eval-tasks.sh: every evaluation instruction is one the trainer uses" "[[ ! -s $T/out ]]"
python3 scripts/ablation_table.py >$T/abl.md
check "docs/ABLATION.md carries exactly the tables scripts/ablation_table.py prints from the results files" "python3 -c 'import sys; sys.exit(open(sys.argv[1]).read().strip() not in open(sys.argv[2]).read())' $T/abl.md docs/ABLATION.md"
"$BIN" eval --corpus $T/beir --per-query $T/no/such/dir/pq.jsonl >$T/out 2>$T/err; rc=$?
check "eval --per-query into a missing folder: refused before embedding" "[[ $rc == 1 ]] && grep -q 'cannot write $T/no/such/dir/pq.jsonl: $T/no/such/dir is not a writable folder' $T/err && [[ ! -s $T/out ]]"
"$BIN" eval --pairs $T/beir/qrels/test.tsv --per-query $T/x.jsonl >$T/out 2>$T/err; rc=$?
check "eval --per-query without --corpus is refused" "[[ $rc != 0 ]] && grep -q 'per-query needs --corpus' $T/err"

dd if=/dev/urandom of=$T/junk bs=1k count=4 2>/dev/null
mkdir -p $T/corrupt && cp $FIX/tiny-nvembed-bf16/{config.json,tokenizer.model} $T/corrupt/ && head -c 50000 $FIX/tiny-nvembed-bf16/model.safetensors >$T/corrupt/model.safetensors
"$BIN" embed --model $T/corrupt "x" >$T/out 2>$T/err; rc=$?
check "truncated weights: exit 1, names file, tensor and bytes" "[[ $rc == 1 ]] && grep -q 'model.safetensors: tensor .*bytes .* lie outside the file' $T/err"
"$BIN" search --model $FIX/tiny-nvembed-f32 --corpus $T/nowhere.jsonl "  " >$T/out 2>&1; rc=$?
check "search: an empty query is refused before the corpus is opened" "[[ $rc != 0 ]] && grep -q 'the query is empty' $T/out && ! grep -q nowhere $T/out"
"$BIN" explore --model $FIX/tiny-nvembed-f32 --store $T/theme-store --corpus Tests/Fixtures/explorer-corpus.jsonl --theme nosuch </dev/null >$T/out 2>&1; rc=$?
check "explore: an unknown --theme is refused before any corpus is embedded, naming the themes there are" "[[ $rc == 1 ]] && grep -q 'nosuch: no such theme or file; themes: 16color, dark, light, monochrome' $T/out && [[ ! -e $T/theme-store ]]"

"$BIN" explore --model $FIX/tiny-nvembed-f32 --store $T/tty-store --corpus Tests/Fixtures/explorer-corpus.jsonl </dev/null >$T/out 2>&1; rc=$?
check "explore without a terminal: refused before any corpus is embedded, naming the scriptable twins" "[[ $rc == 1 ]] && grep -q 'the explorer needs a terminal' $T/out && [[ ! -e $T/tty-store ]]"

# bench prints every figure it promises (values not judged: a test never fails on wall-clock time).
"$BIN" bench --model $FIX/tiny-nvembed-f32 --shapes 2x8 --queries 5 >$T/bench 2>&1; rc=$?
check "bench: sgemm peak, batch throughput as % of peak, query percentiles, peak RSS, tokenizer rates" "[[ $rc == 0 ]] && grep -qE '^sgemm .*peak [0-9.]+' $T/bench && grep -qE '^  2x8 +[0-9]+ +[0-9.]+ +[0-9.]+%' $T/bench && grep -qE 'p50 [0-9.]+ ms +p95 [0-9.]+ ms +p99 [0-9.]+ ms' $T/bench && grep -qE '^peak RSS +[0-9.]+ MiB' $T/bench && grep -qE '^tokenizer +[0-9.]+ MB/s, [0-9]+ tokens/s' $T/bench && grep -qE 'prepared for 512 tokens: [0-9.]+ ms' $T/bench"

# The map view's twin: export --format map and search --json --map, checked against numpy.
MC=Tests/Fixtures/explorer-corpus.jsonl
"$BIN" export --model $FIX/tiny-nvembed-f32 --store $T/map-store --corpus $MC --format map --out $T/map.jsonl >/dev/null 2>&1
"$BIN" export --model $FIX/tiny-nvembed-f32 --store $T/map-store --corpus $MC --out $T/vec.npy >/dev/null 2>&1
"$BIN" search --model $FIX/tiny-nvembed-f32 --store $T/map-store --corpus $MC --json --map --k 5 "package manager" >$T/map-search.json 2>/dev/null
"$BIN" embed --model $FIX/tiny-nvembed-f32 --instruction "Retrieve the passage most relevant to the query" "package manager" >$T/map-query.jsonl 2>/dev/null
check "map twin: positions are the vectors' top-2 principal components; query and hits placed by the same map" "python3 scripts/e2e/map_check.py $T/map.jsonl $T/vec $T/map-search.json $T/map-query.jsonl"
check "embed --trace --match: each token's part of the score sums to the score search gives the document" "python3 scripts/e2e/match_check.py '$BIN' $FIX/tiny-nvembed-f32 $MC $T/map-search.json 'package manager'"
"$BIN" search --model $FIX/tiny-nvembed-f32 --store $T/map-store --corpus $MC --json --explain --k 3 "package manager" >$T/explain.json 2>/dev/null
check "search --explain: each hit's heaviest pieces, the parts embed --trace --match gives summed per piece" "python3 scripts/e2e/match_check.py '$BIN' $FIX/tiny-nvembed-f32 $MC $T/explain.json 'package manager' | grep -q 'heaviest pieces'"
"$BIN" search --model $FIX/tiny-nvembed-f32 --store $T/map-store --corpus $MC --explain --k 2 "package manager" >$T/out 2>/dev/null
check "search --explain (text): a 'made of:' line under each hit" "[[ \$(grep -c '^ *made of: ' $T/out) == 6 ]]"
"$BIN" embed --model $FIX/tiny-nvembed-f32 --match "x" "y" >$T/out 2>&1; rc=$?
check "embed --match without --trace is refused" "[[ $rc != 0 ]] && grep -q 'needs --trace' $T/out"
"$BIN" search --model $FIX/tiny-nvembed-f32 --store $T/map-store --corpus $MC --map "x" >$T/out 2>&1; rc=$?
check "search --map without --json is refused" "[[ $rc != 0 ]] && grep -q 'needs --json' $T/out"

"$BIN" export --model $FIX/tiny-nvembed-f32 --store $T/export-store --corpus Tests/Fixtures/explorer-corpus.jsonl --out $T/nowhere/v.npy >$T/out 2>&1; rc=$?
check "export into a missing folder: refused before any corpus is embedded" "[[ $rc == 1 ]] && grep -q 'cannot write $T/nowhere/v.npy: $T/nowhere is not a writable folder' $T/out && [[ ! -e $T/export-store ]]"
# A full disk: a 16 KiB tmpfs where root may mount one (CI's container), else said and left out.
mkdir -p $T/full
if mount -t tmpfs -o size=16k tmpfs $T/full 2>/dev/null; then
  for fmt in jsonl npy; do
    "$BIN" export --model $FIX/tiny-nvembed-f32 --store $T/export-store --corpus Tests/Fixtures/explorer-corpus.jsonl --format $fmt --out $T/full/v.$fmt >$T/out 2>&1; rc=$?
    check "export --format $fmt onto a full disk: the file and the system's reason, no partial file left" "[[ $rc == 1 ]] && grep -q 'cannot write $T/full/v.*: No space left on device' $T/out && [[ -z \$(ls -A $T/full) ]]"
  done
  umount $T/full
else
  echo "note - export onto a full disk: not checked (no tmpfs mount without root)"
fi

finish
