# shellcheck shell=bash
# Sourced by every jobscript in slurm/ (and by setup_env.sh): one place for the
# environment's location, its activation and the banner at the top of each log.
# Not a job itself: `source slurm/common.sh` from the project's root directory.

# Where the Python environment lives. Quest's default is your allocation's project
# space (home has a small quota; conda environments with CUDA take several GB).
# Override per job:   sbatch --export=ALL,PROJECT_ENV=/path/to/env slurm/train.sh
DEFAULT_PROJECT_ENV="/projects/{{ cookiecutter.quest_account }}/{{ cookiecutter.netid }}/envs/{{ cookiecutter.project }}"
PROJECT_ENV="${PROJECT_ENV:-$DEFAULT_PROJECT_ENV}"
# shellcheck disable=SC2034  # used by the scripts that source this file
PACKAGE="{{ cookiecutter.package }}"

# The container route (instead of PROJECT_ENV): run every job inside the project's image,
# made once by slurm/setup_container.sh. Empty: the Python environment above.
#   sbatch --export=ALL,PROJECT_CONTAINER=/projects/.../{{ cookiecutter.project }}.sif slurm/train.sh
PROJECT_CONTAINER="${PROJECT_CONTAINER:-}"
# The program that runs the image: apptainer (Quest), singularity (its former name) or
# ch-run (Charliecloud). Empty: apptainer, else singularity, whichever is found.
PROJECT_CONTAINER_RUNTIME="${PROJECT_CONTAINER_RUNTIME:-}"
# How jobs start Python, as an array: "${PYTHON_CMD[@]}" -m "$PACKAGE" ...
# activate_env sets it: plain `python`, or `python` inside the container.
PYTHON_CMD=(python)

# Private by default: the allocation's project space is shared with your classmates
# (they are in its group), so everything made from here on (environment, checkpoints,
# results) is readable by you alone, and logs/ is closed to others too. To share on
# purpose, see docs/quest.md ("Privacy on Quest").
umask 077
if [[ -d logs && -O logs ]]; then chmod go-rwx logs; fi

# Quest has environment modules (`module load ...`); a laptop or a plain Slurm has not.
# Each call is guarded, so the same scripts run everywhere.
have_modules() { command -v module >/dev/null 2>&1; }

load_conda() {
    if have_modules; then
        module load mamba
    fi
    command -v conda >/dev/null 2>&1 || {
        echo "error: conda not found (on Quest: module load mamba)" >&2
        return 1
    }
    eval "$(conda shell.bash hook)"
}

# The container runtime to use (its path), or an error saying what to load.
find_container_runtime() {
    local runtime candidates=(apptainer singularity)
    if [[ -n $PROJECT_CONTAINER_RUNTIME ]]; then
        candidates=("$PROJECT_CONTAINER_RUNTIME")
    fi
    for runtime in "${candidates[@]}"; do
        # On Quest the runtime may come as a module (quietly skipped where there is none).
        if ! command -v "$runtime" >/dev/null 2>&1 && have_modules; then
            module load "$runtime" >/dev/null 2>&1 || true
        fi
        # The full path: a module loaded here (in $(...)) is not loaded in the caller.
        if command -v "$runtime" 2>/dev/null; then
            return 0
        fi
    done
    if [[ -n $PROJECT_CONTAINER_RUNTIME ]]; then
        echo "error: PROJECT_CONTAINER_RUNTIME=$PROJECT_CONTAINER_RUNTIME: no such command" >&2
    else
        echo "error: neither apptainer nor singularity found" >&2
        echo "  On Quest: module load apptainer   (or: module avail apptainer singularity)" >&2
    fi
    return 1
}

