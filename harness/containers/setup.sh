#!/bin/bash
# Install what `nox -s containers devcontainer` need on Debian 12, as root.
# Idempotent: installs only what is missing. .ci/run calls it.
#   podman (+ buildah, runc ...)  builds and runs the generated images (no Docker engine here)
#   mmdebstrap                    makes the stand-in base images (harness/containers/standin.sh)
#   chromium                      the headless browser for the code-server screenshot
#   @devcontainers/cli (npm)      the official devcontainer CLI
set -euo pipefail

apt_packages=(podman buildah runc crun uidmap fuse-overlayfs slirp4netns mmdebstrap chromium)
devcontainer_cli=0.89.0

bash "$(dirname "$0")/../../.ci/apt-install" "${apt_packages[@]}"

if [ "$(devcontainer --version 2>/dev/null || true)" != "$devcontainer_cli" ]; then
  echo "harness/containers/setup.sh: npm install -g @devcontainers/cli@$devcontainer_cli"
  npm install --global --no-audit --no-fund "@devcontainers/cli@$devcontainer_cli"
fi
echo "harness/containers/setup.sh: podman $(podman --version | awk '{print $3}'), devcontainer CLI $(devcontainer --version)"
