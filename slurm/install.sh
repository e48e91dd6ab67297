#!/bin/bash
# Install what mini-Quest needs on Debian 12, as root: Slurm (slurmctld, slurmd and the
# client commands) and munge, its authentication. Idempotent: installs only what is
# missing. The one place that installs them: .ci/run and `nox -s quest container_route`
# call it; slurm/miniquest.py (prerequisites) only checks and points here.
set -euo pipefail

packages=(slurm-wlm munge)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "slurm/install.sh: ${missing[*]} missing; run me as root" >&2; exit 2; }
  echo "slurm/install.sh: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "slurm/install.sh: $(sinfo --version)"
