#!/usr/bin/env python3
"""report.py — tables, TSV and categorized disagreements of one measure.sh run.

Usage (measure.sh runs it; it can be re-run on a run's stored outputs):
    report.py --detail DIR --files LIST --version V [--out TSV] [--separate "SRC ..."]
              [--kickstand-args "..."] [--note TEXT] [--top N]

DIR holds oracle.jsonl (oracle.py's output; "file" = path relative to the
corpus) and files/REL.kickstand.{out,err,rc} (kickstand's stdout, stderr and
exit status for the corpus file REL, run in REL's directory on its basename).
LIST has one corpus-relative path a line; the first path component is the
source.

kickstand's output lines understood:
    FILE:LINE: error: MESSAGE       FILE:LINE: warning: MESSAGE     (new CLI)
    FILE: error: MESSAGE            FILE: warning: MESSAGE          (no line)
    FILE: line LINE: MESSAGE        (old CLI: every problem is an error)
    FILE: ok
FILE is the checked file's name, or an included file's.
"""
import argparse
import collections
import json
import os
import re
import sys

# ---- reading the two tools' outputs -----------------------------------------

NEW = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<sev>error|warning): (?P<msg>.*)$")
NEW_NOLINE = re.compile(r"^(?P<file>.+?): (?P<sev>error|warning): (?P<msg>.*)$")
OLD = re.compile(r"^(?P<file>.+?): line (?P<line>\d+): (?P<msg>.*)$")
OLD_INC = re.compile(r"^in (?P<inc>\S+) line (?P<line>\d+): ")


class Msg:
    """One problem: severity, line in the checked file (or None), keys to match
    the other tool's messages by place, and the text."""
    def __init__(self, sev, line, text, keys, cls=""):
        self.sev, self.line, self.text, self.keys, self.cls = sev, line, text, keys, cls

    def show(self):
        return (f"line {self.line}: " if self.line is not None else "") + self.text


def read(path, default=""):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return default


def kickstand_result(detail, rel, strict):
    """(verdict, errors, warnings, first_other_line) of kickstand on REL."""
    base = os.path.basename(rel)
    d = os.path.join(detail, "files", rel)
    out, err = read(d + ".kickstand.out"), read(d + ".kickstand.err")
    rc_s = read(d + ".kickstand.rc", "").strip()
    rc = int(rc_s) if rc_s.lstrip("-").isdigit() else None
    errors, warns = [], []
    for l in out.splitlines():
        l = l.rstrip("\r")
        m = NEW.match(l)
        if m:
            f, line, sev, text = m.group("file"), int(m.group("line")), m.group("sev"), m.group("msg")
        elif NEW_NOLINE.match(l):
            m = NEW_NOLINE.match(l)
            f, line, sev, text = m.group("file"), None, m.group("sev"), m.group("msg")
        elif OLD.match(l):
            m = OLD.match(l)
            f, line, sev, text = m.group("file"), int(m.group("line")), "error", m.group("msg")
        else:
            continue
        keys = set()
        if f == base:
            mi = OLD_INC.match(text)
            if mi:  # old CLI: "in INCLUDED line N: ..." on the %include line
                keys.add(("inc", os.path.basename(mi.group("inc")), int(mi.group("line"))))
            elif line is not None:
                keys.add(("top", line))
            top = line
        else:  # a message about an included file, named by its own path
            keys.add(("inc", os.path.basename(f), line))
            top = None
            text = f"(in {f}{':' + str(line) if line is not None else ''}) {text}"
        (errors if sev == "error" else warns).append(Msg(sev, top, text, keys))
    other = next((l for l in (err + "\n" + out).splitlines() if l.strip()), f"exit status {rc}")
    if rc == 124:
        v = "timeout"
    elif errors:
        v = "refuse"
    elif rc == 0:
        v = "accept"
    elif rc == 1 and warns and strict:
        v = "refuse"
    else:
        v = "error"
    return v, errors, warns, other


def oracle_results(detail):
    res = {}
    for l in read(os.path.join(detail, "oracle.jsonl")).splitlines():
        if l.strip():
            try:
                r = json.loads(l)
            except ValueError:
                continue
            res[r["file"]] = r
    return res


def oracle_msgs(entries, sev):
    out = []
    for e in entries:
        keys = set()
        if e.get("origin"):  # matched by the included file's own line only
            f, _, n = e["origin"].rpartition(":")
            if n.isdigit():
                keys.add(("inc", os.path.basename(f), int(n)))
        elif e.get("line") is not None:
            keys.add(("top", e["line"]))
        text = e["message"] + (f" (in {e['origin']})" if e.get("origin") else "")
        out.append(Msg(sev, e.get("line"), text, keys, e.get("class", "")))
    return out


def oracle_verdict(r):
    if r is None:
        return "crash", [], [], []
    if r.get("status") != "ok":
        return r.get("status", "crash"), [], [], []
    errors = oracle_msgs(r["errors"], "error")
    warns = [w for w in r["warnings"] if w.get("class") != "include" or "no such file" in w["message"]]
    unfollowed = [w for w in r["warnings"] if w.get("class") == "include" and "no such file" not in w["message"]]
    return ("refuse" if errors else "accept"), errors, oracle_msgs(warns, "warning"), unfollowed


