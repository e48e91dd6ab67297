#!/bin/bash
# VS Code in your browser, on a Quest {% if cookiecutter.gpu != "none" %}GPU {% endif %}node, in your image: code-server (and
# TensorBoard) for as long as the job runs, reached from your laptop through SSH.
#   sbatch slurm/ide.sh                      # one hour; longer: sbatch --time=04:00:00 slurm/ide.sh
#   cat logs/ide-<jobid>.out                 # when it runs: the ssh command to run on your laptop
# Step by step, and what to do when it ends: docs/quest-ide.md.
#
# Only you can reach it: code-server and TensorBoard listen on Unix sockets (files, mode
# 600) in a folder of /tmp only you can enter, never on a TCP port of the node (every user
# of a shared node can open those). SSH forwards a port of your laptop to each socket.
# The password is in a file only you can read (made for you the first time), never on a
# command line or in the log.
#
# Settings (sbatch --export=ALL,NAME=value slurm/ide.sh):
#   PROJECT_CONTAINER   your image (recommended): one built from the Dockerfile's
#                       `code-server` target, which has code-server in it (docs/quest-ide.md)
#   IDE_PASSWORD_FILE   the password file (default ~/.config/code-server/ide-password)
#   IDE_PORT            the laptop port for VS Code (default 8080), IDE_TENSORBOARD_PORT (6006)
#   IDE_LOGIN_HOST      the host to jump through (default quest.northwestern.edu)
#   IDE_TUNNEL          socket (default) or tcp: where a node's SSH refuses to forward to a
#                       socket ("administratively prohibited"), 127.0.0.1 ports of the node
#                       with the password as the only lock (docs/quest-ide.md)
#SBATCH --job-name=ide
#SBATCH --account={{ cookiecutter.quest_account }}
#SBATCH --partition={{ cookiecutter.partition }}
{%- if cookiecutter.gpu != "none" %}
#SBATCH --gres=gpu:{% if cookiecutter.gpu != "any" %}{{ cookiecutter.gpu }}:{% endif %}1
{%- endif %}
#SBATCH --time=01:00:00
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=4
#SBATCH --mem={{ cookiecutter.mem }}
#SBATCH --output=logs/%x-%j.out
{%- if cookiecutter.email != "abc1234@u.northwestern.edu" %}
# BEGIN too: the mail says the session is up (its log has the tunnel command).
#SBATCH --mail-type=BEGIN,END,FAIL
#SBATCH --mail-user={{ cookiecutter.email }}
{%- else %}
# No job e-mail: the address is still the template's example (the NetID abc1234 was
# kept), and mail to it could reach a stranger. Generate again with your NetID.
{%- endif %}

set -euo pipefail

# A login node is shared by everyone and has no GPU: this needs a job of its own.
if [[ -z ${SLURM_JOB_ID:-} ]]; then
    echo "error: slurm/ide.sh runs as a Slurm job on a compute node, not here." >&2
    echo "  Submit it:  sbatch slurm/ide.sh   then read logs/ide-<jobid>.out" >&2
    exit 1
fi
cd "${SLURM_SUBMIT_DIR:-.}"
# shellcheck source=common.sh
source slurm/common.sh
job_banner

IDE_PASSWORD_FILE="${IDE_PASSWORD_FILE:-$HOME/.config/code-server/ide-password}"
IDE_PORT="${IDE_PORT:-8080}"
IDE_TENSORBOARD_PORT="${IDE_TENSORBOARD_PORT:-6006}"
IDE_LOGIN_HOST="${IDE_LOGIN_HOST:-quest.northwestern.edu}"
IDE_TUNNEL="${IDE_TUNNEL:-socket}"
for port in "$IDE_PORT" "$IDE_TENSORBOARD_PORT"; do
    if ! [[ $port =~ ^[1-9][0-9]{3,4}$ && $port -le 65535 ]]; then
        echo "error: IDE_PORT and IDE_TENSORBOARD_PORT must be ports 1000-65535, not '$port'" >&2
        exit 2
    fi
done
if [[ $IDE_TUNNEL != socket && $IDE_TUNNEL != tcp ]]; then
    echo "error: IDE_TUNNEL must be 'socket' or 'tcp', not '$IDE_TUNNEL'" >&2
    exit 2
fi

# One IDE at a time: a second one would hold a second GPU for nothing.
ide_log() { scontrol show job "$1" | sed -n 's/^ *StdOut=//p'; }
while read -r other node; do
    if ((other < SLURM_JOB_ID)); then
        echo "error: your IDE job $other is already running on $node." >&2
        echo "  Reach it with the ssh command in its log:  $(ide_log "$other")" >&2
        echo "  or end it (then submit again):  scancel $other" >&2
        echo "  This job ($SLURM_JOB_ID) ends now." >&2
        exit 1
    fi
done < <(squeue --me --noheader --states=RUNNING --name="$SLURM_JOB_NAME" --format='%i %N')

# The password: from a file only you can read (made with a random one the first time).
if [[ ! -e $IDE_PASSWORD_FILE ]]; then
    mkdir -p "$(dirname "$IDE_PASSWORD_FILE")"
    # umask 077 (common.sh): the file is made readable by you alone.
    head -c 18 /dev/urandom | base64 >"$IDE_PASSWORD_FILE"  # 24 random characters
    echo "made a new password in $IDE_PASSWORD_FILE"
fi
if [[ ! -O $IDE_PASSWORD_FILE || -n "$(find "$IDE_PASSWORD_FILE" -maxdepth 0 -perm /077)" ]]; then
    echo "error: IDE_PASSWORD_FILE=$IDE_PASSWORD_FILE must be yours and readable by you alone:" >&2
    echo "  chmod 600 $IDE_PASSWORD_FILE   (or delete it: the next job makes a new one)" >&2
    exit 1
