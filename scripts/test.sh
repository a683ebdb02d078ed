#!/usr/bin/env bash
# The whole test suite: formatting, vet, staticcheck, unit and protocol tests
# with -race, and (as root) the end-to-end tests in QEMU. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
gopath=$(go env GOPATH) || { echo "test.sh: no go command: install Go 1.26 (go.mod's version) first" >&2; exit 1; }
export PATH="$PATH:$gopath/bin"

bash scripts/deps.sh

echo "== gofmt"
unformatted=$(git ls-files -z '*.go' | xargs -0 gofmt -l)
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi

echo "== go vet"
go vet ./...
go vet -tags e2e ./test/e2e/

echo "== staticcheck"
if ! command -v staticcheck >/dev/null || ! staticcheck -version | grep -q '0.8.2'; then
  go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
staticcheck ./...

# As root (and in CI) the end-to-end fixture is built first: the
# end-to-end tests need it, and so do unit tests of the real signed boot
# loaders it downloads (internal/distro: Debian 13's signed GRUB).
if [ "$(id -u)" -eq 0 ] || [ "${CI:-}" = "true" ]; then
  echo "== end-to-end fixture"
  bash test/e2e/fixtures/build.sh .cache/e2e
  sh test/e2e/fixtures/loader-rpms.sh .cache/e2e
fi

echo "== go test -race"
go test -race -count=1 ./...

# Allocation counts mean nothing under the race detector, so these tests
# skip there: run them once without it.
echo "== allocations per packet (without -race)"
go test -count=1 -run 'AllocatesNothing|NoPerPacketAllocations' ./internal/dhcp/ ./internal/tftp/

echo "== end-to-end (QEMU in network namespaces)"
if [ "$(id -u)" -ne 0 ] && [ "${CI:-}" != "true" ]; then
  echo "SKIPPED: the end-to-end tests need root (network namespaces, taps); run: sudo make e2e"
  exit 0
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! go test -tags e2e -count=1 -timeout 25m -v ./test/e2e/ 2>&1 | tee "$log"; then
  # The verbose output is long (timelines, consoles): repeat at the end the
  # failed tests and their error lines, without the logged dumps.
  echo "== end-to-end failures"
  grep -E '^ *--- FAIL' "$log" || true
  grep -E '^ +[a-z_]+_test\.go:[0-9]+: ' "$log" |
    grep -vE '_test\.go:[0-9]+: (markers:|installer markers:|timeline:|kickstand machine show|guest powered off|----- |ip netns del|fixture tree)' || true
  exit 1
fi
