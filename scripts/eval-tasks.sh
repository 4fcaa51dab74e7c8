# Sourced by scripts/evaluate-*.sh: each held-out retrieval set's query instruction, the task
# string the trainer uses for its source (Sources/LensTraining/TrainingData.swift).
declare -A TASK=(
  [debian-packages]="Given a one-line summary of a software package, retrieve the package's full description"
  [wordnet-definitions]="Given a word or phrase, retrieve its dictionary definition"
  [foldoc-terms]="Given a computing term, retrieve its definition"
  [pydocs-sections]="Given a section title from the Python documentation, retrieve the section"
  [pydocs-api]="Given a Python API name, retrieve its documentation"
)
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