fi
PASSWORD="$(<"$IDE_PASSWORD_FILE")"  # `$(<file)`: read by bash itself, no command line
if [[ -z $PASSWORD ]]; then
    echo "error: $IDE_PASSWORD_FILE is empty: delete it and the next job makes a new one" >&2
    exit 1
fi

activate_env
# The command that runs a program in the image (or in the environment): PYTHON_CMD
# without its last word, `python`.
RUN_CMD=("${PYTHON_CMD[@]}")
unset 'RUN_CMD[-1]'
if ! "${RUN_CMD[@]}" sh -c 'command -v code-server' >/dev/null; then
    echo "error: code-server is not in ${PROJECT_CONTAINER:-your environment ($PROJECT_ENV)}." >&2
    echo "  Use an image built from the Dockerfile's code-server target (docs/quest-ide.md):" >&2
    echo "  sbatch --export=ALL,PROJECT_CONTAINER=/path/to/code-server.sif slurm/ide.sh" >&2
    exit 1
fi

# A private folder on the node's own disk (/tmp, which the container shares): mode 700,
# so no one else can even reach the sockets in it. Removed when the job ends.
RUN_DIR="$(mktemp -d "/tmp/ide-$SLURM_JOB_ID.XXXXXX")"
pids=()
stop() {
    trap - EXIT TERM INT
    # The folder first: its sockets are gone at once, even if Slurm's KILL comes early.
    rm -rf "$RUN_DIR"
    echo "stopping $(date '+%F %T'): $RUN_DIR removed (the sockets with it)"
    if [[ -n ${pids[*]:-} ]]; then
        kill -TERM "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
    fi
    rm -rf "$RUN_DIR"  # anything the servers wrote while stopping
    echo "stopped: code-server and TensorBoard ended"
}
# scancel and the time limit send TERM to the job (Slurm then KILLs what is left).
trap 'stop; exit 143' TERM INT
trap stop EXIT

if [[ $IDE_TUNNEL == socket ]]; then
    ide_at="$RUN_DIR/code-server.sock" board_at="$RUN_DIR/tensorboard.sock"
    listen=(--socket "$ide_at" --socket-mode 600)
    board=(--socket "$board_at")
else
    # Ports of the node's loopback only, picked from the job id (two jobs, two ports).
    ide_at="127.0.0.1:$((20000 + SLURM_JOB_ID % 20000))"
    board_at="127.0.0.1:$((40000 + SLURM_JOB_ID % 20000))"
    listen=(--bind-addr "$ide_at")
    board=(--host 127.0.0.1 --port "${board_at##*:}")
fi
# code-server reads the password from its settings file, in the private folder (printf is
# part of bash: no command line shows it). VS Code's settings and extensions for this
# session live there too (the image is read-only); your files are the project's.
quote="'"  # YAML: a quoted string, its own quotes doubled
printf "auth: password\npassword: '%s'\n" "${PASSWORD//$quote/$quote$quote}" >"$RUN_DIR/config.yaml"
unset PASSWORD
# TMPDIR and XDG_DATA_HOME: code-server's own sockets, logs and state go there too, not
# into the node's shared /tmp or a home the container may not have.
"${RUN_CMD[@]}" env TMPDIR="$RUN_DIR" XDG_DATA_HOME="$RUN_DIR/share" \
    code-server "${listen[@]}" --auth password --config "$RUN_DIR/config.yaml" \
    --user-data-dir "$RUN_DIR/vscode" --extensions-dir "$RUN_DIR/extensions" \
    --disable-telemetry --disable-update-check --disable-workspace-trust "$PWD" &
pids+=($!)
if [[ $IDE_TUNNEL == socket ]]; then
    "${PYTHON_CMD[@]}" -m "$PACKAGE" tensorboard-socket "${board[@]}" --logdir logs/tensorboard &
else
    "${PYTHON_CMD[@]}" -m "$PACKAGE" tensorboard --logdir logs/tensorboard --load_fast=false \
        "${board[@]}" &  # the package's: TensorBoard without TensorFlow's start-up notices
fi
pids+=($!)

# Wait until code-server answers (its socket exists, or its port is open).
ready() {
    if [[ $IDE_TUNNEL == socket ]]; then
        [[ -S $ide_at ]]
    else
        (exec 3<>"/dev/tcp/${ide_at%:*}/${ide_at##*:}") 2>/dev/null
    fi
}
until ready; do
    kill -0 "${pids[0]}" 2>/dev/null || { echo "error: code-server stopped (above: why)" >&2; exit 1; }
    sleep 1
done

node="${SLURMD_NODENAME:-$(hostname -s)}"
ends="$(squeue --noheader --job "$SLURM_JOB_ID" --format=%e)"
cat <<EOF

=== VS Code is ready on $node until $ends (job $SLURM_JOB_ID). On your laptop, run:

ssh -N -o ExitOnForwardFailure=yes -L $IDE_PORT:$ide_at -L $IDE_TENSORBOARD_PORT:$board_at -J $USER@$IDE_LOGIN_HOST $USER@$node

and keep it running. Then open  http://localhost:$IDE_PORT  (VS Code; TensorBoard: http://localhost:$IDE_TENSORBOARD_PORT).
Password: in $IDE_PASSWORD_FILE on Quest (cat it on a login node).
End it: scancel $SLURM_JOB_ID   (it also ends by itself at $ends; save your files before)

EOF

# Run until a server stops, the time limit, or scancel (then `stop` cleans up).
wait -n "${pids[@]}" || true
echo "a server stopped by itself; ending the job" >&2
