#!/usr/bin/env bash
# End-to-end tests of the explorer: drive the real binary in tmux, send keys, read the screen.
# MODEL (default: the bundled Models/nvembed-mini, else a tiny fixture) and a small corpus.
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-$(swift build --show-bin-path)/latentlens}
MODEL=${MODEL:-Models/nvembed-mini}
[[ -f $MODEL/config.json ]] || MODEL=Tests/LensModelTests/Fixtures/tiny-nvembed-f32
CORPUS=Tests/Fixtures/explorer-corpus.jsonl
STORE=$(mktemp -d)
CONFIG=$STORE/config-home   # XDG_CONFIG_HOME: empty unless a check writes a config
STATE=$STORE/state-home     # XDG_STATE_HOME: the query history
SOCK=latentlens-e2e-$$
S=x
tm() { command tmux -L "$SOCK" "$@"; }
cleanup() { tm kill-server 2>/dev/null; rm -rf "$STORE"; }
trap cleanup EXIT
pass=0 fail=0
ok() { echo "ok   - $1"; pass=$((pass + 1)); }
no() { echo "FAIL - $1"; fail=$((fail + 1)); echo "----- screen -----"; tm capture-pane -t $S -p | sed 's/^/| /'; echo "------------------"; }
screen() { tm capture-pane -t $S -p; }
# ESC followed at once by a key reads as Alt+key (as in any terminal): pause after it.
esc() { tm send-keys -t $S Escape; sleep 0.3; }
wait_for() {  # wait_for REGEX [seconds]
  local i
  for ((i = 0; i < ${2:-30} * 10; i++)); do screen | grep -qE "$1" && return 0; sleep 0.1; done
  return 1
}
check() { if wait_for "$2" "${3:-15}"; then ok "$1"; else no "$1"; fi; }
start() {  # start COLS ROWS [ENV...]
  local cols=$1 rows=$2; shift 2
  tm kill-server 2>/dev/null && sleep 0.3   # let the old server go before a new one takes the socket
  tm -u new-session -d -s $S -x "$cols" -y "$rows" -e LANG=C.UTF-8 -e TERM=tmux-256color -e LATENTLENS_STORE="$STORE" -e XDG_CONFIG_HOME="$CONFIG" -e XDG_STATE_HOME="$STATE" "$@" \
    "$BIN --model $MODEL --corpus $CORPUS --no-mouse; echo \"[exit=\$?]\"; sleep 600"
}

# Index once outside the TUI (the explorer reuses the store).
"$BIN" index --model "$MODEL" --corpus "$CORPUS" --store "$STORE" >/dev/null 2>&1

