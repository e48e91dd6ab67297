"""GPU check: what does TensorFlow see, and how fast is it?

This is the course's ``run.py`` (cwd, time, TensorFlow version, physical and
logical GPUs) done properly, so the first thing a job logs answers the first
question you will have: *did my job actually get a GPU?*

It also logs the host, Python, how TensorFlow was built (a CPU-only build can
never see a GPU), the Slurm job id and ``CUDA_VISIBLE_DEVICES`` (which GPUs
Slurm gave the job), and times a matrix multiplication on every GPU in
TFLOP/s (tera floating-point operations per second), so a slow or broken GPU
shows up as a number.

``--require-gpu`` turns "no GPU" into a failure: a gengpu job that silently
fell back to the CPU would otherwise run 50x slower and still "succeed".
"""

import argparse
import datetime
import json
import logging
import os
import platform
import socket
import sys
import time

from .cli_types import positive_int

log = logging.getLogger(__name__)

NO_GPU_EXIT = 3
LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "gpu-check",
        help="report what TensorFlow sees (GPUs, build, Slurm job) and time a matmul",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "--require-gpu",
        action="store_true",
        help=f"exit with code {NO_GPU_EXIT} if TensorFlow sees no GPU",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the report as one JSON object on stdout"
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="also show the libraries' own notices (TensorFlow's start-up, matplotlib's)",
    )
    parser.add_argument(
        "--size",
        type=positive_int,
        default=4096,
        help="side of the square matrices multiplied on each GPU (default: 4096)",
    )
    parser.set_defaults(func=run)
    return parser


