#!/bin/bash
# Start mini-Quest: a private Slurm (munged + slurmctld + three slurmd) that mimics
# Quest's partitions (short, normal, long, gengpu with a100/h100 GPUs).
#
#   eval "$(harness/miniquest/start.sh)"        # prints: export SLURM_CONF=...; export MINIQUEST_DIR=...
#   sbatch ... ; squeue ; sinfo
#   harness/miniquest/stop.sh "$MINIQUEST_DIR"
#
# Everything (configs, state, spool, logs, munge socket, fake GPU devices) lives in one
# new directory /tmp/mq-XXXX: its path must stay short, because unix socket paths over
# 108 bytes break every job. Needs root (slurmd runs jobs as the submitting user).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

die() { echo "mini-quest: error: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (slurmd and munged need it)"
for cmd in munged slurmctld slurmd sinfo python3; do
    command -v "$cmd" >/dev/null || die "'$cmd' not found; install Slurm (as root): bash harness/miniquest/install.sh"
done

dir="$(mktemp -d /tmp/mq-XXXX)"
chmod 755 "$dir"
nodes=(mq-cpu mq-gpu1 mq-gpu2)
mkdir -p "$dir"/{state,spool,log,dev,munge}
for node in "${nodes[@]}"; do mkdir -p "$dir/spool/$node"; done
chmod 700 "$dir/munge"

# On any failure below: show the logs and stop what was started.
fail() {
    echo "mini-quest: start failed; logs in $dir/log:" >&2
    tail -n 20 "$dir"/log/* >&2 2>/dev/null || true
    "$here/stop.sh" "$dir" >&2 || true
    exit 1
}
trap fail ERR

# Free TCP ports for slurmctld and each slurmd (other Slurms may run on this machine).
read -r ctld_port cpu_port gpu1_port gpu2_port < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PY
)

# Fake GPUs: character devices with NVIDIA's major number (60).
for i in 0 1 2 3 4 5 6 7; do
    mknod "$dir/dev/nvidia$i" c 60 "$i"
done

fill() {
    sed -e "s|@DIR@|$dir|g" -e "s|@HOST@|$(hostname -s)|g" \
        -e "s|@CTLD_PORT@|$ctld_port|g" -e "s|@CPU_PORT@|$cpu_port|g" \
        -e "s|@GPU1_PORT@|$gpu1_port|g" -e "s|@GPU2_PORT@|$gpu2_port|g" "$1" >"$2"
}
fill "$here/slurm.conf.in" "$dir/slurm.conf"
fill "$here/gres.conf.in" "$dir/gres.conf"
cp "$here/cgroup.conf" "$dir/cgroup.conf"
# Slurm's MailProg: record each job e-mail (arguments, then the body) in mail.log.
printf '#!/bin/sh\n{ echo "mail $*"; cat; } >>"%s/mail.log"\n' "$dir" >"$dir/mail.sh"
chmod 755 "$dir/mail.sh"
export SLURM_CONF="$dir/slurm.conf"

# munge: its own key and socket, so a system munged (if any) is left alone.
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge/munge.key"
# MINIQUEST_DAEMON marks the daemons (and the slurmstepd they start) for stop.sh.
export MINIQUEST_DAEMON="$dir"
munged --force --socket="$dir/munge.sock" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/munged.seed"

slurmctld -f "$SLURM_CONF"
for node in "${nodes[@]}"; do
    slurmd -f "$SLURM_CONF" -N "$node"
done
unset MINIQUEST_DAEMON

# Ready when every node is idle; fail at once if a daemon died (its log says why).
died() { [[ -f "$dir/$1.pid" ]] && ! kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }
deadline=$((SECONDS + 30))
while ((SECONDS < deadline)); do
    for daemon in munged slurmctld "${nodes[@]/#/slurmd-}"; do
        if died "$daemon"; then
            echo "mini-quest: $daemon is not running" >&2
            fail
        fi
    done
    if [[ "$(timeout 5 sinfo -h -N -o '%N %t' 2>/dev/null | sort -u | grep -c ' idle$')" -ge "${#nodes[@]}" ]]; then
        trap - ERR
        echo "mini-quest: up in $dir (sinfo/squeue/sbatch need SLURM_CONF)" >&2
        echo "export SLURM_CONF=$dir/slurm.conf"
        echo "export MINIQUEST_DIR=$dir"
        exit 0
    fi
    sleep 0.2
done
echo "mini-quest: the nodes did not become idle in 30 s:" >&2
timeout 5 sinfo -N >&2 || true
fail
