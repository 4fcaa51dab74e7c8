# Sourced by scripts/evaluate-*.sh and scripts/run-ablation.sh from the repository root, after
# their usage check: puts Swift on PATH, sets BIN to the release binary (built or brought up
# to date), and defines each held-out retrieval set's query instruction (TASK: the task string
# the trainer uses for its source, Sources/LensTraining/TrainingData.swift), the checks the
# scripts share and the writer of their JSON results.
export PATH="/opt/swift/usr/bin:$PATH"
BIN=.build/release/latentlens
# Brought up to date first (seconds when nothing changed), so a script never scores with a binary
# older than the sources; without Swift, an existing binary is used as it is.
if command -v swift >/dev/null; then
  swift build -c release --product latentlens >&2
elif [[ ! -x $BIN ]]; then
  echo "no $BIN and no swift to build it" >&2; exit 1
fi
declare -A TASK=(
  [debian-packages]="Given a one-line summary of a software package, retrieve the package's full description"
  [wordnet-definitions]="Given a word or phrase, retrieve its dictionary definition"
  [foldoc-terms]="Given a computing term, retrieve its definition"
  [pydocs-sections]="Given a section title from the Python documentation, retrieve the section"
  [pydocs-api]="Given a Python API name, retrieve its documentation"
)
# The held-out retrieval sets, in the order the scripts report them.
DEV_SETS=(debian-packages foldoc-terms pydocs-sections pydocs-api wordnet-definitions)
# An instruction no recipe trains on (NV-Embed's QA task), for the robustness probe and the
# instruction comparison; and the general one `latentlens search` gives a query by default
# (defaultSearchTask in Sources/latentlens/Index.swift).
QA_INSTRUCTION="Given a question, retrieve passages that answer the question"
GENERAL_INSTRUCTION="Retrieve the passage most relevant to the query"

# One line per evaluation: LABEL, latent and BM25 nDCG@10, and the paired-bootstrap interval of
# their difference, from `latentlens eval --json --baseline bm25` output.
#   print_versus_bm25 LABEL JSON_LINE
print_versus_bm25() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.loads(sys.argv[2]); r = d["results"]; v = d["versus_bm25"]["latent"]; lo, hi = v["ndcg@10_delta_ci95"]
print(f"{sys.argv[1]} latent {r['latent']['ndcg@10']:.4f}  bm25 {r['bm25']['ndcg@10']:.4f}  "
      f"diff {v['ndcg@10_delta']:+.4f} (95% CI {lo:+.4f} to {hi:+.4f})  queries +{v['better']} -{v['worse']} ={v['tied']}")
PY
}

# Exits unless MODEL is a model folder.
#   require_model MODEL
require_model() {
  [[ -f $1/config.json ]] || { echo "$1: no config.json (not a model folder)" >&2; exit 1; }
}

# Exits unless every SET is a known retrieval set whose dev split has been built.
#   require_dev_sets SET ...
require_dev_sets() {
  local set
  for set in "$@"; do
    [[ -n ${TASK[$set]+x} ]] || { echo "unknown set $set (one of: ${!TASK[*]})" >&2; exit 2; }
    [[ -d data/eval/dev/$set ]] || { echo "missing data/eval/dev/$set: run python3 scripts/build_data.py" >&2; exit 1; }
  done
}

# MODEL and SETS from a script's arguments MODEL_DIR [SET ...] (no SET: every dev set), checked.
#   model_and_dev_sets "$@"
model_and_dev_sets() {
  MODEL=$1; shift
  SETS=("$@")
  [[ ${#SETS[@]} -gt 0 ]] || SETS=("${DEV_SETS[@]}")
  require_dev_sets "${SETS[@]}"
  require_model "$MODEL"
}

# One JSON object, KEY -> a `latentlens eval --json` line, written to FILE.tmp and moved onto FILE
# only when complete (the caller's EXIT trap removes FILE.tmp if it stops half way).
#   json_begin FILE; json_add KEY JSON ...; json_end
json_begin() { JSON_OUT=$1; JSON_FIRST=1; echo "{" >"$JSON_OUT.tmp"; }
json_add() {
  [[ $JSON_FIRST == 1 ]] || echo "," >>"$JSON_OUT.tmp"
  JSON_FIRST=0
  printf '"%s": %s' "$1" "$2" >>"$JSON_OUT.tmp"
}
json_end() { echo "}" >>"$JSON_OUT.tmp"; mv "$JSON_OUT.tmp" "$JSON_OUT"; }
