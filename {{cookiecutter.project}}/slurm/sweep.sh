#!/bin/bash
# Hyper-parameter sweep as a job array: task N runs the fit with row N of
# slurm/sweep.csv (header = `fit` option names, one row per run; an empty cell
# leaves that option out). %4 = at most 4 tasks run at once, so a big sweep does not
# take over the queue. Keep 1-8 in step with the number of rows in the table.
#   sbatch slurm/sweep.sh
#   sbatch --array=1-12%4 slurm/sweep.sh        # after adding rows 9-12
#   python -m {{ cookiecutter.package }} sweep-summary results/sweep-<jobid>     # the best runs
#SBATCH --job-name=sweep
#SBATCH --array=1-8%4
#SBATCH --account={{ cookiecutter.quest_account }}
#SBATCH --partition={{ cookiecutter.partition }}
{%- if cookiecutter.gpu != "none" %}
# Each task is one small fit on one GPU.
#SBATCH --gres=gpu:{% if cookiecutter.gpu != "any" %}{{ cookiecutter.gpu }}:{% endif %}1
{%- endif %}
#SBATCH --time={{ cookiecutter.walltime }}
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --mem={{ cookiecutter.mem }}
# %A = the array's job id, %a = this task's index: one log per task.
#SBATCH --output=logs/%x-%A_%a.out
{%- if cookiecutter.email != "abc1234@u.northwestern.edu" %}
#SBATCH --mail-type=END,FAIL
#SBATCH --mail-user={{ cookiecutter.email }}
{%- else %}
# No job e-mail: the address is still the template's example (the NetID abc1234 was
# kept), and mail to it could reach a stranger. Generate again with your NetID.
{%- endif %}

set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
# shellcheck source=common.sh
source slurm/common.sh

table="${SWEEP_TABLE:-slurm/sweep.csv}"
# Outside Slurm, try one row by hand:  TASK=3 bash slurm/sweep.sh
task="${SLURM_ARRAY_TASK_ID:-${TASK:-}}"
if [[ ! "$task" =~ ^[1-9][0-9]*$ ]]; then
    echo "error: no array task index: submit with sbatch (or run TASK=<row> bash $0)" >&2
    exit 2
fi
if [[ ! -f "$table" ]]; then
    echo "error: parameter table $table not found" >&2
    exit 2
fi
rows=$(($(grep -c . "$table") - 1))
if ((task > rows)); then
    echo "error: task $task, but $table has only $rows rows: submit with --array=1-$rows%4" >&2
    exit 2
fi

# Header and row N as arrays; `tr -d '\r'` forgives a table saved on Windows.
IFS=, read -r -a names < <(head -n 1 "$table" | tr -d '\r')
IFS=, read -r -a values < <(grep . "$table" | sed -n "$((task + 1))p" | tr -d '\r')
args=()
for i in "${!names[@]}"; do
    if [[ -n "${values[i]:-}" ]]; then
        args+=("--${names[i]}" "${values[i]}")
    fi
done

job_banner
activate_env

out="results/sweep-${SLURM_ARRAY_JOB_ID:-local}"
mkdir -p "$out"
# A copy of the table beside the results, so sweep-summary shows what each task ran.
cp "$table" "$out/sweep.csv.$task" && mv -f "$out/sweep.csv.$task" "$out/sweep.csv"
echo "task $task: fit ${args[*]}"
"${PYTHON_CMD[@]}" -m "$PACKAGE" fit --logdir "logs/tensorboard/sweep-${SLURM_ARRAY_JOB_ID:-local}/task-$task" \
    "${args[@]}" --json >"$out/task-$task.json.part"
mv "$out/task-$task.json.part" "$out/task-$task.json"
echo "result: $out/task-$task.json"
cat "$out/task-$task.json"
