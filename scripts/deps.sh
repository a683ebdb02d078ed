#!/usr/bin/env bash
# Installs the Debian packages kickstand's tests and demo need, when missing.
# Needs root for apt-get; without root it only says what is missing.
set -euo pipefail

packages=(qemu-system-x86 ipxe-qemu ovmf pxelinux syslinux-common xorriso busybox-static
          atftp dnsmasq-base iproute2 cpio curl ca-certificates ipxe grub-common grub-efi-amd64-bin
          nftables iptables chromium rpm systemd systemd-container man-db bash-completion postgresql
          squashfs-tools kea-admin)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing Debian packages: ${missing[*]}" >&2
  echo "deps: run as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 0
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
