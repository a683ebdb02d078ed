#!/usr/bin/env python3
"""oracle.py — what anaconda makes of a kickstart file, by pykickstart's own parser.

Usage:
    oracle.py [--timeout SECS] [--max-depth N] [--pykickstart DIR] VERSION FILE...
    oracle.py --resolve VERSION      print the pykickstart handler VERSION stands for
    oracle.py --list                 print the handler names this pykickstart has

VERSION is a pykickstart handler name (RHEL8, RHEL9, RHEL10, F43, ...; case does
not matter) or "fedora" for the newest Fedora handler this pykickstart has.
pykickstart is imported from --pykickstart DIR (default: $PYKS, else /tmp/pyks
when it exists, else the installed one).

Output: one JSON object per FILE, one per line, in argument order:
    {"file": FILE, "version": "RHEL9", "status": "ok" | "timeout",
     "errors":   [{"line": N, "message": "...", "class": "KickstartParseError"}, ...],
     "warnings": [{"line": N, "message": "...", "class": "KickstartDeprecationWarning"}, ...]}
"line" is a line of FILE itself (null when pykickstart names none); a problem in
an inlined file carries the %include line there and "origin": "INCLUDED:LINE"
(path relative to FILE's directory).  Exit status: 0, or 2 on a usage error;
the verdicts are in the JSON, not in the exit status.

How anaconda classifies what pykickstart raises (read in rhinstaller/anaconda
main @ 8eddd3c95d28 and branches rhel-8 @ 7f99a19fb6d7, rhel-9 @ e1810e7ae730,
rhel-10 @ 65da3a517330, fedora-43 @ 9f5b6a0182d2; pykickstart 3.74 @ 435ebbefdb5a):

* ERROR = any KickstartError (KickstartParseError, KickstartVersionError, ...)
  or any other exception out of the parser.  anaconda stops: in
  pyanaconda/kickstart.py, parseKickstart():
        except KickstartError as e:
            ...
            print(_("\\nAn error occurred during reading the kickstart file:"
                    "\\n%s\\n\\nThe installer will now terminate.") % str(e).strip())
            ...
            sys.exit(1)
  and the DBus modules' read_kickstart() (pyanaconda/modules/common/base/base.py)
  turn a KickstartError into report.error_messages, which parseKickstart raises
  as a KickstartError ("if not report.is_valid(): ... raise KickstartError").
  anaconda's parser (AnacondaKSParser -> KickstartParser(handler)) keeps
  pykickstart's errorsAreFatal=True, so it stops at the FIRST error; this
  oracle passes errorsAreFatal=False so that it lists every error of a command
  or section header (errors inside a section body, e.g. a %packages line or a
  missing %end, still end the parse, as in pykickstart).  The verdict ("any
  error -> anaconda refuses the file") is the same.

* WARNING = KickstartParseWarning and its subclass KickstartDeprecationWarning
  (pykickstart/errors.py: "class KickstartDeprecationWarning(KickstartParseWarning,
  DeprecationWarning)").  anaconda logs them and goes on: parseKickstart() does
        with warnings.catch_warnings():
            warnings.showwarning = ksshowwarning
            warnings.simplefilter("always", category=KickstartParseWarning)
            ...
            if kswarnings:
                print(_("\\nSome warnings occurred during reading the kickstart file:"))
                for w in kswarnings:
                    print(str(w).strip())
                if strict_mode:
                    raise KickstartError("Please modify your kickstart file to fix the warnings "
                                         "or remove the `ksstrict` option.")
  i.e. only with the inst.ksstrict boot option do warnings stop the install
  (docs/user-guide/boot-options.rst: "By default, the warnings are printed to
  logs and the installation continues.").  The modules do the same with
  warnings.catch_warnings(record=True) + simplefilter("always",
  KickstartParseWarning) and report.warning_messages.  Deprecated commands and
  options ("Ignoring deprecated command/option on line N"), the %traceback
  section, a duplicate partition/logvol/raid/volgroup/btrfs mount point or
  name, a duplicate user/group/repo/network device/sshkey, "The 'X' keyword
  has been removed" are all such warnings.  "Potentially unknown section" is
  one only with unknownSectionIsFatal=False; anaconda leaves it True, so an
  unknown %section is an ERROR there (the oracle parses with False, to go on
  past it, and reports it as the error "Unknown kickstart section: %X").  The same holds on rhel-8 and
  rhel-9 (parseKickstart(handler, f, strict_mode=False, pass_to_boss=False)).
  ksvalidator, by contrast, runs warnings.filterwarnings(action="error",
  category=KickstartParseWarning), which is why it refuses files anaconda
  installs from.

* Other Python warnings (plain DeprecationWarning, PendingDeprecationWarning from
  pykickstart's own API) are shown by anaconda but not collected, so they do
  not count, not even with inst.ksstrict; the oracle drops them.

Sections: anaconda does not use pykickstart's section list as is.  Its own
parser and the DBus boss's splitter (VALID_SECTIONS_ANACONDA) accept, by branch:
rhel-8 %pre %pre-install %post %onerror %traceback %packages %addon %anaconda;
rhel-9 the same plus %certificate; rhel-10 and fedora-42/43/main the rhel-8 list
without %anaconda, plus %certificate; fedora-38..41 neither.  Any other section is
a KickstartParseError ("Unknown kickstart section"), e.g. %anaconda on RHEL 10,
%certificate on RHEL 8, so the oracle drops them from pykickstart's list
(ANACONDA_SECTIONS below).  %addon bodies are not checked (an addon no module
claims is ignored); %anaconda bodies (pwpolicy, RHEL 8/9) are not checked either.

pykickstart itself does NOT warn about a command given twice (the last one
wins) nor about a plaintext password; those are kickstand-only warnings.
Not modelled: anaconda's DBus modules subclass some commands and raise
KickstartParseError themselves (rhel-9 pyanaconda/modules/*/kickstart.py): an
invalid network --hostname, %packages --ignorebroken where the product
configuration forbids it (RHEL), an autopart --fstype blivet does not know, a
LUKS passphrase too short in FIPS mode, disk names (ignoredisk/clearpart
--drives, ...) that do not exist on the machine; and they check more at install
time.  Those depend on the product or the hardware, not on the file alone.

%include and %ksappend: before parsing, a line whose first word is %include or
%ksappend is replaced by the target's contents when the target is a relative
path naming an existing file, resolved against the including file's directory
(recursively, up to --max-depth levels, no cycles).  Any other target (absolute
paths such as /tmp/part-include written by %pre, URLs, missing files) is left
out: the line becomes blank and a warning "include not followed: ..." (class
"include") is recorded.  The parser runs with followIncludes=False, so it
never opens a file or a URL itself.  As a guard, the script re-executes itself
in an empty network namespace (`unshare -n`, or `unshare -rn` when not root)
unless /proc/net/dev shows it already is in one, and refuses to run otherwise.
"""
import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import warnings

