#!/usr/bin/env python3
"""Builds LatentLens's training, evaluation and sample corpora from Debian packages.

Sources (downloaded with `apt-get download` / a private `apt-get update`, unpacked into the
work folder; nothing on the system is changed):
  debian   package summary <-> long description (i18n Translation-en), Section, source package
  wordnet  WordNet 3.0 (wordnet-base): lemmas <-> gloss, gloss <-> example, lexicographer file
  foldoc   FOLDOC (dict-foldoc): headword <-> definition
  vera     V.E.R.A. (dict-vera): acronym <-> expansion
  pydocs   Python 3.11 docs (python3.11-doc, reST sources): heading <-> section passage,
           API name <-> its documentation
Held out for outside evaluation and never read here: GCIDE (dict-gcide), the Python FAQ pages
(faq/*.rst) and the Debian FAQ (debian-faq).

Every record belongs to an entity (source package, synset, headword, acronym, docs page); a
hash of the entity puts it in train (90%), dev (5%) or test (5%) before anything is trained.

Output (under --out, default data/):
  sources/<name>.jsonl        normalised records with their split
  train/retrieval.jsonl       stage-1 pairs {task, query, positive, doc_id, source, entity}
  train/stage2.jsonl          stage-2 labelled examples {task, text, label, source}
  eval/{dev,test}/<set>/      BEIR folders: corpus.jsonl, queries.jsonl, qrels/test.tsv, and
                              groups.tsv (corpus-id, entity: compare_per_query.py --groups)
  eval/{dev,test}/sts-*.tsv   pair files (text1, text2, score)
Run: python3 scripts/build_data.py [--out data] (idempotent: reuses downloads).

--extra-debian-suites trixie,bullseye appends *fresh* Debian pairs to train/retrieval.jsonl (after
the bookworm pairs, which stay exactly as without it): train-split packages of those suites that
bookworm's data does not hold (a new package, or a changed summary or description), none whose
package, summary or description is a dev or test record's; sources/debian-extra.jsonl lists them.
Held-out sets are bookworm's either way. (An experiment: docs/TRAINING.md, "Train against dev".)
"""
import argparse, collections, glob, gzip, hashlib, json, os, random, re, subprocess, sys

DEBS = ["wordnet-base", "dict-foldoc", "dict-vera", "python3.11-doc"]
EXCLUDED_PACKAGES = {"dict-gcide", "debian-faq"}          # reserved for outside evaluation
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Task instructions live in one place: trainingInstructions in Sources/LensTraining/TrainingData.swift.


def split_of(source, entity):
    h = int(hashlib.sha1(f"{source}:{entity}".encode()).hexdigest()[:8], 16) % 100
    return "test" if h < 5 else "dev" if h < 10 else "train"


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def clean(s):
    return re.sub(r"\s+", " ", s).strip()


# ----------------------------------------------------------------------------- downloads

def fetch(work):
    debs = os.path.join(work, "debs")
    unpack = os.path.join(work, "x")
    os.makedirs(debs, exist_ok=True)
    for p in DEBS:
        assert p not in EXCLUDED_PACKAGES
        if not glob.glob(os.path.join(debs, p.split(":")[0] + "_*.deb")):
            run(["apt-get", "download", "-q", p], cwd=debs)
    if not os.path.isdir(unpack):
        tmp = unpack + ".tmp"
        os.makedirs(tmp, exist_ok=True)
        for d in glob.glob(os.path.join(debs, "*.deb")):
            run(["dpkg-deb", "-x", d, tmp])
        os.rename(tmp, unpack)
    lists = os.path.join(work, "apt-lists")
    if not glob.glob(os.path.join(lists, "*_main_i18n_Translation-en*")):
        os.makedirs(os.path.join(lists, "partial"), exist_ok=True)
        run(["apt-get", "update", "-q", "-o", "Acquire::Languages=en", "-o", f"Dir::State::Lists={lists}"],
            stdout=subprocess.DEVNULL)
    return unpack, lists


