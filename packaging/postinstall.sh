#!/bin/sh
# After install or upgrade (deb: configure [OLD-VERSION]; rpm: 1 = install,
# 2 or more = upgrade): the service's user and data directory, then systemd.
set -e

if ! getent passwd kickstand >/dev/null; then
  useradd --system --user-group --home-dir /var/lib/kickstand --no-create-home \
    --shell /usr/sbin/nologin --comment "kickstand network-install server" kickstand
fi
# The data directory is the service's, not the package's: removing the
# package leaves it (and its machines, profiles and leases) in place.
install -d -o kickstand -g kickstand -m 0750 /var/lib/kickstand

upgrade=false
case "$1" in
  configure) [ -z "$2" ] || upgrade=true ;;
  [0-9]*) [ "$1" -lt 2 ] || upgrade=true ;;
esac
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  # Not enabled or started on install: a DHCP server that answers on a LAN
  # is the administrator's decision (systemctl enable --now kickstand). An
  # upgrade restarts a running one on the new binary.
  if [ "$upgrade" = true ]; then
    systemctl try-restart kickstand.service || true
  fi
fi
exit 0