ISOLATED_ENV = "KS_ORACLE_NETNS"


def isolated():
    """True when this process's network namespace has no interface but lo."""
    try:
        with open("/proc/net/dev") as f:
            names = [l.split(":", 1)[0].strip() for l in f.readlines()[2:] if ":" in l]
    except OSError:
        return False
    return all(n == "lo" for n in names)


def ensure_isolated():
    if isolated():
        return
    if os.environ.get(ISOLATED_ENV):
        sys.exit("oracle.py: still not in an empty network namespace after unshare; refusing to run")
    env = dict(os.environ, **{ISOLATED_ENV: "1"})
    cmd = [sys.executable, os.path.abspath(__file__)] + sys.argv[1:]
    for ns in (["unshare", "-n"], ["unshare", "-rn"]):
        try:
            if subprocess.run(ns + ["true"], capture_output=True).returncode == 0:
                os.execvpe(ns[0], ns + cmd, env)
        except FileNotFoundError:
            break
    sys.exit("oracle.py: cannot create an empty network namespace (unshare -n); refusing to run")


def import_pykickstart(where):
    if where:
        sys.path.insert(0, where)
    global KickstartParser, PutBackIterator, KickstartError, KickstartWarning, versionMap, makeVersion
    from pykickstart.parser import KickstartParser, PutBackIterator
    from pykickstart.errors import KickstartError, KickstartWarning
    from pykickstart.version import versionMap, makeVersion


