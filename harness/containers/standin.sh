#!/bin/bash
# Make local stand-ins for the upstream base images the generated Dockerfile
# starts FROM, tagged with the exact upstream names, so that Dockerfile builds
# unchanged on a machine that cannot reach Docker Hub.
#
#   harness/containers/standin.sh 3.12 [3.11 ...]   ->  docker.io/library/python:3.12-slim-bookworm ...
#
# Idempotent: an image that exists already is kept (STANDIN_REBUILD=1 remakes it).
# A stand-in is what the upstream image is: Debian bookworm (minbase, from this
# machine's apt sources, by mmdebstrap) with CPython X.Y and pip in /usr/local.
# CPython comes from this machine's pyenv (built on Debian 12 too, so its
# libraries match). One addition, for this machine only: the network here
# passes through a TLS proxy, so the host's CA bundle replaces Debian's and
# pip/uv/npm are told to use it (PIP_CERT, SSL_CERT_FILE, NODE_EXTRA_CA_CERTS).
set -euo pipefail

die() { echo "standin.sh: $*" >&2; exit 2; }
# shellcheck source-path=SCRIPTDIR source=standin-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/standin-lib.sh"

[ "$#" -ge 1 ] || die "usage: $0 PYTHON_VERSION... (e.g. 3.12)"
standin_prerequisites podman mmdebstrap pyenv

# The shared libraries CPython's extension modules link to (ssl, sqlite3,
# ctypes, lzma, bz2, readline, ...), as in the upstream slim image.
libs=ca-certificates,netbase,tzdata,libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,zlib1g
libs+=,libreadline8,libncursesw6,libuuid1,libexpat1,libnsl2,libtirpc3,libgdbm6

for version in "$@"; do
  [[ "$version" =~ ^3\.[0-9]+$ ]] || die "bad Python version '$version' (want X.Y, e.g. 3.12)"
  image="docker.io/library/python:${version}-slim-bookworm"
  if [ -z "${STANDIN_REBUILD:-}" ] && podman image exists "$image"; then
    # Podman uses a local image whatever its platform: never take the arm64 stand-in
    # (standin-arm64.sh, 3.11) for an x86-64 one.
    arch="$(podman image inspect --format '{{.Architecture}}' "$image")"
    [ "$arch" = amd64 ] ||
      die "$image is the $arch stand-in (standin-arm64.sh); x86-64 tests must use another Python version"
    echo "standin.sh: $image exists"
    continue
  fi
  prefix="$(pyenv prefix "$version" 2>/dev/null | tail -n1)" ||
    die "pyenv has no Python $version (pyenv versions lists what there is)"
  [ -x "$prefix/bin/python$version" ] || die "no python$version in $prefix"
  full="$("$prefix/bin/python$version" -c 'import platform; print(platform.python_version())')"
  echo "standin.sh: making $image from Debian bookworm + CPython $full ($prefix)"

  tar_file="$(mktemp --suffix=.tar)"
  trap 'rm -f "$tar_file"' EXIT
  # Copy CPython into /usr/local like the upstream image; leave out the test
  # suite, IDLE/Tk and anything this machine added to site-packages. Its scripts
  # (pip, pydoc, 2to3 before 3.13, ...) start with pyenv's path: point them at /usr/local.
  standin_mmdebstrap "$tar_file" --include="$libs" \
    --customize-hook="tar -C '$prefix' -c \
        --exclude='./lib/python$version/test' --exclude='./lib/python$version/idlelib' \
        --exclude='./lib/python$version/tkinter' --exclude='./lib/python$version/site-packages/*.pth' \
        . | tar -C \"\$1/usr/local\" -x --no-same-owner" \
    --customize-hook="find \"\$1\"/usr/local/bin -maxdepth 1 -type f \( -name 'pip*' -o -name 'pydoc*' \
        -o -name '2to3*' -o -name 'idle*' -o -name 'python*-config' \) \
        -exec sed -i '1s|^#!.*/python.*|#!/usr/local/bin/python$version|' {} +" \
    --customize-hook="chroot \"\$1\" ldconfig" \
    --customize-hook="chroot \"\$1\" /usr/local/bin/python$version -m pip --version"

  standin_import "$tar_file" "$image" "$full"
  rm -f "$tar_file"
  trap - EXIT
  podman run --rm "$image" python3 -c 'import ssl, sqlite3, ctypes, lzma, bz2, sys; print("stand-in ok:", sys.version.split()[0])'
done
