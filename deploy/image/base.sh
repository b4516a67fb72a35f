#!/usr/bin/env bash
# The image's base where no registry is reachable (here, and air-gapped sites): Debian 12 with CPython 3.11, made
# from Debian's packages by mmdebstrap and imported as a local image. `make image` runs this when PYTHON_IMAGE
# names a localhost/ image that the store does not hold yet; the official python:3.11.x-slim-bookworm is used instead
# where a registry is reachable (make image PYTHON_IMAGE=python:3.11.13-slim-bookworm).
#
#   deploy/image/base.sh localhost/decorum-base:bookworm-py3.11 [MIRROR]
#
# What is in it: Debian's minbase (essential packages and apt), python3.11 with venv (`python` is python3),
# passwd (useradd for the runtime stage) and ca-certificates; no documentation but the copyright files, no apt
# lists. Every wheel of the lock brings its own native libraries, so nothing else is needed (as with slim).
# Root only (mmdebstrap's root mode); needs mmdebstrap and podman (apt-get install mmdebstrap podman buildah).
set -euo pipefail

name=${1:?usage: base.sh IMAGE [MIRROR]}
mirror=${2:-${DEBIAN_MIRROR:-http://deb.debian.org/debian}}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
packages=python3.11-venv,python-is-python3,passwd,ca-certificates

work=$(mktemp -d "${TMPDIR:-/tmp}/decorum-base.XXXXXX")
trap 'rm -rf "$work"' EXIT

start=$(date +%s)
mmdebstrap --variant=minbase --mode=root --include="$packages" \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log "$1"/var/log/apt/*' \
  --customize-hook='chroot "$1" python3.11 -c "import ensurepip, ssl, sqlite3, venv"' \
  bookworm "$work/rootfs.tar" \
  "deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main"

podman import \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["python3"]' \
  --message "mmdebstrap minbase bookworm + $packages" \
  "$work/rootfs.tar" "$name" >/dev/null
echo "base image $name: $(podman image inspect --format '{{.Size}}' "$name" | numfmt --to=iec) in $(( $(date +%s) - start )) s"
