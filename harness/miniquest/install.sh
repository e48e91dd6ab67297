#!/bin/bash
# Install what mini-Quest needs on Debian 12, as root: Slurm (slurmctld, slurmd and the
# client commands) and munge, its authentication. Idempotent: installs only what is
# missing. The one place that installs them: .ci/run and `nox -s quest container_route`
# call it; harness/miniquest/__init__.py (prerequisites) only checks and points here.
set -euo pipefail

bash "$(dirname "$0")/../../.ci/apt-install" --no-install-recommends slurm-wlm munge
echo "harness/miniquest/install.sh: slurm-wlm $(dpkg-query -W -f '${Version}' slurm-wlm), munge $(dpkg-query -W -f '${Version}' munge)"
