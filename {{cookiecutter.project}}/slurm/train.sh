#!/bin/bash
# Training that survives the time limit: fit a density by maximum likelihood with
# checkpoints. Slurm sends USR1 two minutes before --time runs out; the fit saves a
# checkpoint and stops, this script puts the job back in the queue (same job id),
# and the restarted job resumes from the checkpoint.
#   sbatch slurm/train.sh                                  # default model (below)
#   sbatch slurm/train.sh --model gaussian --steps 5000    # any `fit` options
# Results: results/train-<jobid>.json   Log (all restarts): logs/train-<jobid>.out
#SBATCH --job-name=train
#SBATCH --account={{ cookiecutter.quest_account }}
#SBATCH --partition={{ cookiecutter.partition }}
{%- if cookiecutter.gpu != "none" %}
# One fit uses one GPU: asking for more only makes the job wait longer.
#SBATCH --gres=gpu:{% if cookiecutter.gpu != "any" %}{{ cookiecutter.gpu }}:{% endif %}1
{%- endif %}
#SBATCH --time={{ cookiecutter.walltime }}
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --mem={{ cookiecutter.mem }}
#SBATCH --output=logs/%x-%j.out
#SBATCH --open-mode=append
#SBATCH --mail-type=END,FAIL
#SBATCH --mail-user={{ cookiecutter.email }}
# B: = signal this script (not only its programs); @120 = 120 s before the limit
# (so give the job a --time well above 2 minutes).
#SBATCH --signal=B:USR1@120
#SBATCH --requeue

set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
# shellcheck source=common.sh
source slurm/common.sh
job_banner
activate_env

# The fit's options: the ones given to sbatch after the script name, or these.
if [[ $# -eq 0 ]]; then
    set -- --model gmm --components 3 --steps 3000
fi
# Same job id after a requeue, so the restarted job finds its own checkpoint.
run_id="${SLURM_JOB_NAME:-train}-${SLURM_JOB_ID:-local}"
checkpoints="${CHECKPOINT_DIR:-checkpoints/$run_id}"
result="results/$run_id.json"
mkdir -p "$checkpoints" results
echo "fit $* (checkpoints in $checkpoints)"

fit_pid=""
requeue=no
# USR1: Slurm's warning before the time limit -> checkpoint, then requeue.
trap 'requeue=yes; [[ -n $fit_pid ]] && kill -USR1 "$fit_pid" 2>/dev/null || true' USR1
# TERM: scancel or the limit itself -> checkpoint and stop (no requeue).
trap '[[ -n $fit_pid ]] && kill -TERM "$fit_pid" 2>/dev/null || true' TERM

# Run the fit in the background so this script can pass signals on to it.
python -m "$PACKAGE" fit "$@" --checkpoint-dir "$checkpoints" --json >"$result.part" &
fit_pid=$!

# `wait` returns early when a signal arrives; wait again until the fit has exited.
status=0
while true; do
    wait "$fit_pid" && status=0 || status=$?
    kill -0 "$fit_pid" 2>/dev/null || break
done

if [[ $status -eq 0 ]]; then
    mv "$result.part" "$result"
    echo "finished: $result"
    cat "$result"
elif [[ $requeue == yes && -n "${SLURM_JOB_ID:-}" ]]; then
    # Exit code 75: the fit saved a checkpoint and stopped early.
    echo "fit stopped with exit code $status at the time-limit warning; requeueing job $SLURM_JOB_ID"
    scontrol requeue "$SLURM_JOB_ID"
else
    echo "fit stopped with exit code $status; checkpoints kept in $checkpoints" >&2
    echo "resume with: sbatch --export=ALL,CHECKPOINT_DIR=$checkpoints slurm/train.sh $*" >&2
    exit "$status"
fi
