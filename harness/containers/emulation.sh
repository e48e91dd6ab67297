#!/bin/bash
# Let this x86-64 machine run linux/arm64 programs (an Apple Silicon Mac's
# containers) through qemu user emulation:
#   1. Debian's qemu-user-static and binfmt-support (installed if missing, as root),
#   2. the kernel's binfmt_misc file system (mounted if missing),
#   3. qemu-aarch64 registered there with the F flag (the kernel keeps the
#      emulator open, so it also works inside containers that do not have it).
# Idempotent. Exits 3 with the reason when the kernel refuses (no binfmt_misc,
# not allowed to mount it or to register): emulation is then impossible here,
# and the arm64 tests must fail rather than be skipped.
set -euo pipefail

binfmt="${BINFMT_MISC:-/proc/sys/fs/binfmt_misc}"  # another path only for tests
die() { echo "emulation.sh: $*" >&2; exit 3; }

bash "$(dirname "$0")/../../.ci/apt-install" --no-install-recommends qemu-user-static binfmt-support ||
  die "qemu-user-static and binfmt-support are missing; as root: apt-get install qemu-user-static binfmt-support"

if [ ! -e "$binfmt/register" ]; then
  grep -qw binfmt_misc /proc/filesystems ||
    die "this kernel has no binfmt_misc (not in /proc/filesystems): it cannot run arm64 programs through qemu"
  mount -t binfmt_misc binfmt_misc "$binfmt" ||
    die "could not mount binfmt_misc on $binfmt (a container without the privilege to mount? run on the host or with --privileged)"
fi

if [ ! -e "$binfmt/qemu-aarch64" ]; then
  update-binfmts --import qemu-aarch64 ||
    die "the kernel refused to register qemu-aarch64 in $binfmt (not root in the initial user namespace?)"
fi
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
grep -qx enabled "$binfmt/qemu-aarch64" ||
  die "qemu-aarch64 is registered but disabled in $binfmt/qemu-aarch64 (echo 1 > $binfmt/qemu-aarch64)"
grep -q '^flags: .*F' "$binfmt/qemu-aarch64" ||
  die "qemu-aarch64 is registered without the F flag, so containers cannot find the emulator; remove it (echo -1 > $binfmt/qemu-aarch64) and rerun"
echo "emulation.sh: linux/arm64 programs run through $(sed -n 's/^interpreter //p' "$binfmt/qemu-aarch64")"
