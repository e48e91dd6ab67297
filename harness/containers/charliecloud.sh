#!/bin/bash
# Charliecloud for the container-route tests (tests/test_container_route.py): the
# nearest real HPC container runtime to Apptainer that Debian 12 has. Idempotent; as root.
#   ch-run      (charliecloud-runtime): runs an image unprivileged, read-only, as the caller
#   ch-convert  (charliecloud-builders): podman image -> SquashFS file, like `apptainer build`
#   mksquashfs  (squashfs-tools), squashfuse (a dependency of charliecloud-runtime)
#   pigz        ch-convert gzips the whole exported image in between; with pigz it uses every
#               core (measured: 97 s -> 70 s for the 2 GB `base` image on 2 cores)
# charliecloud-builders depends on docker.io (a Docker engine this machine must not get), so
# only its ch-convert script is taken from the Debian package, into /opt/charliecloud; it
# finds its library (charliecloud-common, same version) through the symlink made here.
set -euo pipefail

prefix=/opt/charliecloud
bash "$(dirname "$0")/../../.ci/apt-install" --no-install-recommends charliecloud-runtime squashfs-tools pigz
if [[ ! -x $prefix/bin/ch-convert ]]; then
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    chmod a+rwx "$work"  # apt-get download works as the _apt user
    version="$(dpkg-query -W -f '${Version}' charliecloud-runtime)"
    (cd "$work" && apt-get download -qq "charliecloud-builders=$version")
    dpkg-deb -x "$work"/charliecloud-builders_*.deb "$work/root"
    mkdir -p "$prefix/bin" "$prefix/lib"
    install -m 755 "$work/root/usr/bin/ch-convert" "$prefix/bin/ch-convert"
    ln -sfn /usr/lib/charliecloud "$prefix/lib/charliecloud"
fi
echo "harness/containers/charliecloud.sh: ch-run $(USER=${USER:-root} ch-run --version 2>&1), ch-convert $($prefix/bin/ch-convert --version 2>&1)"
