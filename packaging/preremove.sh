#!/bin/sh
# Before removal (deb: remove; rpm: 0) stop and disable the service; an
# upgrade (deb: upgrade NEW; rpm: 1) leaves it running for postinstall to
# restart.
set -e

case "$1" in
  remove|0)
    if [ -d /run/systemd/system ]; then
      systemctl disable --now kickstand.service || true
    fi
    ;;
esac
exit 0
