"""The GPU check reports cleanly with or without a GPU, and --require-gpu fails loudly."""

import json
import os
import sys

import pytest

from {{ cookiecutter.package }} import _tf, gpu_check

tf = _tf.import_tensorflow()
HAS_GPU = bool(tf.config.list_logical_devices("GPU"))


@pytest.fixture(scope="module")
def report(request):
    return gpu_check.collect(tf, size=256)


def test_report_has_what_the_course_run_py_logged_and_more(report):
    for key in ("cwd", "time", "tensorflow", "physical_gpus", "logical_gpus", "host", "python"):
        assert report[key] is not None
    assert report["tensorflow"] == tf.__version__
    assert set(report["build"]) == {"is_cuda_build", "cuda_version", "cudnn_version"}


def test_every_visible_gpu_is_timed(report):
    assert sorted(report["gpu_tflops"]) == sorted(report["logical_gpus"])
    assert all(tflops > 0 for tflops in report["gpu_tflops"].values())
    assert report["cpu_tflops"] > 0


def test_matmul_rate_is_positive_and_finite():
    tflops = gpu_check.matmul_tflops(tf, "/CPU:0", size=128, repeats=2)
    assert 0 < tflops < 1e6


@pytest.fixture(scope="module")
def slurm_run(cli, tmp_path_factory):
    """One `gpu-check --json`, started as in a Slurm job (each run loads TensorFlow)."""
    return cli(
        "gpu-check", "--json", "--size", "64",
        env={"SLURM_JOB_ID": "4242", "CUDA_VISIBLE_DEVICES": "0",
             "MPLCONFIGDIR": str(tmp_path_factory.mktemp("matplotlib"))},
    )  # fmt: skip


@pytest.mark.slow
def test_json_output_is_one_object(slurm_run):
    assert slurm_run.returncode == 0, slurm_run.stderr
    report = json.loads(slurm_run.stdout)
    assert report["tensorflow"] == tf.__version__
    assert "Num GPUs Available" in slurm_run.stderr  # the human log goes to stderr


@pytest.mark.slow
def test_require_gpu_matches_what_tensorflow_sees(cli):
    done = cli("gpu-check", "--require-gpu", "--size", "256")
    if HAS_GPU:
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode == gpu_check.NO_GPU_EXIT
        assert "error: --require-gpu: TensorFlow sees no GPU" in done.stderr


@pytest.mark.slow
def test_slurm_variables_are_reported(slurm_run):
    report = json.loads(slurm_run.stdout)
    assert report["slurm_job_id"] == "4242"
    assert report["cuda_visible_devices"] == "0"
    assert "Slurm job id: 4242" in slurm_run.stderr


@pytest.mark.slow
def test_tensorflow_import_noise_is_hidden(slurm_run):
    lines = slurm_run.stderr.splitlines()
    assert [line for line in lines if "oneDNN" in line or "cuda_" in line] == []
    # Every line is the report's (matplotlib's first-run "generated new fontManager" too
    # is left out: slurm_run starts with a matplotlib cache folder of its own, empty).
    assert all(" INFO " in line for line in lines), slurm_run.stderr
    assert not any("fontManager" in line for line in lines), slurm_run.stderr


def test_verbose_shows_the_libraries_notices_and_plain_runs_do_not(monkeypatch):
    import logging

    root, matplotlib = logging.getLogger(), logging.getLogger("matplotlib.font_manager")
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # restored afterwards
    monkeypatch.setattr(root, "level", root.level)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    gpu_check.configure_logging(verbose=False)
    assert not matplotlib.isEnabledFor(logging.INFO)
    assert matplotlib.isEnabledFor(logging.WARNING)  # real warnings still show
    assert logging.getLogger(gpu_check.__name__).isEnabledFor(logging.INFO)
    gpu_check.configure_logging(verbose=True)
    assert matplotlib.isEnabledFor(logging.INFO)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


def no_gpu_report(is_cuda_build, visible):
    build = {"is_cuda_build": is_cuda_build, "cuda_version": None, "cudnn_version": None}
    return {"logical_gpus": [], "build": build, "cuda_visible_devices": visible}


@pytest.mark.parametrize(
    ("is_cuda_build", "visible", "hint"),
    [
        (False, "0", "CPU-only build"),
        (False, "0", "in a fresh environment (the CPU and GPU builds must not be mixed): python3"),
        (True, None, "none was given"),
        (True, "0,1", "nvidia-smi"),
    ],
)
def test_diagnosis_explains_a_missing_gpu(is_cuda_build, visible, hint):
    assert hint in gpu_check.diagnose(no_gpu_report(is_cuda_build, visible))


@pytest.mark.parametrize("machine", ["aarch64", "arm64"])
def test_diagnosis_on_arm_says_why_there_is_no_gpu(machine):
    report = {**no_gpu_report(False, None), "machine": machine}
    assert "Apple Silicon" in gpu_check.diagnose(report)
    assert "cannot reach the Mac's GPU" in gpu_check.diagnose(report)
    on_x86 = gpu_check.diagnose({**report, "machine": "x86_64"})
    assert "CPU-only build" in on_x86 and "Apple" not in on_x86


def test_build_info_without_cuda_keys():
    class CpuBuild:
        @staticmethod
        def get_build_info():
            return {"is_cuda_build": False}  # the CPU wheel has no cuda_version key

    class FakeTf:
        sysconfig = CpuBuild

    assert gpu_check.build_info(FakeTf) == {
        "is_cuda_build": False,
        "cuda_version": None,
        "cudnn_version": None,
    }


def test_missing_tensorflow_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(SystemExit) as stop:
        _tf.import_tensorflow()
    assert "-r requirements/gpu.txt" in str(stop.value.code)
