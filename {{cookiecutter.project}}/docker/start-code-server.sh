#!/bin/sh
# Start code-server (VS Code in the browser), ALWAYS with a password.
#
#   PASSWORD            the password; if unset, a random one is made and printed.
#                       Pass it with `--env-file FILE` or `-e PASSWORD` (no value: taken from
#                       your environment), never `-e PASSWORD=...`: a command line is visible
#                       to every user of the machine (`ps`). It reaches code-server only
#                       through the environment, which only you and root can read.
#   CODE_SERVER_LISTEN  `loopback` (default): listen on 127.0.0.1 only. Safe everywhere,
#                       also where the container shares the host's network (Apptainer's
#                       default, `docker run --network host`): there 0.0.0.0 would be every
#                       interface of the host. `all`: listen on the container's own network,
#                       which `docker run -p 127.0.0.1:8080:8080` needs to reach it.
#   PORT                the port (default 8080).
set -eu

port="${PORT:-8080}"
case "${CODE_SERVER_LISTEN:-loopback}" in
  loopback) host=127.0.0.1 ;;
  all)
    # Refuse where the network is surely the host's: Apptainer/Singularity and
    # Charliecloud share it by default, and a host has bridges a container's own
    # network never shows (docker0, podman0, virbr0, veth...).
    shared=""
    if [ -n "${APPTAINER_CONTAINER:-}${SINGULARITY_CONTAINER:-}${CH_RUNNING:-}" ] \
      || [ -d /.singularity.d ]; then
      shared="Apptainer/Singularity/Charliecloud share the host's network"
    fi
    # A container's own network has lo and ONE interface (eth0, or tap0), plus the tunnels
    # the kernel puts into every network namespace; a second one (ifb0, eth1, wlan0...)
    # belongs to a host. And a container's interfaces are all virtual (veth, tap, macvlan:
    # /sys/devices/virtual/net/...), while a host's network card is a device of its bus
    # (pci..., vmbus...): so a host with only lo and eth0 shows itself too.
    others=""
    for interface in /sys/class/net/*; do
      name="${interface##*/}"
      case "$(readlink "$interface")" in
        */devices/virtual/*|"") ;;
        *) shared="this container sees the host's network card $name" ;;
      esac
      case "$name" in
        docker*|podman*|virbr*|veth*|cni*|br-*|flannel*|cali*)
          shared="this container sees the host's network (interface $name)" ;;
        lo|tunl0|gre0|gretap0|erspan0|ip_vti0|ip6_vti0|sit0|ip6tnl0|ip6gre0) ;;
        *) others="$others $name" ;;
      esac
    done
    if [ -z "$shared" ] && [ "$(echo "$others" | wc -w)" -gt 1 ]; then
      shared="this container sees the host's network (interfaces:$others)"
    fi
    if [ -n "$shared" ]; then
      echo "error: CODE_SERVER_LISTEN=all refused: $shared, so code-server would listen on" \
        "every interface of the host. Leave CODE_SERVER_LISTEN unset (127.0.0.1) and reach" \
        "it through an SSH tunnel." >&2
      exit 2
    fi
    host=0.0.0.0 ;;
  *)
    echo "error: CODE_SERVER_LISTEN must be 'loopback' or 'all', not '$CODE_SERVER_LISTEN'" >&2
    exit 2 ;;
esac

if [ -z "${PASSWORD:-}" ]; then
  PASSWORD="$(python -c 'import secrets; print(secrets.token_urlsafe(16))')"
  echo "code-server password: $PASSWORD   (set PASSWORD to choose your own)"
fi
export PASSWORD  # code-server reads it from the environment, not from its arguments

echo "code-server listens on $host:$port"
exec code-server \
  --bind-addr "$host:$port" \
  --auth password \
  --disable-telemetry \
  --disable-update-check \
  "$@"
