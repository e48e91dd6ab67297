"""The MLE starter in a project with non-default names: its tests, its CLI, its benchmark."""

import json
import sys

import pytest

from helpers import TEMPLATE, bake, project_venv, run

ANSWERS = {"project_name": "Density Lab", "project": "density-lab", "package": "density_lab"}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A baked project with its environment (CPU TensorFlow, test extras)."""
    root = bake(tmp_path_factory.mktemp("mle"), **ANSWERS)
    return root, project_venv(root)


def test_generated_mle_tests_pass(project):
    root, bin_dir = project
    done = run(
        [bin_dir / "python", "-m", "pytest", "-q", "tests/test_mle.py", "tests/test_fit_cli.py"],
        cwd=root,
    )
    assert " passed" in done.stdout and "skipped" not in done.stdout


def test_fit_command_end_to_end(project, tmp_path):
    root, bin_dir = project
    png = tmp_path / "world.png"
    done = run(
        [
            bin_dir / "python",
            "-m",
            ANSWERS["package"],
            "fit",
            "--model",
            "gmm",
            "--components",
            "6",
            "--steps",
            "200",
            "--plot",
            png,
            "--json",
        ],
        cwd=root,
    )
    report = json.loads(done.stdout)
    assert report["model"] == "gmm" and len(report["params"]["weights"]) == 6
    assert png.stat().st_size > 10_000
    # Progress goes to stderr as plain lines when stderr is not a terminal (a Slurm log).
    assert "step 200/200" in done.stderr and "\r" not in done.stderr


def test_help_does_not_import_tensorflow(project):
    root, bin_dir = project
    code = (
        f"import sys; from {ANSWERS['package']}.cli import build_parser; build_parser(); "
        "print('tensorflow' in sys.modules)"
    )
    assert run([bin_dir / "python", "-c", code], cwd=root).stdout.strip() == "False"


def test_benchmark_script_runs(project):
    root, _ = project
    done = run(
        [
            sys.executable,
            TEMPLATE / "bench" / "mle.py",
            "--project",
            root,
            "--repeats",
            "1",
            "--sizes",
            "2000",
        ]
    )
    assert "(a) seconds to reach" in done.stdout and "(c) milliseconds per step" in done.stdout
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result) == {"a", "b", "c"}