def environment() -> dict:
    """Facts about this process that need no TensorFlow."""
    return {
        "host": socket.gethostname(),
        "cwd": os.getcwd(),
        "time": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": f"{platform.python_version()} ({sys.executable})",
        "machine": platform.machine(),  # x86_64; aarch64 in a container on an Apple Silicon Mac
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def build_info(tf) -> dict:
    """How this TensorFlow was built. The CPU build has no ``cuda_version`` key: use get()."""
    info = tf.sysconfig.get_build_info()
    return {
        "is_cuda_build": bool(info.get("is_cuda_build", False)),
        "cuda_version": info.get("cuda_version"),
        "cudnn_version": info.get("cudnn_version"),
    }


def matmul_tflops(tf, device: str, size: int, repeats: int = 10) -> float:
    """Time ``repeats`` products of two size x size matrices on ``device``; return TFLOP/s.

    One product costs 2 * size**3 floating-point operations (a multiply and an
    add per term). The first product is a warm-up: it pays for kernel selection.
    """
    with tf.device(device):
        a = tf.random.stateless_normal((size, size), seed=(1, 2))
        b = tf.random.stateless_normal((size, size), seed=(3, 4))

        @tf.function
        def products():
            total = tf.zeros(())
            for _ in tf.range(repeats):
                total += tf.reduce_sum(tf.linalg.matmul(a, b))
            return total

        products().numpy()  # warm-up (and tracing)
        start = time.perf_counter()
        products().numpy()  # .numpy() waits until the device has finished
        elapsed = time.perf_counter() - start
    return 2 * size**3 * repeats / elapsed / 1e12


def collect(tf, size: int) -> dict:
    """The whole report as a dict (what ``--json`` prints)."""
    physical = tf.config.list_physical_devices("GPU")
    logical = tf.config.list_logical_devices("GPU")
    report = {
        **environment(),
        "tensorflow": tf.__version__,
        "build": build_info(tf),
        "physical_gpus": [gpu.name for gpu in physical],
        "logical_gpus": [gpu.name for gpu in logical],
        "gpu_tflops": {gpu.name: round(matmul_tflops(tf, gpu.name, size), 3) for gpu in logical},
        # A small CPU product for comparison; the CPU is much slower, so keep it small.
        "cpu_tflops": round(matmul_tflops(tf, "/CPU:0", min(size, 1024), repeats=3), 4),
    }
    report["diagnosis"] = diagnose(report)
    return report


def diagnose(report: dict) -> str:
    """One sentence on what the numbers mean, with a hint when no GPU is visible."""
    if report["logical_gpus"]:
        return f"TensorFlow sees {len(report['logical_gpus'])} GPU(s)."
    if not report["build"]["is_cuda_build"] and report.get("machine") in ("aarch64", "arm64"):
        return (
            "No GPU: this is an ARM computer (aarch64), e.g. a container on an Apple Silicon "
            "Mac. TensorFlow runs on its CPU: a Linux container cannot reach the Mac's GPU "
            "(Docker passes no Metal device into containers). For GPUs, use Quest."
        )
    if not report["build"]["is_cuda_build"]:
        return (
            "No GPU: this TensorFlow is a CPU-only build. On an NVIDIA machine install the "
            "gpu build in a fresh environment (the CPU and GPU builds must not be mixed): "
            "python3 -m venv .venv-gpu && . .venv-gpu/bin/activate && pip install --no-deps "
            "--require-hashes -r requirements/gpu-dev.txt && pip install --no-deps -e ."
        )
    if report["cuda_visible_devices"] in (None, ""):
        return "No GPU: none was given to this process (CUDA_VISIBLE_DEVICES is not set)."
    return (
        f"No GPU, although CUDA_VISIBLE_DEVICES={report['cuda_visible_devices']}: the GPU is "
        "reserved but TensorFlow cannot use it. Run nvidia-smi; check that the gpu extra "
        "(tensorflow[and-cuda]) is installed in the environment this job activates."
    )


def log_report(report: dict) -> None:
    """Log the report line by line, like the course's run.py."""
    log.info("Hello from %s", report["host"])
    log.info("Current working directory: %s", report["cwd"])
    log.info("Current time: %s", report["time"])
    log.info("Python: %s", report["python"])
    log.info("TensorFlow version: %s", report["tensorflow"])
    build = report["build"]
    log.info(
        "TensorFlow build: cuda=%s (CUDA %s, cuDNN %s)",
        build["is_cuda_build"],
        build["cuda_version"] or "-",
        build["cudnn_version"] or "-",
    )
    log.info("Slurm job id: %s", report["slurm_job_id"] or "- (not in a Slurm job)")
    log.info("CUDA_VISIBLE_DEVICES: %s", report["cuda_visible_devices"] or "- (not set)")
    log.info("Num GPUs Available: %d", len(report["physical_gpus"]))
    log.info("Physical GPUs: %s", report["physical_gpus"])
    log.info("Logical GPUs: %s", report["logical_gpus"])
    for name, tflops in report["gpu_tflops"].items():
        log.info("Matmul on %s: %.2f TFLOP/s", name, tflops)
    log.info("Matmul on /CPU:0: %.4f TFLOP/s", report["cpu_tflops"])
    log.info("%s", report["diagnosis"])


def configure_logging(verbose: bool) -> None:
    """This report at INFO; other libraries only from WARNING up, unless ``verbose``.

    Without it matplotlib's "generated new fontManager" (INFO, the first time it runs)
    and TensorFlow's start-up notices would be mixed into the report. Real warnings
    still show.
    """
    root = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=root, format=LOG_FORMAT, stream=sys.stderr, force=True)
    logging.getLogger(__package__).setLevel(logging.INFO)
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"  # _tf.py then shows all TensorFlow says


def run(args: argparse.Namespace) -> int:
    configure_logging(args.verbose)
    from ._tf import import_tensorflow

    report = collect(import_tensorflow(), args.size)
    log_report(report)
    if args.json:
        print(json.dumps(report, indent=2))
    if args.require_gpu and not report["logical_gpus"]:
        print(
            f"error: --require-gpu: TensorFlow sees no GPU. {report['diagnosis']}",
            file=sys.stderr,
        )
        return NO_GPU_EXIT
    return 0
