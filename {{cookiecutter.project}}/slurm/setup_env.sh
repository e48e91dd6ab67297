#!/bin/bash
# Make the Python environment the jobscripts use. Run it ONCE on a Quest login node
# (compute nodes have no internet), from the project's root:
#   bash slurm/setup_env.sh
# On Quest it makes a conda environment (module load mamba); where there is no conda,
# a venv (with uv if installed: much faster). It installs exactly the versions of the lock
# (requirements/*.txt, from uv.lock: the same as your laptop, the images and CI), and
# stops if the lock is older than pyproject.toml. Running it again updates the environment.
# Settings (environment variables):
#   PROJECT_ENV=/path     where to put it (default below, in slurm/common.sh)
#   PROJECT_EXTRAS=gpu    extras to install: gpu (CUDA TensorFlow) or cpu, and optionally
#                         test or dev, comma-separated (e.g. gpu,dev)
#   PYTHON=/path/python   the Python for a venv (default: python{{ cookiecutter.python_version }})
set -euo pipefail

project_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$project_root"
# shellcheck source=common.sh
source slurm/common.sh

python_version="{{ cookiecutter.python_version }}"
extras="${PROJECT_EXTRAS-gpu}"  # unset: gpu; set but empty: an error below
die() {
    echo "error: $*" >&2
    exit 2
}

# Check the settings before touching anything.
[[ "$PROJECT_ENV" == /* ]] || die "PROJECT_ENV must be an absolute path, not '$PROJECT_ENV'"
[[ -n "$extras" ]] || die "PROJECT_EXTRAS is empty; use gpu (Quest) or cpu"
IFS=, read -r -a wanted <<<"$extras"
variant="" tools=""
for extra in "${wanted[@]}"; do
    case "$extra" in
        gpu | cpu) [[ -z "$variant" || "$variant" == "$extra" ]] ||
            die "PROJECT_EXTRAS: gpu and cpu exclude each other (one TensorFlow per environment)"
            variant="$extra" ;;
        test) [[ "$tools" == dev ]] || tools="test" ;;
        dev) tools="dev" ;;  # dev includes test
        *) die "PROJECT_EXTRAS: unknown extra '$extra' (choose from gpu, cpu, test, dev, comma-separated)" ;;
    esac
done
[[ -n "$variant" ]] || die "PROJECT_EXTRAS: name gpu (Quest) or cpu, e.g. PROJECT_EXTRAS=gpu,dev"
# The lock's file for these extras: requirements/gpu.txt, cpu-test.txt, gpu-dev.txt, ...
pins="requirements/$variant${tools:+-$tools}.txt"
if [[ -n "${SLURM_JOB_ID:-}" ]]; then
    echo "warning: running inside Slurm job $SLURM_JOB_ID: Quest compute nodes have no internet," >&2
    echo "         run this on a login node instead." >&2
fi

if [[ -x "$PROJECT_ENV/bin/python" ]]; then
    check_env_is_yours || exit 2  # before running anything from it
    echo "Environment exists: $PROJECT_ENV (updating it)"
elif [[ -e "$PROJECT_ENV" && -n "$(ls -A "$PROJECT_ENV" 2>/dev/null)" ]]; then
    die "$PROJECT_ENV exists but is not a Python environment; choose another PROJECT_ENV or remove it"
else
    # umask 077 (common.sh): the new folders and the environment are yours alone.
    mkdir -p "$(dirname "$PROJECT_ENV")" ||
        die "cannot create $(dirname "$PROJECT_ENV"); set PROJECT_ENV to a place you can write, e.g. \$HOME/envs/{{ cookiecutter.project }}"
    if have_modules || command -v conda >/dev/null 2>&1; then
        echo "Creating a conda environment with Python $python_version: $PROJECT_ENV"
        load_conda
        # mamba is conda's faster drop-in; either creates the same environment.
        if command -v mamba >/dev/null 2>&1; then conda_cmd=mamba; else conda_cmd=conda; fi
        "$conda_cmd" create --yes --prefix "$PROJECT_ENV" "python=$python_version" pip
    else
        python="${PYTHON:-python$python_version}"
        command -v "$python" >/dev/null 2>&1 ||
            die "Python $python_version not found as '$python'; set PYTHON=/path/to/python$python_version"
        echo "Creating a venv with $python: $PROJECT_ENV"
        if command -v uv >/dev/null 2>&1; then
            uv venv --quiet --python "$python" "$PROJECT_ENV"
        else
            "$python" -m venv "$PROJECT_ENV"
        fi
    fi
fi

# The lock must be in step with pyproject.toml (else: the one command that updates it).
"$PROJECT_ENV/bin/python" requirements/check.py "$(basename "$pins" .txt)" ||
    die "nothing was installed; after \`nox -s lock\` run this script again"
echo "Installing the locked versions ($pins), then the project (editable)"
# --no-deps --require-hashes: exactly the listed files, nothing resolved, nothing else.
if command -v uv >/dev/null 2>&1; then
    # Bytecode compiled once here makes every job's imports faster.
    export UV_COMPILE_BYTECODE="${UV_COMPILE_BYTECODE:-1}"
    uv pip install --quiet --python "$PROJECT_ENV/bin/python" --no-deps --require-hashes -r "$pins"
    uv pip install --quiet --python "$PROJECT_ENV/bin/python" --no-deps -e .
else
    "$PROJECT_ENV/bin/python" -m pip install --quiet --no-deps --require-hashes -r "$pins"
    "$PROJECT_ENV/bin/python" -m pip install --quiet --no-deps -e .
fi

# Prove the environment works: the package imports and TensorFlow loads
# (TensorFlow's start-up chatter is shown only if that fails).
check="import $PACKAGE, tensorflow as tf; print('$PACKAGE', $PACKAGE.__version__, '| TensorFlow', tf.__version__)"
if ! { noise="$(TF_CPP_MIN_LOG_LEVEL=2 "$PROJECT_ENV/bin/python" -c "$check" 2>&1 >&3)"; } 3>&1; then
    echo "$noise" >&2
    die "the environment does not import $PACKAGE and TensorFlow (messages above)"
fi

echo
echo "Ready. The jobscripts find this environment through PROJECT_ENV."
if [[ "$PROJECT_ENV" == "$DEFAULT_PROJECT_ENV" ]]; then
    echo "It is the default location, so simply:  sbatch slurm/gpu_check.sh"
else
    echo "It is not the default ($DEFAULT_PROJECT_ENV), so tell each job:"
    echo "  sbatch --export=ALL,PROJECT_ENV=$PROJECT_ENV slurm/gpu_check.sh"
fi
