#!/bin/bash
# Scale-out: ONE fit on several {% if cookiecutter.gpu != "none" %}GPUs{% else %}CPU workers{% endif %} and nodes, with MultiWorkerMirroredStrategy.
# srun starts one worker per task; each computes the gradient of its slice of every
# batch, the workers add their gradients, and all take the same step. Same global
# batch and seed -> the same parameters as one worker (up to rounding).
#   sbatch slurm/multiworker.sh                                      # default fit (below)
#   sbatch slurm/multiworker.sh --model gmm --batch-size 4096 --steps 5000
#   sbatch --nodes=2 slurm/multiworker.sh ...                        # more nodes
#   sbatch slurm/multiworker.sh chars --batch-size 256 --steps 5000  # a starter (vae, chars)
# Results (the chief, worker 0, writes them): results/multiworker-<jobid>.json
# Log (every worker): logs/multiworker-<jobid>.out
#SBATCH --job-name=multiworker
#SBATCH --account={{ cookiecutter.quest_account }}
#SBATCH --partition={{ cookiecutter.partition }}
#SBATCH --nodes={{ cookiecutter.nodes }}
{%- if cookiecutter.gpu != "none" %}
# One worker (task) per GPU.
#SBATCH --ntasks-per-node={{ cookiecutter.gpus_per_node }}
#SBATCH --gres=gpu:{% if cookiecutter.gpu != "any" %}{{ cookiecutter.gpu }}:{% endif %}{{ cookiecutter.gpus_per_node }}
{%- else %}
# No GPUs: two CPU workers per node (to try scale-out; one CPU fit is often as fast).
#SBATCH --ntasks-per-node=2
{%- endif %}
#SBATCH --time={{ cookiecutter.walltime }}
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
# As in train.sh: USR1 120 s before the time limit -> checkpoint, requeue, resume.
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
    set -- --model gmm --components 3 --steps 3000 --batch-size 1000
fi
run_id="${SLURM_JOB_NAME:-multiworker}-${SLURM_JOB_ID:-local}"
checkpoints="${CHECKPOINT_DIR:-checkpoints/$run_id}"
result="results/$run_id.json"
mkdir -p "$checkpoints" results
# The starters write pictures or text: a folder per job (an --outdir of yours wins).
outputs=()
if [[ $COMMAND != fit ]]; then
    outputs=(--outdir "outputs/$run_id")
fi
echo "$COMMAND $* on ${SLURM_NTASKS:-1} workers (checkpoints in $checkpoints)"

# srun passes USR1 and TERM on to every worker; the workers agree to stop together.
# --kill-on-bad-exit=1: if one worker dies, srun stops the others at once (they
# would otherwise wait forever for its share of the gradient).
# Only the chief prints the result, so stdout is the chief's JSON.
resume="sbatch --export=ALL,CHECKPOINT_DIR=$checkpoints slurm/multiworker.sh $COMMAND $*"
run_resumable "$resume" "$result" srun --kill-on-bad-exit=1 \
    "${PYTHON_CMD[@]}" -m "$PACKAGE" "$COMMAND" --logdir "logs/tensorboard/$run_id" "${outputs[@]}" "$@" --checkpoint-dir "$checkpoints" --json
