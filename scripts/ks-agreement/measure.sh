#!/usr/bin/env bash
# measure.sh — agreement of `kickstand kickstart validate` with what anaconda
# makes of the same kickstart (oracle.py: pykickstart's parser as anaconda
# drives it), over a corpus of real kickstarts (see README.md).
#
# Usage:
#   measure.sh VERSION KSBIN [CORPUS_DIR]
#     VERSION     RHEL8 | RHEL9 | RHEL10 | F<N> (e.g. F43) | fedora (pykickstart's newest F<N>)
#     KSBIN       kickstand binary (cd /work/main && go build -o /tmp/kickstand-ks ./cmd/kickstand)
#     CORPUS_DIR  default: $KSCORPUS, else /work/kscorpus; every file two or more
#                 levels down (SOURCE/...) except under tools/ is a kickstart
#
# kickstand is run as `KSBIN kickstart validate --version V FILE` with V = rhel8,
# rhel9, rhel10 or fedora (for any F<N>), in FILE's directory.
#
# Environment (all optional):
#   PYKS=/tmp/pyks            pykickstart checkout the oracle imports
#   KS_VERSION_FLAG=auto      auto: pass "--version V" if kickstand accepts it, else no flag
#                             (and say so: kickstand then applies its only rules, RHEL 9);
#                             --version: always pass it; empty: never
#   KS_VERSION_VALUE=V        value given to the flag (default: the mapping above)
#   KS_EXTRA_ARGS=            more kickstand arguments, e.g. --strict
#   TIMEOUT=20                seconds per file, for each tool
#   JOBS=$(nproc)             parallel processes
#   ORACLE_CHUNK=25           files per oracle process (a chunk that dies is redone file by file)
#   ORACLE_MAX_DEPTH=8        nested %include levels the oracle follows
#   SEPARATE=fedora-kickstarts  sources left out of the "TOTAL without" line
#   TOP=20                    categories shown per list
#   OUT=/tmp/ks-agreement-VERSION.tsv   per-file TSV; raw outputs go to ${OUT%.tsv}.d/
#
# Everything runs in an empty network namespace (unshare -n; unshare -rn when
# not root): no %include URL, no repo, nothing reaches the network.
#
# Verdicts per file: accept | refuse | timeout | crash (oracle) | error (kickstand
# exits non-zero without printing a problem line, e.g. an unknown flag).
# Output: the ERRORS table (both-ok, both-bad, ANACONDA-OK BUT REFUSED, REAL-ERR
# MISSED, other) and the WARNINGS table per source and in total, then the
# categorized disagreements (report.py), then the TSV path.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ $# -lt 2 ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
fi
VERSION_ARG=$1
KSBIN=$(realpath "$2")
CORPUS=$(realpath "${3:-${KSCORPUS:-/work/kscorpus}}")
export PYKS=${PYKS:-/tmp/pyks}
export TIMEOUT=${TIMEOUT:-20}
JOBS=${JOBS:-$(nproc)}
ORACLE_CHUNK=${ORACLE_CHUNK:-25}
export ORACLE_MAX_DEPTH=${ORACLE_MAX_DEPTH:-8}
SEPARATE=${SEPARATE-fedora-kickstarts}
export TOP=${TOP:-20}
KS_VERSION_FLAG=${KS_VERSION_FLAG-auto}
KS_EXTRA_ARGS=${KS_EXTRA_ARGS:-}

# Re-run inside an empty network namespace.
if [[ -z ${KSM_IN_NETNS:-} ]]; then
    if unshare -n true 2>/dev/null; then NS=(unshare -n); else NS=(unshare -rn); fi
    exec "${NS[@]}" env KSM_IN_NETNS=1 bash "$0" "$@"
fi
if grep -v -e '|' -e '^ *lo:' /proc/net/dev | grep -q .; then
    echo "measure.sh: not in an empty network namespace" >&2; exit 2
fi

[[ -x $KSBIN ]] || { echo "measure.sh: $KSBIN is not executable" >&2; exit 2; }
[[ -d $PYKS/pykickstart ]] || { echo "measure.sh: no pykickstart at PYKS=$PYKS (see README.md)" >&2; exit 2; }
VERSION=$(python3 "$HERE/oracle.py" --pykickstart "$PYKS" --resolve "$VERSION_ARG")
case $VERSION in
    RHEL8) V=rhel8 ;; RHEL9) V=rhel9 ;; RHEL10) V=rhel10 ;; F[0-9]*) V=fedora ;;
    *) echo "measure.sh: no kickstand version for $VERSION" >&2; exit 2 ;;
esac
V=${KS_VERSION_VALUE:-$V}
OUT=${OUT:-/tmp/ks-agreement-$VERSION.tsv}
DETAIL=${OUT%.tsv}.d
export KSBIN CORPUS DETAIL

