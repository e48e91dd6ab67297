#!/bin/bash
# Training that survives the time limit: fit a density by maximum likelihood with
# checkpoints. Slurm sends USR1 two minutes before --time runs out; the fit saves a
# checkpoint and stops, this script puts the job back in the queue (same job id),
# and the restarted job resumes from the checkpoint.
#   sbatch slurm/train.sh                                  # default model (below)
#   sbatch slurm/train.sh --model gaussian --steps 5000    # any `fit` options
#   sbatch slurm/train.sh vae --steps 20000                # a starter (vae, chars) and its options
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
{%- if cookiecutter.email != "abc1234@u.northwestern.edu" %}
#SBATCH --mail-type=END,FAIL
#SBATCH --mail-user={{ cookiecutter.email }}
{%- else %}
# No job e-mail: the address is still the template's example (the NetID abc1234 was
# kept), and mail to it could reach a stranger. Generate again with your NetID.
{%- endif %}
# B: = signal this script (not only its programs); @120 = 120 s before the limit
# (so give the job a --time well above 2 minutes).
#SBATCH --signal=B:USR1@120
#SBATCH --requeue

set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
# shellcheck source=common.sh
source slurm/common.sh
remember_signals  # a signal before the fit starts is acted on, not fatal
job_banner
activate_env

# The command (fit, vae, chars): the first argument when it names one, else fit.
choose_command "$@"
set -- "${COMMAND_ARGS[@]}"
# fit's options: the ones given to sbatch after the script (and command) name, or these.
if [[ $COMMAND == fit && $# -eq 0 ]]; then
    set -- --model gmm --components 3 --steps 3000
fi
# Same job id after a requeue, so the restarted job finds its own checkpoint.
run_id="${SLURM_JOB_NAME:-train}-${SLURM_JOB_ID:-local}"
checkpoints="${CHECKPOINT_DIR:-checkpoints/$run_id}"
result="results/$run_id.json"
mkdir -p "$checkpoints" results
# The starters write pictures or text: a folder per job (an --outdir of yours wins).
outputs=()
if [[ $COMMAND != fit ]]; then
    outputs=(--outdir "outputs/$run_id")
fi
echo "$COMMAND $* (checkpoints in $checkpoints)"

# USR1 (the time-limit warning) -> checkpoint, requeue, resume; see common.sh.
resume="sbatch --export=ALL,CHECKPOINT_DIR=$checkpoints slurm/train.sh $COMMAND $*"
run_resumable "$resume" "$result" "${PYTHON_CMD[@]}" -m "$PACKAGE" "$COMMAND" --logdir "logs/tensorboard/$run_id" "${outputs[@]}" "$@" \
    --checkpoint-dir "$checkpoints" --json