# ---- normalizing messages into categories -------------------------------------

def norm(m):
    m = re.sub(r"^line \d+(: |$)", "", m)
    m = re.sub(r"^in \S+ line \d+: ", "(in an included file) ", m)
    m = re.sub(r"^\(in [^)]*\) ", "(in an included file) ", m)
    m = re.sub(r" \(in [^)]*\)$", " (in an included file)", m)
    m = re.sub(r"(%include|%ksappend) \S+", r"\1 PATH", m)
    m = re.sub(r"\bopen \S+:", "open PATH:", m)
    m = re.sub(r"(on|at|of) line \d+( \([^)]*\))?", r"\1 line N", m)
    m = re.sub(r"\bline \d+", "line N", m)
    m = re.sub(r"(with the (?:name|mountpoint)) .*?(has already been defined)", r"\1 NAME \2", m)
    m = re.sub(r"(in volume group) \S+", r"\1 NAME", m)
    m = re.sub(r'"[^"]*"', '"…"', m)
    m = re.sub(r"'[^']*'", "'…'", m)
    m = re.sub(r"(--[\w-]+)=\S+", r"\1=VALUE", m)
    m = re.sub(r"\b\d+(\.\d+)*\b", "N", m)
    return " ".join(m.split())


def groups(items, top, title, total_unit="files"):
    """items: (key, example_file, example_text); prints count, key, one example."""
    g = collections.OrderedDict()
    for k, f, t in items:
        g.setdefault(k, []).append((f, t))
    nfiles = len({f for _, f, _ in items})
    where = "" if total_unit == "files" else f" in {nfiles} files"
    print(f"\n{title}: {len(items)} {total_unit}{where}, {len(g)} categories")
    ranked = sorted(g.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    for i, (k, v) in enumerate(ranked):
        if i == top:
            rest = ranked[top:]
            print(f"  … {len(rest)} more categories ({sum(len(x) for _, x in rest)} {total_unit})")
            break
        files = len({f for f, _ in v})
        print(f"  {len(v):5d}  {k}" + (f"   [{files} files]" if files != len(v) else ""))
        print(f"         e.g. {v[0][0]}: {v[0][1]}")


# ---- main ---------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--detail", required=True)
    ap.add_argument("--files", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--out")
    ap.add_argument("--separate", default="fedora-kickstarts")
    ap.add_argument("--kickstand-args", default="")
    ap.add_argument("--note", default="")
    ap.add_argument("--top", type=int, default=int(os.environ.get("TOP", "20")))
    a = ap.parse_args()
    strict = "--strict" in a.kickstand_args.split()
    files = [l.strip() for l in read(a.files).splitlines() if l.strip()]
    ores = oracle_results(a.detail)
    sep = a.separate.split()
    rows = []
    for rel in files:
        ov, oerr, owarn, unfollowed = oracle_verdict(ores.get(rel))
        kv, kerr, kwarn, kother = kickstand_result(a.detail, rel, strict)
        rows.append(dict(rel=rel, src=rel.split("/")[0], ov=ov, kv=kv, oerr=oerr, owarn=owarn,
                         unfollowed=unfollowed, kerr=kerr, kwarn=kwarn, kother=kother))

    def clean(s):
        return " ".join(str(s).split())[:400]

    if a.out:
        with open(a.out, "w") as f:
            f.write("path\tsource\toracle\tkickstand\toracle_errors\toracle_warnings\tkickstand_errors\t"
                    "kickstand_warnings\toracle_first_error\tkickstand_first_error\t"
                    "oracle_first_warning\tkickstand_first_warning\n")
            for r in rows:
                kfirst = r["kerr"][0].show() if r["kerr"] else (r["kother"] if r["kv"] in ("error", "timeout") else "")
                f.write("\t".join([
                    r["rel"], r["src"], r["ov"], r["kv"], str(len(r["oerr"])), str(len(r["owarn"])),
                    str(len(r["kerr"])), str(len(r["kwarn"])),
                    clean(r["oerr"][0].show() if r["oerr"] else ""), clean(kfirst),
                    clean(r["owarn"][0].show() if r["owarn"] else ""),
                    clean(r["kwarn"][0].show() if r["kwarn"] else "")]) + "\n")

    # ---- tables
    E = collections.Counter()
    W = collections.Counter()
    srcs = sorted({r["src"] for r in rows})
    total_wo = "TOTAL without " + " ".join(sep) if sep else None

    def bump(counter, src, key):
        for s in (src, "TOTAL") + ((total_wo,) if total_wo and src not in sep else ()):
            counter[s, key] += 1

    for r in rows:
        ov, kv = r["ov"], r["kv"]
        cat = {("accept", "accept"): "ba", ("refuse", "refuse"): "br", ("accept", "refuse"): "ref",
               ("refuse", "accept"): "mis"}.get((ov, kv), "oth")
        bump(E, r["src"], "n")
        bump(E, r["src"], cat)
        ow, kw = bool(r["owarn"]), bool(r["kwarn"])
        bump(W, r["src"], "n")
        for key, on in (("ow", ow), ("kw", kw), ("both", ow and kw), ("oonly", ow and not kw),
                        ("konly", kw and not ow), ("unf", bool(r["unfollowed"]))):
            if on:
                bump(W, r["src"], key)
    order = srcs + ["TOTAL"] + ([total_wo] if total_wo else [])
    print(f"\n==== {a.version}   kickstand {a.kickstand_args or '(no flags)'}")
    if a.note:
        print(f"NOTE: {a.note}")
    print("\nERRORS: does the file install?  oracle refuses = pykickstart raises an error (anaconda stops);"
          "\nkickstand refuses = it prints an error.  ANACONDA-VALID BUT REFUSED must reach 0.")
    fmt = "%-38s %5s %8s %8s %12s %10s %6s"
    print(fmt % ("source", "files", "both-ok", "both-bad", "ANACONDA-OK", "REAL-ERR", "other"))
    print(fmt % ("", "", "", "", "BUT REFUSED", "MISSED", ""))
    for s in order:
        if s == "TOTAL":
            print("-" * 92)
        print(fmt % (s, E[s, "n"], E[s, "ba"], E[s, "br"], E[s, "ref"], E[s, "mis"], E[s, "oth"]))
    print("\nWARNINGS: files with at least one warning.  oracle warns = a KickstartParseWarning"
          "\n(deprecations, duplicates) or a relative %include/%ksappend that does not exist;"
          "\nunfollowed = files with /tmp, /run, other absolute or URL includes (not compared).")
    fmt = "%-38s %5s %8s %8s %8s %13s %13s %10s"
    print(fmt % ("source", "files", "oracle", "kickst.", "both", "oracle-only", "kickst.-only", "unfollowed"))
    for s in order:
        if s == "TOTAL":
            print("-" * 92)
        print(fmt % (s, W[s, "n"], W[s, "ow"], W[s, "kw"], W[s, "both"], W[s, "oonly"], W[s, "konly"], W[s, "unf"]))

    # ---- categories
    ref = [r for r in rows if r["ov"] == "accept" and r["kv"] == "refuse"]
    mis = [r for r in rows if r["ov"] == "refuse" and r["kv"] == "accept"]
    both = [r for r in rows if r["ov"] == "refuse" and r["kv"] == "refuse"]
    oth = [r for r in rows if (r["ov"], r["kv"]) not in
           {("accept", "accept"), ("refuse", "refuse"), ("accept", "refuse"), ("refuse", "accept")}]
    print(f"\n==== {a.version}: categorized disagreements (messages normalized: numbers, names, values, paths)")
    groups([(norm(r["kerr"][0].text), r["rel"], r["kerr"][0].show()) for r in ref], a.top,
           "ANACONDA-VALID BUT REFUSED, by kickstand's first error")
    groups([(norm(m.text), r["rel"], m.show()) for r in ref for m in r["kerr"]], a.top,
           "  … every kickstand error in those files", "errors")
    groups([(norm(r["oerr"][0].text), r["rel"], r["oerr"][0].show()) for r in mis], a.top,
           "REAL ERRORS MISSED, by the oracle's first error")
    groups([(norm(m.text), r["rel"], m.show()) for r in mis for m in r["oerr"]], a.top,
           "  … every oracle error in those files", "errors")
    same = sum(1 for r in both if any(r["oerr"][0].keys & m.keys for m in r["kerr"]))
    print(f"\nBOTH REFUSE: {len(both)} files; kickstand has an error on the oracle's first error line in {same}")
    groups([(norm(r["oerr"][0].text), r["rel"], r["oerr"][0].show()) for r in both
            if not any(r["oerr"][0].keys & m.keys for m in r["kerr"])], a.top,
           "  … where it does not, by the oracle's first error")

    def unmatched(mine, theirs):
        return [m for m in mine if not any(m.keys & t.keys for t in theirs)]
    items = []
    for r in rows:
        for m in unmatched(r["owarn"], r["kwarn"]):
            kerr_here = any(m.keys & e.keys for e in r["kerr"])
            tag = " [kickstand: an ERROR on that line]" if kerr_here else ""
            items.append((f"[{m.cls}] {norm(m.text)}{tag}", r["rel"], m.show()))
    groups(items, a.top, "ORACLE WARNINGS without a kickstand warning on the same line", "warnings")
    items = []
    for r in rows:
        for m in unmatched(r["kwarn"], r["owarn"]):
            oerr_here = any(m.keys & e.keys for e in r["oerr"])
            tag = " [oracle: an ERROR on that line]" if oerr_here else ""
            items.append((norm(m.text) + tag, r["rel"], m.show()))
    groups(items, a.top, "KICKSTAND WARNINGS without an oracle warning on the same line", "warnings")
    if oth:
        print(f"\nOTHER (timeout, crash, kickstand failing without a problem line): {len(oth)} files")
        for r in oth[:a.top]:
            ofirst = r["oerr"][0].show() if r["oerr"] else ""
            print(f"  {r['rel']}: oracle {r['ov']} [{ofirst}] kickstand {r['kv']} [{r['kother']}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