start 200 60
check "opens on the model and corpus" "LatentLens ·.*corpus explorer-corpus \(62 docs\)"
check "opens on the general instruction search and eval default to" "Instruction \[general \(trained\)"
tm send-keys -t $S "package manager for python"
tm send-keys -t $S Enter
check "neighbours under all three headings" "LATENT latent attention.*MEAN mean pool.*EOS EOS state"
# The explorer's first latent hit is `latentlens search`'s (same default instruction, same store).
top=$("$BIN" search --model "$MODEL" --corpus "$CORPUS" --store "$STORE" --json --k 1 "package manager for python" 2>/dev/null | python3 -c '
import json, sys
h = json.load(sys.stdin)["results"]["latent"][0]
print(" 1 %.3f .*" % h["score"] + "".join("[" + c + "]" if c in ".[]()*+?{}|^$\\" else c for c in h["title"][:12]))')
check "the first latent hit and its score are search's" "${top:-no result from search}"
check "ranked results with scores" " 1 0\.[0-9]{3} "
check "token strip shows the query pieces" "▁package"
check "overlap line" "overlap@10: latent∩mean [0-9]+"
check "instruction tokens are masked in the strip" "▁In +struct"
if screen | grep -A1 "▁In" | tail -1 | grep -q "·"; then ok "masked tokens carry · instead of a share"; else no "masked tokens carry · instead of a share"; fi
tm send-keys -t $S Tab
tm send-keys -t $S Down
check "instruction preset changes" "Instruction \[debian \(trained\)"
esc
tm send-keys -t $S h
check "heatmap view" "tokens × top [0-9]+ of [0-9]+ latents"
tm send-keys -t $S n
check "heatmap: one head" "head 1/"
esc
tm send-keys -t $S m
check "map view with braille and the query" "◆"
esc
tm send-keys -t $S d
check "document view" "j/k scroll · w weights · Esc back"
check "document view: each token's part of the score with the query" "part of its score with the query \(sums: latent"
tm send-keys -t $S w
check "document view: w shows the shares of its own vector" "share of the document's own vector"
esc
tm send-keys -t $S c
check "mask toggle recomputes and warns" "mask causal.*|trained bidirectional"
check "header shows causal" "mask causal"
tm send-keys -t $S ?
check "help overlay" "Keys \(Esc closes this\)"
tm resize-window -t $S -x 80 -y 24
check "help at 80×24: wrapped to the width, and says it scrolls" "lines 1–21 of [0-9]+ · j/k scroll · Esc closes"
tm send-keys -t $S G
check "help at 80×24: G shows its last line" "same, new: not in their top 100\)\."
esc
tm resize-window -t $S -x 60 -y 20
check "60×20: stacked panes" "^ LATENT"
tm resize-window -t $S -x 30 -y 10
check "below minimum: clear message" "Terminal too small"
tm resize-window -t $S -x 200 -y 60
check "200×60: side by side again" "LATENT latent attention.*MEAN mean pool"
tm send-keys -t $S /
tm send-keys -t $S "pip"
check "/ finds in the lists: matches counted per pooling" "/pip: [0-9]+ latent · [0-9]+ mean · [0-9]+ eos · n/N"
check "/ finds in the lists: the pane counts its matches" "[0-9]+/10 match"
tm send-keys -t $S Enter
tm send-keys -t $S n
esc
tm send-keys -t $S C-u
tm send-keys -t $S "한국어 문서"
tm send-keys -t $S Enter
check "Korean input in the query field" "Query +한국어 문서"
check "Korean document listed" "한국어 문서"
esc
tm send-keys -t $S ":export $STORE/shown.json" Enter
check ":export writes the neighbours on screen" "exported to $STORE/shown.json"
if python3 -c "import json, sys; o = json.load(open('$STORE/shown.json')); assert o['query'] == '한국어 문서' and o['results']['latent']" 2>/dev/null; then
  ok ":export: the file holds the query and its neighbours"; else no ":export: the file holds the query and its neighbours"; fi
# The heatmap goes into the file too, equal to embed --trace's for the same query and instruction.
# (with the mask and instruction prefix the file records: causal and the debian preset here)
mask=$(python3 -c "import json; print(json.load(open('$STORE/shown.json'))['mask'])" 2>/dev/null)
prefix=$(python3 -c "import json; print(json.load(open('$STORE/shown.json'))['instruction'], end='')" 2>/dev/null)
"$BIN" embed --model "$MODEL" --trace --mask "${mask:-bidirectional}" --raw-instruction "$prefix" "한국어 문서" >$STORE/trace.jsonl 2>/dev/null
if python3 -c "
import json
o = json.load(open('$STORE/shown.json')); t = json.loads(open('$STORE/trace.jsonl').readline())['trace']
a, b = o['latent_probabilities'], t['latent_probabilities']
assert len(a) == len(b) and len(a[0]) == len(o['tokens']) and all(abs(sum(r) - 1) < 1e-3 for h in a for r in h)
assert max(abs(x - y) for ha, hb in zip(a, b) for ra, rb in zip(ha, hb) for x, y in zip(ra, rb)) < 1e-4
" 2>/dev/null; then ok ":export: latent-attention probabilities [heads][tokens][latents], equal to embed --trace's"
else no ":export: latent-attention probabilities [heads][tokens][latents], equal to embed --trace's"; fi
tm send-keys -t $S ":export $STORE/nowhere/shown.json" Enter
check ":export into a missing folder: the path and the system's reason" "export failed: cannot write $STORE/nowhere/shown.json: No such file or directory"
tm send-keys -t $S q
check "q quits with status 0" "\[exit=0\]"
if tm capture-pane -t $S -p | grep -q "LATENT latent attention"; then no "terminal restored after quit"; else ok "terminal restored after quit"; fi

# The config file: k, hints and a key remap apply; a mistake is named by file and line.
mkdir -p "$CONFIG/latentlens"
printf '# test config\nk = 3\nhints = off\nmap x = h\n' >"$CONFIG/latentlens/config"
start 120 40
check "explorer starts again on the same store" "LatentLens"
if python3 -c "import json; h = [json.loads(l) for l in open('$STATE/latentlens/history')]; assert h[-1] == '한국어 문서' and 'package manager for python' in h" 2>/dev/null; then
  ok "history: the session's queries saved at quit, one JSON string a line"; else no "history: the session's queries saved at quit, one JSON string a line"; fi
tm send-keys -t $S Up
check "history: Up in a new session brings back the last query" "Query +한국어 문서"
tm send-keys -t $S C-u
tm send-keys -t $S "compiler" Enter
check "config: k = 3 gives three hits a pane" "LATENT latent attention +3 hits"
if screen | grep -q "Enter search · Tab focus"; then no "config: hints = off hides the hint bar"; else ok "config: hints = off hides the hint bar"; fi
esc
tm send-keys -t $S x
check "config: map x = h opens the heatmap with x" "tokens × top [0-9]+ of [0-9]+ latents"
tm send-keys -t $S C-c
printf 'k = 3\nmouse = sometimes\n' >"$CONFIG/latentlens/config"
start 120 40
check "config: a bad value is named by file and line, before the explorer opens" "config:2: mouse is on or off.*|\[exit=1\]"
if screen | grep -q "config:2: mouse is on or off" && screen | grep -q "\[exit=1\]"; then ok "config: exit 1 with the file:line message"; else no "config: exit 1 with the file:line message"; fi
rm -r "$CONFIG/latentlens"

start 120 40 -e NO_COLOR=1
check "NO_COLOR: starts" "LatentLens"
tm send-keys -t $S "compiler" Enter
check "NO_COLOR: results" "LATENT"
if tm capture-pane -t $S -p -e | grep -qE $'\e\\[(3[0-7]|9[0-7]|38;5;[0-9]+)m'; then no "NO_COLOR: no colour codes"; else ok "NO_COLOR: no colour codes"; fi
tm send-keys -t $S C-c
check "Ctrl-C quits" "\[exit=0\]"

start 120 40
check "colour theme: starts" "LatentLens"
if tm capture-pane -t $S -p -e | grep -qE $'\e\\[(38;5;[0-9]+|3[0-7])m'; then ok "colours used by default"; else no "colours used by default"; fi
PID=$(tm list-panes -t $S -F '#{pane_pid}')
pkill -TERM -P "$PID" -f "latentlens --model" || true
check "SIGTERM: exits and restores" "\[exit=0\]"

# Keys typed while a new corpus indexes (before the TUI starts) are kept for the query box but
# not echoed into the progress line, and the shell gets its echo back after the explorer quits.
BIG=$STORE/typeahead.jsonl
head -n 1500 SampleCorpora/sampler.jsonl >"$BIG"
tm kill-server 2>/dev/null && sleep 0.3
tm -u new-session -d -s $S -x 140 -y 30 -e LANG=C.UTF-8 -e TERM=tmux-256color \
  "$BIN --model $MODEL --corpus $BIG --store $STORE/typeahead --no-mouse; stty -a | grep -oE '(^| )-?echo( |$)' | tr -d ' ' | sed 's/^/[tty=/; s/$/]/'; sleep 600"
if wait_for "^indexing .*embedding" 30; then
  tm send-keys -t $S "zebra codec"
  sleep 0.5
  if screen | grep -q "LatentLens ·"; then
    no "type-ahead: keys sent while indexing (indexing ended first; the corpus is too small for this host)"
  elif screen | grep "^indexing" | grep -q "zebra"; then
    no "type-ahead: typed keys not echoed into the progress line"
  else
    ok "type-ahead: typed keys not echoed into the progress line"
  fi
  check "type-ahead: the typed query is in the query box" "Query +zebra codec" 60
  tm send-keys -t $S C-c
  check "type-ahead: echo back on after quitting" "\[tty=echo\]"
else
  no "type-ahead: indexing progress shown"
fi

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
