#!/usr/bin/env bash
# The store under abuse: SIGKILL at random moments while indexing, then resume; concurrent
# readers; search equal to a brute-force reference; Ctrl-C stops cleanly.
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-$(swift build --show-bin-path)/latentlens}
MODEL=${MODEL:-Tests/LensModelTests/Fixtures/tiny-nvembed-f32}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
source scripts/e2e/lib.sh

N=12000
python3 - "$T/corpus.jsonl" "$N" <<'PY'
import json, sys, random
N = int(sys.argv[2])
r = random.Random(1)
words = "latent attention pooling token vector query passage model embed retrieve decoder mask".split()
with open(sys.argv[1], "w") as f:
    for i in range(N):
        f.write(json.dumps({"id": f"d{i}", "title": f"doc {i}", "text": " ".join(r.choice(words) for _ in range(20 + i % 30))}) + "\n")
PY

# Kill the indexer with SIGKILL at random moments; each time the store must stay consistent.
kills=0
partial=""
for attempt in 1 2 3 4 5 6; do
  "$BIN" index --model "$MODEL" --corpus "$T/corpus.jsonl" --store "$T/store" >"$T/out" 2>&1 &
  pid=$!
  sleep "$((RANDOM % 2)).$((RANDOM % 7 + 3))"   # 0.3–1.9 s: well inside a full run even with a release binary (~3 s)
  if kill -KILL $pid 2>/dev/null; then kills=$((kills + 1)); fi
  wait $pid 2>/dev/null
  stored=$(sqlite3 "$T/store/store.sqlite" "SELECT count(DISTINCT text_hash) FROM vectors" 2>/dev/null || echo 0)
  [[ $stored -gt 0 && $stored -lt $N ]] && partial="$partial $stored"
  integrity=$(sqlite3 "$T/store/store.sqlite" "PRAGMA integrity_check" 2>&1)
  [[ $integrity == ok ]] || { no "integrity after SIGKILL $attempt: $integrity"; }
done
check "store consistent after $kills SIGKILLs" "[[ \$(sqlite3 '$T/store/store.sqlite' 'PRAGMA integrity_check') == ok ]]"
before=$(sqlite3 "$T/store/store.sqlite" "SELECT count(DISTINCT text_hash) FROM vectors" 2>/dev/null || echo 0)
"$BIN" index --model "$MODEL" --corpus "$T/corpus.jsonl" --store "$T/store" >"$T/out" 2>&1
check "resume completes" "grep -q '$N documents indexed' $T/out"
embedded=$(sed -n 's/.*; \([0-9]*\) embedded now.*/\1/p' "$T/out")
check "kills landed mid-indexing (documents stored after each such kill:$partial)" "[[ -n '$partial' ]]"
check "nothing already stored was lost between kills (counts never decrease)" "python3 -c 'import sys; v=[int(x) for x in \"$partial\".split()]; sys.exit(0 if v == sorted(v) else 1)'"
check "resume embeds only what was missing ($embedded = $N − $before stored)" "[[ $embedded == $((N - before)) ]]"
"$BIN" index --model "$MODEL" --corpus "$T/corpus.jsonl" --store "$T/store" >"$T/out" 2>&1
check "a third run embeds nothing" "grep -q '$N documents indexed' $T/out"
# The same texts under another file name: every vector is in the store, only matrices are new.
cp "$T/corpus.jsonl" "$T/copy.jsonl"
"$BIN" index --model "$MODEL" --corpus "$T/copy.jsonl" --store "$T/store" >"$T/out" 2>&1
check "a copy of the corpus reuses every stored vector, and its progress says so (no zero rate)" \
  "grep -q '; 0 embedded now' $T/out && grep -q 'every vector already stored  (stored)' $T/out && ! grep -q ' 0 docs/s' $T/out"