def fetch_suite(work, suite):
    """Another Debian suite's package lists, by a private apt-get update (its own sources file
    and lists folder, signed by the system's archive keyring); returns the lists folder."""
    lists = os.path.abspath(os.path.join(work, f"apt-lists-{suite}"))   # apt reads relative paths against /etc/apt
    if not glob.glob(os.path.join(lists, "*_main_i18n_Translation-en*")):
        os.makedirs(os.path.join(lists, "partial"), exist_ok=True)
        src = os.path.abspath(os.path.join(work, f"sources-{suite}.list"))
        with open(src, "w") as f:
            f.write(f"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian {suite} main\n")
        run(["apt-get", "update", "-q", "-o", "Acquire::Languages=en", "-o", f"Dir::State::Lists={lists}",
             "-o", f"Dir::Etc::SourceList={src}", "-o", "Dir::Etc::SourceParts=/dev/null"], stdout=subprocess.DEVNULL)
        if not glob.glob(os.path.join(lists, "*_main_i18n_Translation-en*")):
            sys.exit(f"apt-get update fetched no Translation-en for {suite} (is it on deb.debian.org?)")
    return lists


def fresh_debian_records(bookworm, suite_records):
    """Records of other suites ([(suite, debian_records(...))], in that order) that add a
    train-split pair bookworm's records do not hold; nothing that names or repeats a held-out record."""
    held = [r for r in bookworm if r["split"] != "train"]
    held_ids = {r["id"] for r in held}
    held_text = {r["text"] for r in held} | {r["summary"] for r in held}
    seen_pairs = {(r["summary"], r["text"]) for r in bookworm}
    seen_text = {r["text"] for r in bookworm}
    out = []
    for suite, records in suite_records:
        for r in records:
            r["split"] = split_of("debian", r["entity"])
            if r["split"] != "train" or r["id"] in held_ids or r["text"] in held_text or r["summary"] in held_text:
                continue
            if (r["summary"], r["text"]) in seen_pairs or r["text"] in seen_text:
                continue
            seen_pairs.add((r["summary"], r["text"]))
            seen_text.add(r["text"])
            out.append(dict(r, suite=suite, id=f"{r['id']}@{suite}"))
    return out


def apt_cat(path):
    return subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", path], check=True, capture_output=True).stdout.decode("utf-8", "replace")


def deb822(text):
    rec, key = {}, None
    for line in text.split("\n"):
        if not line.strip():
            if rec:
                yield rec
            rec, key = {}, None
        elif line[0] in " \t" and key:
            rec[key] += "\n" + line
        else:
            k, _, v = line.partition(":")
            key = k
            rec[k] = v.strip()
    if rec:
        yield rec


# ----------------------------------------------------------------------------- sources

def debian_records(lists):
    desc = {}
    for f in sorted(glob.glob(os.path.join(lists, "*_main_i18n_Translation-en*"))):
        for r in deb822(apt_cat(f)):
            if "Description-en" in r:
                desc[(r["Package"], r.get("Description-md5"))] = r["Description-en"]
    meta = {}
    for f in sorted(glob.glob(os.path.join(lists, "*_main_binary-amd64_Packages*"))):
        for r in deb822(apt_cat(f)):
            meta[r["Package"]] = r
    out, seen_text = [], set()
    for pkg, r in sorted(meta.items()):
        if pkg in EXCLUDED_PACKAGES:
            continue
        full = desc.get((pkg, r.get("Description-md5")))
        if not full:
            continue
        summary, _, body = full.partition("\n")
        lines = []
        for l in body.split("\n"):
            l = l[1:] if l.startswith(" ") else l
            lines.append("" if l.strip() == "." else l)
        long = clean(" ".join(lines))
        if len(long.split()) < 8 or long in seen_text:
            continue          # too short, or an identical description (cross-compiler families, -dbg twins)
        seen_text.add(long)
        src = r.get("Source", pkg).split(" ")[0]
        out.append({"source": "debian", "entity": src, "id": f"debian:{pkg}", "title": pkg, "summary": clean(summary),
                    "text": long, "label": r.get("Section", "").split("/")[-1]})
    return out


LEXNAMES = ["adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute",
            "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
            "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant",
            "noun.possession", "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state",
            "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition", "verb.communication",
            "verb.competition", "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
            "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl"]


