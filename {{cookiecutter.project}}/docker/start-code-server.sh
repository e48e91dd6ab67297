#!/bin/sh
# Start code-server (VS Code in the browser) on port 8080 of the container.
#
# It listens on all of the container's interfaces so that `docker run -p` can
# reach it, and ALWAYS asks for a password: publish it as 127.0.0.1:8080:8080
# so only your own machine (or your SSH tunnel) can connect.
#   PASSWORD   the password to use; if unset, a random one is made and printed.
set -eu

if [ -z "${PASSWORD:-}" ]; then
  PASSWORD="$(python -c 'import secrets; print(secrets.token_urlsafe(16))')"
  export PASSWORD
  echo "code-server password: $PASSWORD   (set PASSWORD=... to choose your own)"
fi

exec code-server \
  --bind-addr 0.0.0.0:8080 \
  --auth password \
  --disable-telemetry \
  --disable-update-check \
  "$@"