# The same file by another spelling of its path (relative, with ./): the store knows it, so
# nothing is read, embedded or rewritten (the explorer opens its corpus by absolute path).
mtime=$(stat -c %.9Y "$T"/store/matrices/*.vec | sort | tail -1)
sleep 1.1
bin_abs=$(realpath "$BIN") model_abs=$(realpath "$MODEL")
(cd "$T" && "$bin_abs" index --model "$model_abs" --corpus ./copy.jsonl --store "$T/store") >"$T/out" 2>&1
check "another spelling of a corpus's path opens it from the store: no indexing phase, matrices untouched" \
  "grep -q 'copy: $N documents indexed' $T/out && ! grep -q 'writing matrices' $T/out && [[ \$(stat -c %.9Y $T/store/matrices/*.vec | sort | tail -1) == '$mtime' ]]"

# Search equals a brute-force reference computed from exported vectors.
"$BIN" export --model "$MODEL" --corpus "$T/corpus.jsonl" --store "$T/store" --format npy --out "$T/vec.npy" >/dev/null 2>&1
"$BIN" embed --model "$MODEL" --raw-instruction "" "attention mask decoder" >"$T/q.jsonl" 2>/dev/null
"$BIN" search --model "$MODEL" --corpus "$T/corpus.jsonl" --store "$T/store" --raw-instruction "" --k 10 --json "attention mask decoder" >"$T/s.json" 2>/dev/null
check "search = brute force over exported vectors, every pooling" "python3 - '$T' <<'PY'
import json, sys, struct
d = sys.argv[1]
def npy(p):
    b = open(p, 'rb').read()
    n = b[8] | b[9] << 8
    h = b[10:10 + n].decode()
    rows, cols = [int(x) for x in h.split('(')[1].split(')')[0].split(',') if x.strip()]
    import array
    a = array.array('f'); a.frombytes(b[10 + n:])
    return [a[i * cols:(i + 1) * cols] for i in range(rows)]
ids = [json.loads(l) for l in open(d + '/vec-ids.jsonl')]
q = json.loads(open(d + '/q.jsonl').read())
s = json.load(open(d + '/s.json'))
for p in ['latent', 'mean', 'eos']:
    m = npy(d + '/vec-' + p + '.npy')
    scores = sorted(((sum(x * y for x, y in zip(row, q[p])), i) for i, row in enumerate(m)), key=lambda t: (-t[0], t[1]))[:10]
    want = [ids[i] for _, i in scores]
    got = [r['id'] for r in s['results'][p]]
    assert got == want, (p, got, want)
PY"

# A query without an instruction gets search's general one; --instruction '' sends none.
"$BIN" search --model "$MODEL" --corpus "$T/corpus.jsonl" --store "$T/store" --k 10 --json "attention mask decoder" >"$T/d.json" 2>/dev/null
"$BIN" search --model "$MODEL" --corpus "$T/corpus.jsonl" --store "$T/store" --k 10 --json \
  --instruction "Retrieve the passage most relevant to the query" "attention mask decoder" >"$T/g.json" 2>/dev/null
"$BIN" search --model "$MODEL" --corpus "$T/corpus.jsonl" --store "$T/store" --k 10 --json --instruction "" "attention mask decoder" >"$T/n.json" 2>/dev/null
check "search: the default instruction is the general one; '' is none" "python3 - '$T' <<'PY'
import json, sys
d, g, n, s = (json.load(open(sys.argv[1] + f)) for f in ('/d.json', '/g.json', '/n.json', '/s.json'))
assert d['instruction'] == 'Instruct: Retrieve the passage most relevant to the query\nQuery: ', d['instruction']
assert d['results'] == g['results'] and d['instruction'] == g['instruction'], 'default != the general instruction'
assert n['instruction'] == '', n['instruction']
assert n['results'] == s['results'], ('--instruction \'\' != --raw-instruction \'\'', n['results']['latent'][:2], s['results']['latent'][:2])
assert d['results'] != s['results'], 'the instruction changed nothing'
PY"

# The text output names each hit as the JSON does (title, id in brackets) and shows its text's start.
"$BIN" search --model "$MODEL" --corpus "$T/corpus.jsonl" --store "$T/store" --k 10 --pooling latent "attention mask decoder" >"$T/d.txt" 2>/dev/null
check "search text output: rank, score, title [id], the passage's start; no overlap line for one pooling" "python3 - '$T' <<'PY'
import json, sys
t = sys.argv[1]
d = json.load(open(t + '/d.json'))
text = {r['id']: r['text'] for r in map(json.loads, open(t + '/corpus.jsonl'))}
lines = open(t + '/d.txt').read().split(chr(10))
start = lines.index('── latent ──') + 1
for k, h in enumerate(d['results']['latent']):
    head, snip = lines[start + 2 * k], lines[start + 2 * k + 1]
    assert head == '%3d  %.4f  %s  [%s]' % (h['rank'], h['score'], h['title'], h['id']), head
    want = ' '.join(text[h['id']].split())
    assert snip.startswith(' ' * 13) and want.startswith(snip.strip().rstrip('…')), (snip, want[:100])
assert not any(l.startswith('overlap@') for l in lines), 'overlap line with one pooling'
PY"

# Two readers at once.
( for i in 1 2 3; do "$BIN" search --model "$MODEL" --corpus "$T/corpus.jsonl" --store "$T/store" --json "token $i" >"$T/r1.$i" 2>&1 || echo fail >>"$T/rfail"; done ) &
( for i in 1 2 3; do "$BIN" search --model "$MODEL" --corpus "$T/corpus.jsonl" --store "$T/store" --json "query $i" >"$T/r2.$i" 2>&1 || echo fail >>"$T/rfail"; done ) &
wait
check "two processes reading at once" "[[ ! -e $T/rfail ]] && grep -q '\"results\"' $T/r1.3 && grep -q '\"results\"' $T/r2.3"

# Ctrl-C (SIGINT) mid-indexing: clean stop, clear message, nothing lost.
python3 -c "
import json
with open('$T/big.jsonl','w') as f:
    for i in range(4000): f.write(json.dumps({'id': f'b{i}', 'text': 'passage number %d about pooling and attention in embedding models' % i}) + '\n')
"
# The bundled model (slower than the tiny fixture) so that the run is still going when interrupted.
BIG_MODEL=Models/nvembed-mini
[[ -f $BIG_MODEL/config.json ]] || BIG_MODEL=$MODEL
"$BIN" index --model "$BIG_MODEL" --corpus "$T/big.jsonl" --store "$T/store" >"$T/out" 2>"$T/err" &
pid=$!
sleep 2
kill -INT $pid
wait $pid; rc=$?
check "Ctrl-C: exit 130 with a resume hint" "[[ $rc == 130 ]] && grep -q 'interrupted: what was embedded is stored' $T/err"
check "Ctrl-C: store consistent" "[[ \$(sqlite3 '$T/store/store.sqlite' 'PRAGMA integrity_check') == ok ]]"

finish