def fedora_versions():
    fs = sorted((k for k in versionMap if re.fullmatch(r"F\d+", k)), key=lambda k: int(k[1:]))
    return fs


def resolve(name):
    """pykickstart handler name for NAME (RHEL9, rhel9, F43, fedora)."""
    if name.lower() in ("fedora", "latest-fedora"):
        for f in reversed(fedora_versions()):
            try:
                makeVersion(f)
                return f
            except Exception:  # a name in versionMap without a handler module
                continue
    for k in versionMap:
        if k.lower() == name.lower():
            return k
    raise SystemExit(f"oracle.py: pykickstart has no version {name!r} (see oracle.py --list)")


# Sections anaconda's parsers know (pyanaconda/kickstart.py AnacondaKSParser.setupSections
# and pyanaconda/modules/boss/kickstart_manager/parser.py VALID_SECTIONS_ANACONDA of the
# branch that ships that version); any other %section is "Unknown kickstart section".
# pykickstart's own KickstartParser also whitelists %anaconda and %certificate everywhere.
_SCRIPTS = {"%pre", "%pre-install", "%post", "%onerror", "%traceback", "%packages", "%addon"}
ANACONDA_SECTIONS = {
    "RHEL8": _SCRIPTS | {"%anaconda"},                     # rhel-8: no %certificate
    "RHEL9": _SCRIPTS | {"%anaconda", "%certificate"},     # rhel-9
    "RHEL10": _SCRIPTS | {"%certificate"},                 # rhel-10: %anaconda gone
}


def anaconda_sections(version):
    """The sections anaconda accepts for VERSION, or None: pykickstart's own set."""
    if version in ANACONDA_SECTIONS:
        return ANACONDA_SECTIONS[version]
    m = re.fullmatch(r"F(\d+)", version)
    if m and int(m.group(1)) >= 42:
        return _SCRIPTS | {"%certificate"}                 # fedora-42, fedora-43, main
    if m and int(m.group(1)) >= 38:
        return set(_SCRIPTS)                               # fedora-38 ... fedora-41
    return None


# ---- flattening %include / %ksappend ----------------------------------------

