#!/bin/bash
# Make the linux/arm64 stand-in for the upstream base image of an Apple Silicon
# Mac (Docker Desktop there runs linux/arm64 images):
#
#   harness/containers/standin-arm64.sh   ->  docker.io/library/python:3.11-slim-bookworm (arm64)
#
# Same recipe as standin.sh (Debian bookworm minbase by mmdebstrap, this
# machine's apt sources and CA bundle), but for --arch=arm64, so every program
# in it runs under qemu emulation (harness/containers/emulation.sh sets that up).
# The Python is Debian 12's own, 3.11: pyenv's interpreters here are x86-64 and
# cannot go into an arm64 image. As in the upstream image, `python`, `python3`
# and `pip` are on the PATH in /usr/local/bin and pip may install system-wide
# (Debian's EXTERNALLY-MANAGED marker is removed, as upstream has none).
#
# The tag is the upstream name, so a build with --platform linux/arm64 FROM
# python:3.11-slim-bookworm finds it. Podman 4.3 uses a local image whatever its
# platform (it only warns), so this tag is arm64's alone: the x86-64 suites use
# 3.12, and standin.sh refuses to take this image for an x86-64 3.11 (CONTRIBUTING.md).
#
# Idempotent: an existing arm64 image is kept (STANDIN_REBUILD=1 remakes it).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version=3.11
image="docker.io/library/python:${version}-slim-bookworm"

die() { echo "standin-arm64.sh: $*" >&2; exit 2; }
# shellcheck source-path=SCRIPTDIR source=standin-lib.sh
source "$here/standin-lib.sh"

[ "$#" -eq 0 ] || die "usage: $0 (makes $image for linux/arm64; no arguments)"
standin_prerequisites podman mmdebstrap
# mmdebstrap runs arm64 maintainer scripts: emulation must work first.
"$here/emulation.sh"

if [ -z "${STANDIN_REBUILD:-}" ] && podman image exists "$image"; then
  arch="$(podman image inspect --format '{{.Architecture}}' "$image")"
  [ "$arch" = arm64 ] ||
    die "$image exists but is $arch, not arm64; remove it (podman rmi $image) and rerun"
  echo "standin-arm64.sh: $image (arm64) exists"
  exit 0
fi

echo "standin-arm64.sh: making $image for linux/arm64 from Debian bookworm + its Python $version"
tar_file="$(mktemp --suffix=.tar)"
version_file="$(mktemp)"
trap 'rm -f "$tar_file" "$version_file"' EXIT
standin_mmdebstrap "$tar_file" --arch=arm64 \
  --include=python3,python3-venv,python3-pip,ca-certificates,netbase,tzdata \
  --customize-hook="rm -f \"\$1\"/usr/lib/python$version/EXTERNALLY-MANAGED" \
  --customize-hook="ln -sf /usr/bin/python3 \"\$1\"/usr/local/bin/python" \
  --customize-hook="ln -sf /usr/bin/pip3 \"\$1\"/usr/local/bin/pip" \
  --customize-hook="chroot \"\$1\" python3 -c 'import platform; print(platform.python_version())' >'$version_file'" \
  --customize-hook="chroot \"\$1\" python -m pip --version"

full="$(cat "$version_file")"
standin_import "$tar_file" "$image" "$full" --os linux --arch arm64
rm -f "$tar_file" "$version_file"
trap - EXIT
podman run --rm --platform linux/arm64 "$image" \
  python3 -c 'import platform, ssl, sqlite3, venv, sys; print("stand-in ok:", sys.version.split()[0], platform.machine())'
