#!/bin/bash
# Stop a mini-Quest started by start.sh and remove its directory:
#   harness/miniquest/stop.sh /tmp/mq-XXXX
# Cancels the jobs first (scontrol shutdown alone can leave job processes behind),
# then stops the daemons by the PIDs in their pid files, then any process still
# carrying this cluster's SLURM_CONF (orphaned job steps). Leaves nothing running.
set -euo pipefail

die() { echo "mini-quest: error: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || die "usage: $0 /tmp/mq-XXXX"
dir="${1%/}"
[[ "$dir" == /tmp/mq-* && -d "$dir" ]] || die "'$1' is not a mini-Quest directory (/tmp/mq-XXXX)"
export SLURM_CONF="$dir/slurm.conf"  # for scancel/squeue only

# 1. Cancel every job and give the steps a moment to end.
if [[ -f "$dir/slurmctld.pid" ]] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
    scancel --quiet --full --user=root 2>/dev/null || true
    scancel --quiet --state=PENDING 2>/dev/null || true
    for _ in $(seq 1 50); do
        [[ -z "$(squeue -h -o %i 2>/dev/null)" ]] && break
        sleep 0.2
    done
fi

# Processes of this cluster: the daemons and their slurmstepd (start.sh marks them with
# MINIQUEST_DAEMON=<dir> in their environment) and job processes (SLURM_JOB_ID set and
# SLURM_CONF naming this cluster). Nothing is matched by program name.
ours() {
    local f pid e nl=$'\n'
    for f in /proc/[0-9]*/environ; do
        pid="${f#/proc/}"; pid="${pid%/environ}"
        e="$( { tr '\0' '\n' <"$f"; } 2>/dev/null)" || continue
        e="$nl$e$nl"
        if [[ "$e" == *"${nl}MINIQUEST_DAEMON=$dir$nl"* ]] || [[ "$e" == *"${nl}SLURM_JOB_ID="* \
            && "$e" == *"${nl}SLURM_CONF=$dir/slurm.conf$nl"* ]]; then
            echo "$pid"
        fi
    done
}

# A process that exists and is not a zombie.
running() {
    local stat
    stat="$( { cat "/proc/$1/stat"; } 2>/dev/null)" || return 1
    [[ "${stat##*) }" != Z* ]]
}

# 2. TERM, wait, then KILL whatever is left.
mapfile -t pids < <(ours | sort -u)
if [[ ${#pids[@]} -gt 0 ]]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 1 50); do
        alive=()
        for pid in "${pids[@]}"; do running "$pid" && alive+=("$pid"); done
        [[ ${#alive[@]} -eq 0 ]] && break
        sleep 0.2
    done
    mapfile -t left < <(ours | sort -u)
    if [[ ${#left[@]} -gt 0 ]]; then
        kill -KILL "${left[@]}" 2>/dev/null || true
        sleep 0.5
    fi
fi

mapfile -t left < <(ours | sort -u)
[[ ${#left[@]} -eq 0 ]] || die "processes still running: ${left[*]}"
rm -rf "$dir"
echo "mini-quest: stopped, $dir removed" >&2