# kickstand's arguments; probe whether it knows --version.
EXTRA=()
if [[ -n $KS_EXTRA_ARGS ]]; then read -r -a EXTRA <<<"$KS_EXTRA_ARGS"; fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'lang en_US.UTF-8\nkeyboard us\ntimezone UTC\n' >"$probe/probe.ks"
runprobe() { (cd "$probe" && "$KSBIN" kickstart validate "$@" probe.ks) >"$probe/out" 2>&1; }
NOTE=
VFLAG=()
if [[ $KS_VERSION_FLAG == auto || $KS_VERSION_FLAG == --version ]]; then
    if runprobe --version "$V" "${EXTRA[@]}" || grep -q '^probe\.ks' "$probe/out"; then
        VFLAG=(--version "$V")
    elif [[ $KS_VERSION_FLAG == auto ]] && grep -qi 'unknown flag: --version' "$probe/out"; then
        NOTE="kickstand has no --version flag: it applied its only rules (RHEL 9) to every file, measured against the oracle's $VERSION"
    else
        echo "measure.sh: kickstand refuses --version $V ${EXTRA[*]}:" >&2; cat "$probe/out" >&2; exit 2
    fi
fi
if [[ ${#VFLAG[@]} -eq 0 ]] && ! runprobe "${EXTRA[@]}" && ! grep -q '^probe\.ks' "$probe/out"; then
    echo "measure.sh: kickstand refuses its arguments (${EXTRA[*]}):" >&2; cat "$probe/out" >&2; exit 2
fi
KSARGS="${VFLAG[*]} ${EXTRA[*]}"
KSARGS=${KSARGS# }; KSARGS=${KSARGS% }
export KSARGS

rm -rf "$DETAIL"; mkdir -p "$DETAIL/oracle" "$DETAIL/files"
cd "$CORPUS"
find . -mindepth 2 -type f ! -path './tools/*' ! -path './.*' -printf '%P\n' | LC_ALL=C sort >"$DETAIL/files.txt"
NFILES=$(wc -l <"$DETAIL/files.txt")
echo "measure.sh: $VERSION, $NFILES files in $CORPUS; oracle: oracle.py $VERSION (pykickstart $PYKS);" \
     "kickstand: $KSBIN kickstart validate ${KSARGS:-(no flags)}; $JOBS jobs, ${TIMEOUT}s per file" >&2
if [[ -n $NOTE ]]; then echo "measure.sh: NOTE: $NOTE" >&2; fi

# --- oracle: chunks of files per process; a chunk that dies is redone file by file
oracle_chunk() { # FILE... -> $DETAIL/oracle/XXXXXX.jsonl
    local out
    out=$(mktemp "$DETAIL/oracle/XXXXXX.jsonl")
    timeout $((TIMEOUT * $# + 60)) python3 "$HERE/oracle.py" --pykickstart "$PYKS" --timeout "$TIMEOUT" \
        --max-depth "$ORACLE_MAX_DEPTH" "$VERSION" "$@" >"$out" 2>>"$DETAIL/oracle.stderr" || true
}
export -f oracle_chunk
export HERE VERSION
# shellcheck disable=SC2016 # expanded by the inner bash
tr '\n' '\0' <"$DETAIL/files.txt" | xargs -0 -r -P "$JOBS" -n "$ORACLE_CHUNK" bash -c 'oracle_chunk "$@"' _
cat "$DETAIL"/oracle/*.jsonl | grep -a '^{' >"$DETAIL/oracle.jsonl" || true
python3 -c 'import json,sys; [print(json.loads(l)["file"]) for l in open(sys.argv[1]) if l.strip()]' \
    "$DETAIL/oracle.jsonl" | LC_ALL=C sort >"$DETAIL/oracle.done"
LC_ALL=C comm -23 "$DETAIL/files.txt" "$DETAIL/oracle.done" >"$DETAIL/oracle.missing"
if [[ -s $DETAIL/oracle.missing ]]; then
    echo "measure.sh: redoing $(wc -l <"$DETAIL/oracle.missing") files the oracle chunks did not finish, one by one" >&2
    # shellcheck disable=SC2016 # expanded by the inner bash
    tr '\n' '\0' <"$DETAIL/oracle.missing" | xargs -0 -r -P "$JOBS" -n 1 bash -c 'oracle_chunk "$@"' _
    cat "$DETAIL"/oracle/*.jsonl | grep -a '^{' | awk '!seen[$0]++' >"$DETAIL/oracle.jsonl" || true
fi

# --- kickstand: one process per file, in the file's directory
kickstand_one() { # REL
    local rel=$1 d=$DETAIL/files/$1 rc=0 args=()
    mkdir -p "$(dirname "$d")"
    if [[ -n $KSARGS ]]; then read -r -a args <<<"$KSARGS"; fi
    (cd "$CORPUS/$(dirname "$rel")" && timeout "$TIMEOUT" "$KSBIN" kickstart validate "${args[@]}" "$(basename "$rel")") \
        >"$d.kickstand.out" 2>"$d.kickstand.err" </dev/null || rc=$?
    echo "$rc" >"$d.kickstand.rc"
}
export -f kickstand_one
# shellcheck disable=SC2016 # expanded by the inner bash
tr '\n' '\0' <"$DETAIL/files.txt" | xargs -0 -r -P "$JOBS" -n 1 bash -c 'kickstand_one "$1"' _

python3 "$HERE/report.py" --detail "$DETAIL" --files "$DETAIL/files.txt" --version "$VERSION" \
    --out "$OUT" --separate "$SEPARATE" --kickstand-args "$KSARGS" --note "$NOTE" --top "$TOP"
echo "TSV: $OUT   raw outputs: $DETAIL/ (oracle.jsonl, files/*.kickstand.{out,err,rc})" >&2
