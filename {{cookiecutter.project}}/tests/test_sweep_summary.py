"""sweep-summary ranks a sweep's results by NLL, names the best and flags gaps."""

import json
import re

import pytest

TABLE = "model,components,lr\ngaussian,,0.05\ngmm,2,0.05\ngmm,3,0.05\nbox,,\n"


@pytest.fixture
def sweep(tmp_path):
    """A result folder as slurm/sweep.sh leaves it: the table and one JSON per task."""
    folder = tmp_path / "sweep-42"
    folder.mkdir()
    (folder / "sweep.csv").write_text(TABLE)
    nlls = {1: 2.5, 2: 1.75, 3: float("nan")}  # task 3 diverged; task 4 has no result
    for task, nll in nlls.items():
        report = {"model": "gmm", "nll": nll, "params": {"w": [1.0]}, "steps": 10}
        (folder / f"task-{task}.json").write_text(json.dumps(report))
    return folder


def test_best_run_is_named_and_gaps_are_listed(cli, sweep):
    done = cli("sweep-summary", str(sweep))
    assert done.returncode == 0, done.stderr
    ranked = re.findall(r"^ +\d+ +(\d+) +\S+ ", done.stdout, flags=re.MULTILINE)
    assert ranked == ["2", "1", "3"]  # NaN sorts last
    assert "best: task 2 (model=gmm components=2 lr=0.05)" in done.stdout
    assert "task(s) 4" in done.stdout
    assert "logs/sweep-42_<task>.out" in done.stdout


def test_json_summary(cli, sweep):
    done = cli("sweep-summary", str(sweep), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["best"]["task"] == 2
    assert summary["best"]["settings"] == {"model": "gmm", "components": "2", "lr": "0.05"}
    assert summary["missing"] == [4]
    assert [run["task"] for run in summary["ranked"]] == [2, 1, 3]


def test_unreadable_result_is_reported_not_used(cli, sweep):
    (sweep / "task-4.json").write_text("{not json")
    done = cli("sweep-summary", str(sweep))
    assert done.returncode == 0
    assert "task-4.json: not a fit result" in done.stderr
    assert "best: task 2" in done.stdout


@pytest.mark.parametrize(
    ("make", "code", "message"),
    [
        (lambda p: p / "nowhere", 2, "is not a folder"),
        (lambda p: p, 1, "no task results"),
    ],
    ids=["missing-folder", "empty-folder"],
)
def test_bad_folder_is_a_clear_error(cli, tmp_path, make, code, message):
    done = cli("sweep-summary", str(make(tmp_path)))
    assert done.returncode == code
    assert message in done.stderr


def test_bad_top_is_rejected(cli, sweep):
    done = cli("sweep-summary", str(sweep), "--top", "0")
    assert done.returncode == 2
    assert "--top" in done.stderr