class Flattener:
    def __init__(self, top, max_depth):
        self.top = top
        self.topdir = os.path.dirname(os.path.abspath(top))
        self.max_depth = max_depth
        self.lines = []      # flattened text, split as pykickstart splits (splitlines(True))
        self.where = []      # per flattened line: (top_line, origin or None)
        self.notes = []      # warnings of our own: (top_line, origin, message)
        self.inlined = False

    def rel(self, path):
        return os.path.relpath(path, self.topdir)

    def add_file(self, path, text, depth, top_line, stack):
        for i, line in enumerate(text.splitlines(True), 1):
            tl = i if depth == 0 else top_line
            origin = None if depth == 0 else f"{self.rel(path)}:{i}"
            words = line.split()
            if words and words[0] in ("%include", "%ksappend"):
                target = self.target(line)
                if target:
                    why = self.follow(path, target, depth, tl, stack)
                    if why is None:
                        continue
                    self.notes.append((tl, origin, f"include not followed: {words[0]} {target} ({why})"))
                    self.lines.append("\n")   # left out, the line count kept
                    self.where.append((tl, origin))
                    continue
            if len((line + "x").splitlines()) == 1:
                line += "\n"  # a last line without its end must not run into what follows
            self.lines.append(line)
            self.where.append((tl, origin))

    @staticmethod
    def target(line):
        try:
            args = shlex.split(line, comments=True)
        except ValueError:
            args = line.split()
        return args[1] if len(args) > 1 and args[1] else None

    def follow(self, path, target, depth, top_line, stack):
        """Inline TARGET; return None when done, else why not."""
        if "://" in target:
            return "a URL"
        if target.startswith("/"):
            return "an absolute path"
        full = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), target))
        if not os.path.isfile(full):
            return "no such file next to the including file"
        if full in stack:
            return "include cycle"
        if depth + 1 > self.max_depth:
            return f"nested deeper than {self.max_depth} levels"
        try:
            with open(full, "rb") as f:
                text = f.read().decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            return f"unreadable: {e}"
        self.inlined = True
        self.add_file(full, text, depth + 1, top_line, stack + [full])
        return None

    def place(self, flat_line):
        """(top_line, origin) of a line of the flattened text (1-based)."""
        if flat_line is None or not isinstance(flat_line, int) or flat_line < 1:
            return None, None
        if flat_line > len(self.where):
            return (self.where[-1][0] if self.where else None), None
        return self.where[flat_line - 1]

    def remap_text(self, msg):
        """Line numbers inside a message are of the flattened text: name FILE's line,
        or the included file's own line when the entry has an "origin"."""
        if not self.inlined:
            return msg
        def sub(m):
            tl, origin = self.place(int(m.group(2)))
            if tl is None:
                return m.group(0)
            if origin:  # the entry names the included file: give its own line
                return m.group(1) + origin.rpartition(":")[2]
            return f"{m.group(1)}{tl}"
        return re.sub(r"(\bline )(\d+)", sub, msg)


# ---- parsing ------------------------------------------------------------------

class Timeout(Exception):
    pass


def make_parser_class():
    class CountingIterator(PutBackIterator):
        """PutBackIterator that tells the parser which line it is on."""
        def __init__(self, iterable, parser):
            super().__init__(iterable)
            self.parser = parser

        def put(self, s):
            super().put(s)
            self.parser.pos -= 1

        def next(self):
            self.parser.tag_warnings()
            v = super().next()
            self.parser.pos += 1
            return v

    class OracleParser(KickstartParser):
        """KickstartParser(handler, errorsAreFatal=False, followIncludes=False) that
        records errors instead of printing them, and the line each warning came from."""
        def __init__(self, handler, recorded, version_name):
            self.version_name = version_name  # before super().__init__, which calls setupSections
            # unknownSectionIsFatal=False only so that the parse goes on past an unknown
            # section; check() turns its warning back into anaconda's error.
            super().__init__(handler, followIncludes=False, errorsAreFatal=False,
                             unknownSectionIsFatal=False)
            self.pos = 0
            self.recorded = recorded     # the list of catch_warnings(record=True)
            self.tagged = 0
            self.warning_lines = []      # flattened line of recorded[i]
            self.errors = []             # (exception, flattened line)

        def tag_warnings(self):
            while self.tagged < len(self.recorded):
                self.warning_lines.append(self.pos)
                self.tagged += 1

        def _tryFunc(self, fn):
            try:
                fn()
            except Timeout:
                raise
            except Exception as e:  # pylint: disable=broad-except
                self.errorsCount += 1
                self.errors.append((e, self.pos))

        def setupSections(self):
            super().setupSections()
            allowed = anaconda_sections(self.version_name)
            if allowed is not None:
                for name in list(self._sections):
                    if name not in allowed:
                        del self._sections[name]

        def readKickstartFromString(self, s, reset=True):
            if reset:
                self._reset()
            self._stateMachine(CountingIterator(s.splitlines(True) + [""], self))

    return OracleParser


