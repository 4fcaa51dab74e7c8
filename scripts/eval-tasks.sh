# Sourced by scripts/evaluate-*.sh: each held-out retrieval set's query instruction, the task
# string the trainer uses for its source (Sources/LensTraining/TrainingData.swift).
declare -A TASK=(
  [debian-packages]="Given a one-line summary of a software package, retrieve the package's full description"
  [wordnet-definitions]="Given a word or phrase, retrieve its dictionary definition"
  [foldoc-terms]="Given a computing term, retrieve its definition"
  [pydocs-sections]="Given a section title from the Python documentation, retrieve the section"
  [pydocs-api]="Given a Python API name, retrieve its documentation"
)
