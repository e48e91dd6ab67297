#!/bin/bash
# A student's jobscript for their own model (tests/test_own_model.py copies it into a baked
# project's slurm/): the lines of the generated train.sh / multiworker.sh, with
# `python vae.py` in place of `python -m <package> fit`. One worker per task:
#   sbatch slurm/vae.sh --steps 600                          # one worker
#   sbatch --ntasks-per-node=2 slurm/vae.sh --steps 600      # two (MultiWorkerMirroredStrategy)
#SBATCH --job-name=vae
#SBATCH --partition=short
#SBATCH --time=00:30:00
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --output=logs/%x-%j.out
#SBATCH --open-mode=append
#SBATCH --signal=B:USR1@120
#SBATCH --requeue

set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
# shellcheck source=/dev/null  # the baked project's slurm/common.sh (this file is copied there)
source slurm/common.sh
job_banner
activate_env

# Same job id after a requeue, so the restarted job finds its own checkpoint.
run_id="${SLURM_JOB_NAME:-vae}-${SLURM_JOB_ID:-local}"
checkpoints="${CHECKPOINT_DIR:-checkpoints/$run_id}"
result="results/$run_id.json"
mkdir -p "$checkpoints" results
echo "vae.py $* on ${SLURM_NTASKS:-1} worker(s) (checkpoints in $checkpoints)"

# USR1 (the time-limit warning) -> checkpoint, requeue, resume; see common.sh.
resume="sbatch --export=ALL,CHECKPOINT_DIR=$checkpoints slurm/vae.sh $*"
run_resumable "$resume" "$result" srun --kill-on-bad-exit=1 \
    "${PYTHON_CMD[@]}" vae.py --logdir "logs/tensorboard/$run_id" --weights "results/$run_id.npz" \
    "$@" --checkpoint-dir "$checkpoints"