def message_of(e):
    if isinstance(e, KickstartError):
        m = e.message if isinstance(e.message, str) and e.message else str(e)
    else:
        m = f"pykickstart raised {type(e).__name__}: {e}"
    return " ".join(str(m).split())


def check(path, version, max_depth, OracleParser):
    res = {"file": path, "version": version, "status": "ok", "errors": [], "warnings": []}
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")  # pykickstart's load_to_str decodes so, strictly
    except (OSError, UnicodeDecodeError) as e:
        res["errors"].append({"line": None, "message": f"cannot read the file: {e}", "class": type(e).__name__})
        return res
    fl = Flattener(path, max_depth)
    fl.add_file(path, text, 0, 0, [os.path.abspath(path)])

    def entry(flat_line, msg, cls):
        tl, origin = fl.place(flat_line)
        d = {"line": tl, "message": fl.remap_text(msg), "class": cls}
        if origin:
            d["origin"] = origin
        return d

    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        parser = OracleParser(makeVersion(version), rec, version)
        try:
            parser.readKickstartFromString("".join(fl.lines))
        except Timeout:
            raise
        except Exception as e:  # a KickstartError out of a section body, or a crash: parsing ends
            parser.errors.append((e, parser.pos))
        parser.tag_warnings()
    for e, pos in parser.errors:
        ln = getattr(e, "lineno", None)
        res["errors"].append(entry(ln if isinstance(ln, int) and ln > 0 else pos, message_of(e), type(e).__name__))
    for w, pos in zip(rec, parser.warning_lines):
        if not issubclass(w.category, KickstartWarning):
            continue
        msg = " ".join(str(w.message).split())
        m = re.match(r"Potentially unknown section seen at line (\d+): (\S+)$", msg)
        if m:  # anaconda's parsers keep unknownSectionIsFatal=True: an error there
            res["errors"].append(entry(int(m.group(1)), f"Unknown kickstart section: {m.group(2)}",
                                       "KickstartParseError"))
            continue
        res["warnings"].append(entry(pos, msg, w.category.__name__))
    res["errors"].sort(key=lambda d: (d["line"] is None, d["line"] or 0))
    for tl, origin, msg in fl.notes:
        d = {"line": tl, "message": msg, "class": "include"}
        if origin:
            d["origin"] = origin
        res["warnings"].append(d)
    res["warnings"].sort(key=lambda d: (d["line"] is None, d["line"] or 0))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("version", nargs="?")
    ap.add_argument("files", nargs="*")
    ap.add_argument("--timeout", type=float, default=20, help="seconds per file (0: none)")
    ap.add_argument("--max-depth", type=int, default=8, help="nested %%include levels followed")
    ap.add_argument("--pykickstart", default=os.environ.get("PYKS") or ("/tmp/pyks" if os.path.isdir("/tmp/pyks") else ""))
    ap.add_argument("--resolve", action="store_true", help="print the handler name VERSION stands for")
    ap.add_argument("--list", action="store_true", help="list pykickstart's handler names")
    a = ap.parse_args()
    import_pykickstart(a.pykickstart)
    if a.list:
        print("\n".join(sorted(versionMap)))
        return 0
    if not a.version:
        ap.print_usage(sys.stderr)
        return 2
    version = resolve(a.version)
    if a.resolve:
        print(version)
        return 0
    ensure_isolated()
    OracleParser = make_parser_class()

    def alarm(*_):
        raise Timeout()
    signal.signal(signal.SIGALRM, alarm)
    for path in a.files:
        try:
            if a.timeout > 0:
                signal.setitimer(signal.ITIMER_REAL, a.timeout)
            res = check(path, version, a.max_depth, OracleParser)
        except Timeout:
            res = {"file": path, "version": version, "status": "timeout", "errors": [], "warnings": []}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        print(json.dumps(res, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
