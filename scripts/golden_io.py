"""Writing the JSON golden fixtures of scripts/*_golden.py."""
import json


def write_rows_per_line(path, header, rows):
    """JSON with `header`'s keys first and "queries" last, one query a line (readable diffs)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("{\n")
        for k in sorted(header):
            f.write("%s: %s,\n" % (json.dumps(k), json.dumps(header[k], ensure_ascii=False, sort_keys=True)))
        f.write('"queries": [\n' + ",\n".join(json.dumps(r, ensure_ascii=False, sort_keys=True) for r in rows) + "\n]\n}\n")
