#!/usr/bin/env bash
# Build a bare Debian base image with systemd as PID 1, from Debian's archive.
# No registry is needed: debootstrap builds the root filesystem, `docker import`
# turns it into an image. Built once; an existing image is reused.
#
#   tools/base-image.sh 12|13     -> names-debian:12 (bookworm) / names-debian:13 (trixie)
#   FORCE=1 tools/base-image.sh 12   rebuild even if the image exists
set -euo pipefail

release=${1:?usage: $0 12|13}
case "$release" in
  12) suite=bookworm ;;
  13) suite=trixie ;;
  *) echo "base-image: unknown Debian release '$release' (use 12 or 13)" >&2; exit 2 ;;
esac
image="names-debian:$release"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if [[ -z "${FORCE:-}" ]] && docker image inspect "$image" >/dev/null 2>&1; then
  echo "base-image: $image exists"
  exit 0
fi

if ! command -v debootstrap >/dev/null; then
  echo "base-image: installing debootstrap"
  "$(dirname "$0")/apt-install.sh" debootstrap
fi

workdir=$(mktemp -d "${TMPDIR:-/tmp}/names-rootfs-$suite.XXXXXX")
trap 'rm -rf "$workdir"' EXIT
rootfs="$workdir/rootfs"

echo "base-image: debootstrap $suite into $rootfs (about a minute)"
# A bare host: Python for Ansible, systemd as init, sudo for become. Everything
# else (nginx, python3-venv...) is the roles' job.
debootstrap --variant=minbase \
  --include=python3,systemd,systemd-sysv,dbus,ca-certificates,sudo \
  "$suite" "$rootfs" "$mirror" >"$workdir/debootstrap.log" 2>&1 || {
    tail -20 "$workdir/debootstrap.log" >&2
    echo "base-image: debootstrap of $suite failed (log above)" >&2
    exit 1
  }

# Every container gets its own machine id at first boot.
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"
# Nothing a container has no use for: consoles, udev, timers that fetch from the net.
for unit in getty.target console-getty.service systemd-udevd.service systemd-udev-trigger.service \
            apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
apt_clean() { rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*; }
apt_clean

echo "base-image: importing $image"
# `docker import` takes no STOPSIGNAL: containers set --stop-signal SIGRTMIN+3
# (systemd's clean shutdown) when they are created.
tar -C "$rootfs" -c . | docker import \
  -c 'ENV container=docker' \
  -c 'CMD ["/lib/systemd/systemd"]' \
  -m "Debian $release ($suite) minbase with systemd, built by names-deploy" \
  - "$image" >/dev/null
echo "base-image: $image ready"