# Set PYTHON_CMD to run `python` inside the image PROJECT_CONTAINER with RUNTIME.
# The image is read-only and runs as you; the project directory is bound at its own
# path and is the working directory, so logs, checkpoints and results land here.
# Your code comes from the project's src/ (PYTHONPATH), the libraries from the image.
# Signals (USR1 before the time limit, TERM) go straight to python, as without a container.
container_python() {
    local runtime=$1 src="$PWD/src"
    case "$(basename "$runtime")" in
        apptainer | singularity)
            # exec: run one command in the image. --nv: the host's NVIDIA driver and the
            # job's GPUs (CUDA_VISIBLE_DEVICES and all SLURM_* variables pass in as they are).
            PYTHON_CMD=("$runtime" exec --nv --bind "$PWD" --pwd "$PWD"
                --env "PYTHONPATH=$src" "$PROJECT_CONTAINER" python)
            ;;
        ch-run)
            # Charliecloud: --set-env = the image's ENV (the venv on PATH), then PYTHONPATH;
            # -b binds the project, -c starts there. (Not --home: it covers all of /home,
            # and with it the image's venv in /home/student.)
            PYTHON_CMD=("$runtime" --set-env "--set-env=PYTHONPATH=$src"
                -b "$PWD" -c "$PWD" "$PROJECT_CONTAINER" -- python)
            ;;
        *)
            echo "error: PROJECT_CONTAINER_RUNTIME=$runtime: use apptainer, singularity or ch-run" >&2
            return 1
            ;;
    esac
}

# Activate the environment made by slurm/setup_env.sh: a conda environment on Quest,
# a venv elsewhere. Fails with a clear message if it does not exist yet.
# With PROJECT_CONTAINER set, use that image instead (see container_python above).
activate_env() {
    if [[ -n $PROJECT_CONTAINER ]]; then
        if [[ ! -r "$PROJECT_CONTAINER" ]]; then
            echo "error: PROJECT_CONTAINER=$PROJECT_CONTAINER: no such image" >&2
            echo "  Make it once on a login node:  bash slurm/setup_container.sh" >&2
            return 1
        fi
        local runtime
        runtime="$(find_container_runtime)" || return 1
        container_python "$runtime" || return 1
        echo "container:  ${PYTHON_CMD[*]}"
        export PYTHONUNBUFFERED=1
        return 0
    fi
    if [[ ! -x "$PROJECT_ENV/bin/python" ]]; then
        echo "error: no Python environment at PROJECT_ENV=$PROJECT_ENV" >&2
        echo "  Make it once on a login node:  bash slurm/setup_env.sh" >&2
        echo "  or point the job at yours:     sbatch --export=ALL,PROJECT_ENV=/path/to/env ..." >&2
        return 1
    fi
    check_env_is_yours || return 1
    if have_modules; then
        module purge  # start from a clean slate: no modules inherited from your login shell
    fi
    # Activation scripts read unset variables, so relax `set -u` around them.
    set +u
    if [[ -d "$PROJECT_ENV/conda-meta" ]]; then
        load_conda && conda activate "$PROJECT_ENV"
    else
        # shellcheck source=/dev/null
        source "$PROJECT_ENV/bin/activate"
    fi
    set -u
    # Logs appear as they are written, not when Python's buffer fills up.
    export PYTHONUNBUFFERED=1
}

# The environment is code that every job runs: refuse one that another user owns or
# can change (they would run code as you, with your files and your allocation).
# Checked: every file and folder in it -- bin/, activate, and site-packages too (another
# user's .pth file or module would run as you as well). Files of root's are fine: a venv's
# python links to the system's, which root or the cluster's staff own.
check_env_is_yours() {
    local path why=""
    # -H: follow PROJECT_ENV itself if it is a link; links inside have no mode of their
    # own (their targets are checked where they lie). uv's .lock holds no code.
    path="$(find -H "$PROJECT_ENV" ! -type l ! -path "$PROJECT_ENV/.lock" \( -perm -020 \
        -o -perm -002 -o ! \( -user "$(id -u)" -o -user 0 \) \) -print -quit 2>/dev/null)"
    if [[ -z "$path" ]]; then
        return 0
    elif [[ ! -O "$path" && -z "$(find "$path" -maxdepth 0 -user 0)" ]]; then
        why="$path belongs to $(stat -c %U "$path" 2>/dev/null || echo 'another user'), not to you"
    else
        why="$path can be changed by other users (mode $(stat -c %A "$path" 2>/dev/null))"
    fi
    echo "error: refusing the Python environment PROJECT_ENV=$PROJECT_ENV: $why." >&2
    echo "  Use one only you can change: make your own with  bash slurm/setup_env.sh" >&2
    echo "  (and PROJECT_ENV=/a/path/of/yours), or, if it is yours:  chmod -R go-w $PROJECT_ENV" >&2
    return 1
}