def wordnet_records(unpack):
    out = []
    for pos in ["noun", "verb", "adj", "adv"]:
        with open(os.path.join(unpack, "usr/share/wordnet", f"data.{pos}"), encoding="latin-1") as f:
            for line in f:
                if line.startswith("  "):
                    continue
                head, _, gloss = line.partition(" | ")
                parts = head.split()
                offset, lexfile, ss = parts[0], int(parts[1]), parts[2]
                n = int(parts[3], 16)
                lemmas = [parts[4 + 2 * i].replace("_", " ") for i in range(n)]
                lemmas = [re.sub(r"\((a|p|ip)\)$", "", l) for l in lemmas]
                gloss = gloss.strip()
                examples = re.findall(r'"([^"]+)"', gloss)
                definition = clean(re.split(r';\s*"', gloss)[0])
                out.append({"source": "wordnet", "entity": f"{offset}{ss}", "id": f"wordnet:{offset}{ss}",
                            "title": ", ".join(lemmas), "lemmas": lemmas, "text": definition,
                            "examples": [clean(e) for e in examples], "label": LEXNAMES[lexfile]})
    return out


def b64(s):
    a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    v = 0
    for c in s:
        v = v * 64 + a.index(c)
    return v


def dict_entries(unpack, name):
    base = os.path.join(unpack, "usr/share/dictd", name)
    data = gzip.open(base + ".dict.dz").read()
    seen = {}
    with open(base + ".index", encoding="utf-8", errors="replace") as f:
        for line in f:
            w, off, ln = line.rstrip("\n").split("\t")[:3]
            if w.startswith("00-database") or w.startswith("00database"):
                continue
            key = (b64(off), b64(ln))
            if key in seen:
                continue
            seen[key] = w
            yield w, data[key[0]: key[0] + key[1]].decode("utf-8", "replace")


def headword(key, first_line, text):
    """The dictd index lower-cases its keys ("cifs", "beos"); the dictionary spells them "CIFS",
    "BeOS". The spelling is the entry's headword line when that is this key, else the key's
    first case-insensitive whole-word occurrence in the text (an alias: "(AIMACO)"), else the key."""
    if first_line.strip().lower() == key.lower():
        return first_line.strip()
    m = re.search(r"(?<![\w-])" + re.escape(key) + r"(?![\w-])", text, re.I)
    return m.group(0) if m else key


def foldoc_records(unpack):
    out = []
    for w, body in dict_entries(unpack, "foldoc"):
        lines = body.split("\n")
        first_line = lines[0]
        while lines and not lines[0].startswith("   "):   # headword (and variant) lines
            lines.pop(0)
        text = "\n".join(lines)
        cats = re.findall(r"<([^>]+)>", text[:200])
        text = re.sub(r"\(\d{4}-\d{2}-\d{2}\)", "", text)
        text = re.sub(r"\{([^}]*)\}", r"\1", text)
        text = re.sub(r"<[^>]+>", "", text, count=1)
        text = clean(text)
        if len(text.split()) < 4 or text.lower().startswith("see "):
            continue
        # entity and id keep the index key, so the entity-hash split does not depend on the spelling.
        out.append({"source": "foldoc", "entity": w.lower(), "id": f"foldoc:{w}", "title": headword(w, first_line, text), "text": text,
                    "label": cats[0].split(",")[0].strip() if cats else ""})
    return out


def vera_records(unpack):
    out = []
    for w, body in dict_entries(unpack, "vera"):
        lines = [l.strip() for l in body.split("\n") if l.strip()]
        if len(lines) < 2:
            continue
        exp = clean(" ".join(lines[1:]))
        out.append({"source": "vera", "entity": w.upper(), "id": f"vera:{w}", "title": headword(w, lines[0], ""), "text": exp, "label": ""})
    return out


RST_ADORN = re.compile(r"^([=\-~^\"'`#*+.])\1{3,}\s*$")
ROLE = re.compile(r":[a-z:]+:`(?:[^`<]*<)?~?!?([^`>]*)>?`")


def rst_text(s):
    s = ROLE.sub(r"\1", s)
    s = re.sub(r"``([^`]*)``", r"\1", s)
    s = re.sub(r"`([^`<]*?)\s*<[^>]*>`_+", r"\1", s)
    s = re.sub(r"\*\*([^*]*)\*\*", r"\1", s)
    s = re.sub(r"^\s*\.\. [a-z-]+::.*$", "", s, flags=re.M)
    s = re.sub(r"^\s*:[a-z ]+:.*$", "", s, flags=re.M)
    s = re.sub(r"(?<!\w)\*([^*\s][^*]*)\*(?!\w)", r"\1", s)
    return clean(s)


