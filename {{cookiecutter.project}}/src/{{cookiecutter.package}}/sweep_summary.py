"""Sweep summary: rank the runs of a hyper-parameter sweep and name the best.

``slurm/sweep.sh`` is a Slurm job array: task N fits the model with row N of
``slurm/sweep.csv`` and writes ``results/sweep-<jobid>/task-N.json`` (the ``fit``
command's JSON report) next to a copy of the table. This command reads that folder
and ranks the runs by their negative log-likelihood per point (lower is better).

    python -m <package> sweep-summary results/sweep-123456

Tasks without a result (still running, or failed: read their logs) are listed, and
a result file that cannot be read is reported and skipped, never silently used.
"""

import argparse
import csv
import json
import math
import re
import sys
from pathlib import Path

from .cli_types import positive_int

TASK_FILE = re.compile(r"task-([0-9]+)\.json")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "sweep-summary",
        help="rank the results of a sweep (slurm/sweep.sh) by NLL and name the best",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "results", type=Path, help="the sweep's result folder, e.g. results/sweep-123456"
    )
    parser.add_argument(
        "--top", type=positive_int, default=5, help="how many runs to list (default: 5)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the summary as one JSON object on stdout"
    )
    parser.set_defaults(func=run)
    return parser


def read_table(folder: Path) -> list[dict[str, str]]:
    """The sweep's parameter rows (row 1 = task 1), from the copy sweep.sh saved."""
    table = folder / "sweep.csv"
    if not table.is_file():
        return []
    with table.open(newline="") as handle:
        return [row for row in csv.DictReader(handle) if any(row.values())]


def read_results(folder: Path) -> tuple[dict[int, dict], list[str]]:
    """{task: fit report} for every readable task-N.json, and a problem per bad file."""
    results, problems = {}, []
    for path in sorted(folder.glob("task-*.json")):
        match = TASK_FILE.fullmatch(path.name)
        if not match:
            continue
        try:
            report = json.loads(path.read_text())
            nll = float(report["nll"])
        except (OSError, ValueError, TypeError, KeyError) as err:
            problems.append(f"{path}: not a fit result ({type(err).__name__}: {err})")
            continue
        report["nll"] = nll
        results[int(match[1])] = report
    return results, problems


def settings(row: dict[str, str]) -> str:
    """A table row as 'name=value ...', leaving out empty cells."""
    return " ".join(f"{name}={value}" for name, value in row.items() if value)


def rank(results: dict[int, dict], table: list[dict[str, str]]) -> list[dict]:
    """Runs sorted best first; a NaN or infinite NLL (a diverged fit) sorts last."""
    runs = []
    for task, report in results.items():
        row = table[task - 1] if 0 < task <= len(table) else {}
        runs.append(
            {
                "task": task,
                "nll": report["nll"],
                "model": report.get("model", row.get("model", "?")),
                "settings": row,
                "params": report.get("params"),
            }
        )
    return sorted(runs, key=lambda r: (not math.isfinite(r["nll"]), r["nll"], r["task"]))


def run(args: argparse.Namespace) -> int:
    folder: Path = args.results
    if not folder.is_dir():
        print(
            f"error: {folder} is not a folder; give the sweep's result folder, "
            "e.g. results/sweep-<jobid> (see `ls results`)",
            file=sys.stderr,
        )
        return 2
    table = read_table(folder)
    results, problems = read_results(folder)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    expected = set(range(1, len(table) + 1))
    missing = sorted(expected - set(results))
    if not results:
        print(f"error: no task results (task-N.json) in {folder}", file=sys.stderr)
        return 1

    runs = rank(results, table)
    best = runs[0]
    if args.json:
        summary = {"best": best, "ranked": runs, "missing": missing, "problems": problems}
        print(json.dumps(summary))
        return 0

    print(f"{len(runs)} runs in {folder}, best first (NLL = mean negative log-likelihood, nats)")
    print(f"{'rank':>4}  {'task':>4}  {'NLL':>10}  settings")
    for place, entry in enumerate(runs[: args.top], start=1):
        described = settings(entry["settings"]) or f"model={entry['model']}"
        print(f"{place:>4}  {entry['task']:>4}  {entry['nll']:>10.4f}  {described}")
    if missing:
        listed = ", ".join(map(str, missing))
        print(
            f"no result yet for task(s) {listed}: still running or failed "
            f"(see logs/{folder.name}_<task>.out)"
        )
    described = settings(best["settings"]) or f"model={best['model']}"
    print(f"best: task {best['task']} ({described}) with NLL {best['nll']:.4f}")
    return 0
