#!/bin/sh
# After removal (deb: remove or purge; rpm: 0): systemd forgets the unit.
# The data directory and the kickstand user stay, even on purge: the
# inventory of machines is not the package's to delete.
set -e

if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
case "$1" in
  purge)
    echo "kickstand: /var/lib/kickstand and the user kickstand are kept; delete them by hand if the data is no longer wanted"
    ;;
esac
exit 0