def pydocs_records(unpack):
    root = os.path.join(unpack, "usr/share/doc/python3.11/html/_sources")
    out = []
    for path in sorted(glob.glob(os.path.join(root, "**/*.rst.txt"), recursive=True)):
        rel = os.path.relpath(path, root)[:-len(".rst.txt")]
        if rel.startswith("faq/") or rel.startswith("whatsnew/"):
            continue        # faq is reserved for outside evaluation; whatsnew is changelog noise
        lines = open(path, encoding="utf-8").read().split("\n")
        page = None
        sections, cur_title, cur = [], None, []
        apis = []
        i = 0
        while i < len(lines):
            l = lines[i]
            if i + 1 < len(lines) and l.strip() and RST_ADORN.match(lines[i + 1]) and not RST_ADORN.match(l) and len(lines[i + 1].strip()) >= len(l.strip()) - 2:
                if cur_title is not None:
                    sections.append((cur_title, cur))
                cur_title, cur = rst_text(l), []
                page = page or cur_title
                i += 2
                continue
            m = re.match(r"^\.\. (function|method|class|exception|attribute|data|decorator)::\s*(.+)$", l)
            if m:
                sig = m.group(2).strip()
                body = []
                j = i + 1
                while j < len(lines) and (not lines[j].strip() or lines[j].startswith("   ")):
                    body.append(lines[j])
                    j += 1
                desc = rst_text("\n".join(b for b in body if not b.strip().startswith(":")))
                name = re.split(r"[(\[]", sig)[0].strip()
                if len(desc.split()) >= 6:
                    apis.append((name, sig, desc))
            cur.append(l)
            i += 1
        if cur_title is not None:
            sections.append((cur_title, cur))
        for k, (title, body) in enumerate(sections):
            text = rst_text("\n".join(body))
            words = text.split()
            if len(words) < 20:
                continue
            for c, start in enumerate(range(0, min(len(words), 600), 150)):
                chunk = " ".join(words[start:start + 150])
                if len(chunk.split()) < 20:
                    continue
                out.append({"source": "pydocs", "entity": rel, "id": f"pydocs:{rel}#{k}.{c}", "title": f"{page} — {title}" if page and page != title else title,
                            "heading": title, "text": chunk, "label": rel.split("/")[0], "kind": "section"})
        for name, sig, desc in apis:
            out.append({"source": "pydocs", "entity": rel, "id": f"pydocs:{rel}:{name}", "title": name, "heading": name,
                        "signature": sig, "text": " ".join(desc.split()[:150]), "label": rel.split("/")[0], "kind": "api"})
    return out


# ----------------------------------------------------------------------------- outputs

