# shellcheck shell=bash
# What standin.sh (x86-64) and standin-arm64.sh share; sourced by them, not run.
# Each defines die() (its own name, exit 2) before sourcing this file.
#   STANDIN_CA_BUNDLE     this machine's CA bundle (its network passes a TLS proxy)
#   standin_prerequisites TOOL...   the tools, the CA bundle and apt sources are there
#   standin_mmdebstrap TAR [MMDEBSTRAP OPTION...]
#                         Debian bookworm (minbase) from this machine's apt sources into TAR,
#                         with its CA bundle, without apt's lists and cache
#   standin_import TAR IMAGE PYTHON_VERSION [PODMAN IMPORT OPTION...]
#                         the root file system tarball as IMAGE, set up as the upstream
#                         python image is (PATH, LANG, PYTHON_VERSION, CMD), plus the CA
#                         bundle for pip, uv and npm (PIP_CERT, SSL_CERT_FILE, NODE_EXTRA_CA_CERTS)

STANDIN_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
export CONTAINERS_CONF="${CONTAINERS_CONF:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/containers.conf}"

standin_prerequisites() {
  local tool f
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "'$tool' not found (.ci/run installs it)"
  done
  [ -r "$STANDIN_CA_BUNDLE" ] || die "no CA bundle at $STANDIN_CA_BUNDLE"
  STANDIN_SOURCES=()
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && STANDIN_SOURCES+=("$f")
  done
  [ "${#STANDIN_SOURCES[@]}" -gt 0 ] || die "no apt sources found in /etc/apt"
}

standin_mmdebstrap() {
  local tar_file="$1"
  shift
  mmdebstrap --quiet --variant=minbase "$@" \
    --customize-hook="cp '$STANDIN_CA_BUNDLE' \"\$1$STANDIN_CA_BUNDLE\"" \
    --customize-hook="rm -rf \"\$1\"/var/lib/apt/lists/* \"\$1\"/var/cache/apt/*" \
    bookworm "$tar_file" "${STANDIN_SOURCES[@]}" </dev/null
}

standin_import() {
  local tar_file="$1" image="$2" full="$3"
  shift 3
  podman import "$@" \
    --change "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV LANG=C.UTF-8" \
    --change "ENV PYTHON_VERSION=$full" \
    --change "ENV PIP_CERT=$STANDIN_CA_BUNDLE" \
    --change "ENV SSL_CERT_FILE=$STANDIN_CA_BUNDLE" \
    --change "ENV NODE_EXTRA_CA_CERTS=$STANDIN_CA_BUNDLE" \
    --change 'CMD ["python3"]' \
    "$tar_file" "$image" >/dev/null
}