# What ran, where and with which resources: the first thing to read in a log.
job_banner() {
    echo "=== ${SLURM_JOB_NAME:-$(basename "$0")} job ${SLURM_JOB_ID:-(not under Slurm)}" \
        "${SLURM_ARRAY_TASK_ID:+array task $SLURM_ARRAY_TASK_ID }started $(date '+%F %T')"
    echo "host:       $(hostname)"
    echo "partition:  ${SLURM_JOB_PARTITION:-none}   account: ${SLURM_JOB_ACCOUNT:-none}"
    echo "nodes:      ${SLURM_JOB_NODELIST:-$(hostname)}   tasks: ${SLURM_NTASKS:-1}"
    echo "GPUs:       CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-<not set: no GPU requested>}"
    echo "restarts:   ${SLURM_RESTART_COUNT:-0}"
    echo "directory:  $PWD"
    echo "PROJECT_ENV=$PROJECT_ENV${PROJECT_CONTAINER:+ (not used: PROJECT_CONTAINER=$PROJECT_CONTAINER)}"
}

# The training command a jobscript runs: its first argument when that is a name (no
# leading dash: fit, vae, chars), else fit. Sets COMMAND and COMMAND_ARGS (the rest).
#   sbatch slurm/train.sh vae --steps 20000     sbatch slurm/train.sh --model box
# shellcheck disable=SC2034  # COMMAND and COMMAND_ARGS are for the scripts that call this
choose_command() {
    COMMAND=fit
    if [[ $# -gt 0 && $1 != -* ]]; then
        COMMAND=$1
        shift
    fi
    COMMAND_ARGS=("$@")
}

# Slurm's warning (USR1) or a TERM may come while the environment still loads (conda
# takes seconds, a busy file system longer): bash's default would end the job there, with
# no requeue. A jobscript that calls remember_signals first keeps such a signal for
# run_resumable, which requeues (USR1) or stops (TERM) without starting the fit.
early_signal=""
remember_signals() {
    trap 'early_signal=USR1' USR1
    trap 'early_signal=TERM' TERM
}

# Run a fit that checkpoints when signalled, and requeue the job at the time-limit warning.
#   run_resumable RESUME RESULT COMMAND...
# RESUME is the command that resumes by hand (shown if the fit fails). COMMAND's stdout (the fit's JSON) goes to RESULT. Slurm's warning (USR1, from
# `#SBATCH --signal=B:USR1@120`) is passed on to COMMAND, which saves a checkpoint
# and exits with code 75; then the job is requeued under the same id and resumes.
# TERM (scancel, or the limit itself) is passed on too, but does not requeue.
run_resumable() {
    local resume=$1 result=$2
    shift 2
    local pid="" requeue=no status=0
    trap 'requeue=yes; [[ -n $pid ]] && kill -USR1 "$pid" 2>/dev/null || true' USR1
    trap '[[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null || true' TERM
    if [[ -n $early_signal ]]; then
        # It came while the environment was loading: nothing ran, so nothing to save.
        echo "$early_signal arrived before the fit started"
        [[ $early_signal == USR1 ]] && requeue=yes && status=138 || status=143
    else
        # In the background, so this script can pass signals on to it.
        "$@" >"$result.part" &
        pid=$!
        # A warning between the traps above and this line: pass it on now.
        if [[ $requeue == yes ]]; then kill -USR1 "$pid" 2>/dev/null || true; fi
        # `wait` returns early when a signal arrives; wait again until COMMAND has exited.
        while true; do
            wait "$pid" && status=0 || status=$?
            kill -0 "$pid" 2>/dev/null || break
        done
    fi
    if [[ $status -eq 0 ]]; then
        mv "$result.part" "$result"
        echo "finished: $result"
        cat "$result"
    elif [[ $requeue == yes && -n "${SLURM_JOB_ID:-}" ]]; then
        echo "fit stopped with exit code $status at the time-limit warning; requeueing job $SLURM_JOB_ID"
        scontrol requeue "$SLURM_JOB_ID"
    else
        rm -f "$result.part"  # no half-written result left behind
        echo "fit stopped with exit code $status; resume with: $resume" >&2
        exit "$status"
    fi
}
