#!/bin/bash
# GPU check: your first Quest job. It reports what TensorFlow sees{% if cookiecutter.gpu != "none" %}, and fails if it
# sees no GPU{% endif %}. It takes about a minute, so it asks for little whatever you answered
# for training: {% if cookiecutter.gpu != "none" %}one GPU{% else %}the short partition{% endif %}, one node, 10 minutes, 16G of memory.
# Small requests start soonest: the scheduler fits them into gaps between big jobs.
#   cd {{ cookiecutter.project }} && sbatch slurm/gpu_check.sh
#   cat logs/gpu-check-<jobid>.out
# Slurm reads the #SBATCH lines below (they must come before the first command).
#SBATCH --job-name=gpu-check
#SBATCH --account={{ cookiecutter.quest_account }}
#SBATCH --partition={{ cookiecutter.partition if cookiecutter.gpu != "none" else "short" }}
{%- if cookiecutter.gpu != "none" %}
#SBATCH --gres=gpu:{% if cookiecutter.gpu != "any" %}{{ cookiecutter.gpu }}:{% endif %}1
{%- endif %}
#SBATCH --time=00:10:00
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --mem=16G
#SBATCH --output=logs/%x-%j.out
{%- if cookiecutter.email != "abc1234@u.northwestern.edu" %}
#SBATCH --mail-type=END,FAIL
#SBATCH --mail-user={{ cookiecutter.email }}
{%- else %}
# No job e-mail: the address is still the template's example (the NetID abc1234 was
# kept), and mail to it could reach a stranger. Generate again with your NetID.
{%- endif %}

# Stop at the first failing command, unset variable or failing pipe stage.
set -euo pipefail

# Jobs start in the directory you ran sbatch from: the project's root.
cd "${SLURM_SUBMIT_DIR:-.}"
# shellcheck source=common.sh
source slurm/common.sh
job_banner
activate_env
{% if cookiecutter.gpu != "none" %}
# --require-gpu: exit code 3 (job FAILED) if TensorFlow finds no GPU, instead of
# quietly running on the CPU.
srun "${PYTHON_CMD[@]}" -m "$PACKAGE" gpu-check --require-gpu
{%- else %}
srun "${PYTHON_CMD[@]}" -m "$PACKAGE" gpu-check
{%- endif %}
