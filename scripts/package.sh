#!/usr/bin/env bash
# make package: dist/kickstand_VERSION_ARCH.deb and dist/kickstand-VERSION-1.ARCH.rpm
# with the binary, the systemd unit, /etc/kickstand/kickstand.yaml, manual
# pages and shell completions (packaging/nfpm.yaml says what goes where).
# VERSION is the tag vX.Y.Z of HEAD without its v, else
# 0.0.0+gitYYYYMMDDHHMMSS.COMMIT (so that later commits upgrade earlier
# ones); KICKSTAND_VERSION overrides it. GOARCH picks the architecture.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

arch=${GOARCH:-$(go env GOARCH)}
commit_time=$(git log -1 --format=%ct 2>/dev/null || date +%s)
if [ -z "${KICKSTAND_VERSION:-}" ]; then
  if tag=$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null); then
    KICKSTAND_VERSION=${tag#v}
  elif commit=$(git rev-parse --short=12 HEAD 2>/dev/null); then
    KICKSTAND_VERSION=0.0.0+git$(date -u -d "@$commit_time" +%Y%m%d%H%M%S).$commit
  else
    KICKSTAND_VERSION=0.0.0
  fi
fi
# Same commit, same packages: file times and manual page dates are the commit's.
export SOURCE_DATE_EPOCH=$commit_time

build=dist/build
rm -rf "$build" dist/kickstand*.deb dist/kickstand*.rpm
mkdir -p "$build"
# A static binary runs on every glibc (Debian 12, RHEL 8); -buildvcs=auto
# overrides a GOFLAGS=-buildvcs=false so that kickstand version names the
# commit.
CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -buildvcs=auto -trimpath -ldflags='-s -w' -o "$build/kickstand" ./cmd/kickstand
go run ./packaging/gendocs -man "$build/man" -completions "$build/completions" -version "$KICKSTAND_VERSION"
gzip -9n "$build"/man/*.1

export KICKSTAND_VERSION KICKSTAND_ARCH=$arch
for packager in deb rpm; do
  go tool nfpm package --config packaging/nfpm.yaml --packager "$packager" --target dist/
done
ls -l dist/*.deb dist/*.rpm