def write_jsonl(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def beir(folder, corpus, queries, qrels):
    write_jsonl(os.path.join(folder, "corpus.jsonl"), [{"_id": d, "title": t, "text": x} for d, t, x in corpus])
    write_jsonl(os.path.join(folder, "queries.jsonl"), [{"_id": q, "text": x} for q, x in queries])
    os.makedirs(os.path.join(folder, "qrels"), exist_ok=True)
    with open(os.path.join(folder, "qrels", "test.tsv"), "w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q, d in qrels:
            f.write(f"{q}\t{d}\t1\n")


def retrieval_views(src):
    """(task, query, positive_id, positive_title, positive_text, entity) for each record."""
    for r in src:
        s = r["source"]
        if s == "debian":
            yield "debian", r["summary"], r
        elif s == "wordnet":
            yield "wordnet-def", r["title"], r
        elif s == "foldoc":
            yield "foldoc", r["title"], r
        elif s == "vera":
            yield "vera", r["title"], r
        elif s == "pydocs":
            yield ("pydocs-api" if r.get("kind") == "api" else "pydocs-section"), r["heading"], r


EVAL_SETS = {   # name -> (task, corpus record filter)
    "debian-packages": ("debian", lambda r: r["source"] == "debian"),
    "wordnet-definitions": ("wordnet-def", lambda r: r["source"] == "wordnet"),
    "foldoc-terms": ("foldoc", lambda r: r["source"] == "foldoc"),
    "pydocs-sections": ("pydocs-section", lambda r: r["source"] == "pydocs" and r.get("kind") == "section"),
    "pydocs-api": ("pydocs-api", lambda r: r["source"] == "pydocs" and r.get("kind") == "api"),
}


def eval_set(folder, task, docs):
    """One BEIR folder from records that carry a `uid`: each record's query under `task`
    (retrieval_views) against every record's text, plus groups.tsv. Returns (queries, docs)."""
    qids, qrels = {}, []
    for t, q, r in retrieval_views(docs):
        if t == task and q:
            qid = qids.setdefault(q, f"q{len(qids)}")   # a repeated query marks every doc it names relevant
            qrels.append((qid, r["uid"]))
    queries = [(qid, q) for q, qid in qids.items()]
    # Documents carry no title: every source's title is (or contains) the query
    # itself (package name, lemmas, headword, "page — heading", API name).
    corpus = [(r["uid"], "", r["text"]) for r in docs]
    beir(folder, corpus, queries, qrels)
    # Each document's entity (the split unit: source package, synset, headword, page):
    # scripts/compare_per_query.py --groups resamples whole groups of related queries.
    with open(os.path.join(folder, "groups.tsv"), "w") as f:
        f.write("corpus-id\tgroup\n")
        for r in docs:
            f.write(f"{r['uid']}\t{r['source']}:{r['entity']}\n")
    return len(queries), len(corpus)


def write_sample_corpora(sources, rng):
    """SampleCorpora/: the explorer's bundled corpora (one JSONL schema: id, title, text, labels),
    drawn from the train and dev splits only (test documents stay out of everything shipped)."""
    out = os.path.join(ROOT, "SampleCorpora")
    os.makedirs(out, exist_ok=True)

    def pick(name, n, fmt):
        recs = [r for r in sources[name] if r["split"] != "test"]
        random.Random(name).shuffle(recs)
        return [fmt(r) for r in recs[:n]]

    deb = lambda r: {"id": r["id"], "title": f"{r['title']}: {r['summary']}", "text": r["text"], "labels": [r["label"], "debian"]}
    wn = lambda r: {"id": r["id"], "title": r["title"], "text": r["text"] + ("" if not r["examples"] else " (e.g. \"" + r["examples"][0] + "\")"),
                    "labels": [r["label"], "wordnet"]}
    fo = lambda r: {"id": r["uid"], "title": r["title"], "text": r["text"], "labels": ["foldoc"] + ([r["label"]] if r["label"] else [])}
    py = lambda r: {"id": r["uid"], "title": r["title"], "text": r["text"], "labels": ["python-docs", r.get("kind", "")]}
    corpora = {
        "debian-packages": pick("debian", 8000, deb),
        "wordnet-glosses": pick("wordnet", 8000, wn),
        "foldoc-computing": pick("foldoc", 5000, fo),
        "python-docs": pick("pydocs", 6000, py),
    }
    sampler = []
    for name, n in [("debian-packages", 900), ("wordnet-glosses", 900), ("foldoc-computing", 600), ("python-docs", 600)]:
        sampler += corpora[name][:n]
    rng.shuffle(sampler)
    corpora["sampler"] = sampler
    for name, rows in corpora.items():
        write_jsonl(os.path.join(out, name + ".jsonl"), rows)
        print(f"SampleCorpora/{name}.jsonl: {len(rows)} documents")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "data"))
    ap.add_argument("--sample-corpora", action="store_true",
                    help="also (re)write SampleCorpora/*.jsonl, the corpora the explorer ships with")
    ap.add_argument("--extra-debian-suites", default="",
                    help="comma-separated Debian suites whose fresh train-split pairs are appended (e.g. trixie,bullseye)")
    a = ap.parse_args()
    work = os.path.join(a.out, "raw")
    os.makedirs(work, exist_ok=True)
    unpack, lists = fetch(work)
    sources = {"debian": debian_records(lists), "wordnet": wordnet_records(unpack), "foldoc": foldoc_records(unpack),
               "vera": vera_records(unpack), "pydocs": pydocs_records(unpack)}
    for name, recs in sources.items():
        for r in recs:
            r["split"] = split_of(name, r["entity"])
        write_jsonl(os.path.join(a.out, "sources", f"{name}.jsonl"), recs)
        c = collections.Counter(r["split"] for r in recs)
        print(f"{name:8s} {len(recs):7d} records  train {c['train']}  dev {c['dev']}  test {c['test']}")
    allrecs = [r for recs in sources.values() for r in recs]
    rng = random.Random(0)
    # A few ids repeat within a source (FOLDOC's "APPLE" and "Apple" both sit under the index key
    # "apple"; a V.E.R.A. acronym with several expansions; a Python API documented twice). The
    # held-out sets need unique document ids, so "#2", "#3", ... mark the later ones there.
    # Training pairs keep the plain id: the teacher's passage table (scripts/teacher.py) is keyed
    # by it, so there a repeated id still shares the first entry's passage.
    seen_ids = collections.Counter()
    for r in allrecs:
        seen_ids[r["id"]] += 1
        r["uid"] = r["id"] if seen_ids[r["id"]] == 1 else f"{r['id']}#{seen_ids[r['id']]}"

    # Stage 1: retrieval pairs from the train split only.
    pairs = []
    for task, q, r in retrieval_views(allrecs):
        if r["split"] == "train" and q and r["text"]:
            pairs.append({"task": task, "query": q, "positive": r["text"], "positive_title": r["title"], "doc_id": r["id"], "source": r["source"],
                          "entity": f"{r['source']}:{r['entity']}"})
    for r in sources["wordnet"]:
        if r["split"] == "train":
            for e in r["examples"][:2]:
                pairs.append({"task": "wordnet-example", "query": r["text"], "positive": e, "positive_title": r["title"], "doc_id": r["id"] + "#ex", "source": "wordnet",
                              "entity": f"wordnet:{r['entity']}"})
    rng.shuffle(pairs)
    suites = [x for x in a.extra_debian_suites.split(",") if x]
    if suites:
        fresh = fresh_debian_records(sources["debian"], [(x, debian_records(fetch_suite(work, x))) for x in suites])
        write_jsonl(os.path.join(a.out, "sources", "debian-extra.jsonl"), fresh)
        extra = [{"task": "debian", "query": r["summary"], "positive": r["text"], "positive_title": r["title"], "doc_id": r["id"],
                  "source": "debian", "entity": f"debian:{r['entity']}"} for r in fresh]
        random.Random(1).shuffle(extra)
        pairs += extra
        per_suite = collections.Counter(r["suite"] for r in fresh)
        print(f"debian   {len(extra)} fresh pairs appended: " + ", ".join(f"{x} {per_suite[x]}" for x in suites))
    write_jsonl(os.path.join(a.out, "train", "retrieval.jsonl"), pairs)

    # Stage 2: labelled examples (classification/clustering) and symmetric synonym pairs.
    stage2 = []
    for r in sources["debian"]:
        if r["split"] == "train" and r["label"]:
            stage2.append({"task": "debian-section", "text": r["summary"] + ". " + r["text"], "label": r["label"], "source": "debian"})
    for r in sources["wordnet"]:
        if r["split"] == "train":
            stage2.append({"task": "wordnet-lexname", "text": r["text"], "label": r["label"], "source": "wordnet"})
    for r in sources["wordnet"]:
        if r["split"] == "train" and len(r["lemmas"]) >= 2:
            stage2.append({"task": "synonyms", "text": r["lemmas"][0], "label": r["id"], "source": "wordnet"})
            stage2.append({"task": "synonyms", "text": r["lemmas"][1], "label": r["id"], "source": "wordnet"})
    write_jsonl(os.path.join(a.out, "train", "stage2.jsonl"), stage2)
    print(f"train    {len(pairs)} retrieval pairs, {len(stage2)} stage-2 examples")

    # Held-out BEIR sets.
    for split in ["dev", "test"]:
        for name, (task, keep) in EVAL_SETS.items():
            docs = [r for r in allrecs if r["split"] == split and keep(r)]
            nq, nd = eval_set(os.path.join(a.out, "eval", split, name), task, docs)
            print(f"eval/{split}/{name}: {nq} queries, {nd} docs")
        # STS-style pairs: synonyms of the same synset (1) vs random lemma pairs (0).
        wn = [r for r in sources["wordnet"] if r["split"] == split and len(r["lemmas"]) >= 2]
        with open(os.path.join(a.out, "eval", split, "wordnet-synonyms.tsv"), "w") as f:
            for r in wn[:2000]:
                other = rng.choice(wn)
                f.write(f"{r['lemmas'][0]}\t{r['lemmas'][1]}\t1\n")
                f.write(f"{r['lemmas'][0]}\t{other['lemmas'][-1]}\t0\n")
    if a.sample_corpora:
        write_sample_corpora(sources, rng)
    print("done:", a.out)


if __name__ == "__main__":
    sys.exit(main())
