"""Benchmark the MLE starter's fits (issue: MLE starter module), CPU only.

    python -m bench.mle [--repeats 3] [--sizes 1e4,1e5,1e6] [--project DIR] [--parts abcd]

Without ``--project`` it bakes the template with the defaults and makes the
project's environment (uv, shared cache); with it, it uses ``DIR/.venv``. The
measurements run inside that environment (``--inner``), on 2-D data drawn from
a known 3-component Gaussian mixture:

(a) time to reach scikit-learn's NLL + 0.01 nats/point, for each N, by
    full-batch and by minibatch gradient descent, beside scikit-learn's
    ``GaussianMixture`` (EM) on the same data; the ratio ours / scikit-learn;
    and NLL evaluation throughput (points per second) of both;
(b) steps per second of the training step compiled with ``tf.function``, with
    XLA (``jit_compile``), and run eagerly;
(c) seconds per step and peak memory (VmHWM of a fresh process) against N, for
    full batches (should grow linearly) and minibatches (should stay flat);
(d) how fast a fit reacts to Slurm's warning: a ``fit --checkpoint-dir`` command
    (a fresh process each time) gets SIGUSR1 at a random moment after its first
    checkpoint; the seconds until it says "interrupted at step" (it has saved) and
    until it has exited with code 75, for full batches and minibatches, per N.

Prints medians over the repeats, and a JSON line with everything.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve()
GAPS = (0.01, 0.001)  # targets: nats per point above scikit-learn's NLL
MEANS = [[-3.0, 0.0], [2.0, 2.5], [2.5, -2.0]]
COVARIANCES = [[[1.0, 0.3], [0.3, 0.5]], [[0.6, -0.2], [-0.2, 0.8]], [[0.4, 0.0], [0.0, 1.2]]]
WEIGHTS = [0.5, 0.3, 0.2]
#: Gradient-descent settings per mode: (batch size or None, learning rate, max seconds).
MODES = {"full batch": (None, 0.05, 240.0), "minibatch 4096": (4096, 0.02, 240.0)}
#: (d): the fit that is signalled (it would run for hours), and how long to wait for it.
SIGNAL_FIT = ("--model", "gmm", "--components", "3", "--steps", str(10**7), "--no-progress")
SIGNAL_LIMIT = 300.0  # seconds for one fit to start, checkpoint and react: else it failed


def mixture(n: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    which = rng.choice(3, size=n, p=WEIGHTS)
    chol = np.linalg.cholesky(np.array(COVARIANCES))
    noise = rng.standard_normal((n, 2))
    points = np.array(MEANS)[which] + np.einsum("nij,nj->ni", chol[which], noise)
    return points.astype(np.float32)


# -- inside the project's environment -------------------------------------------------
def fit_gmm(package, x, settings: dict, callback, lr: float = 0.05, how: str = "tf.function"):
    """The ``fit`` command's gradient descent of a 3-component mixture: its ``build_model``
    (k-means start, Adam) through the trainer, ``callback(model, step)`` at checkpoints."""
    import importlib

    trainer = importlib.import_module(f"{package}.trainer")
    builder = importlib.import_module(f"{package}.fit").density_builder
    tf = importlib.import_module(f"{package}._tf").import_tensorflow()
    build = builder("gmm", x, 3, lr, settings.get("seed", 0))

    def build_model():
        model = build()
        model.jit_compile = how == "xla"  # the trainer compiles with XLA when it is set
        return model

    tf.config.run_functions_eagerly(how == "eager")
    try:
        trainer.fit(build_model, x, trainer.Settings(**settings, progress=False), callback=callback)
    finally:
        tf.config.run_functions_eagerly(False)


def time_to_targets(package, x, targets, batch_size, lr, max_seconds, seed):
    """Seconds of fitting (NLL evaluations not counted; initialisation and tracing
    counted, as scikit-learn's k-means start is) until the full-data NLL first
    reaches each target. Returns ({target: seconds or None}, final NLL)."""
    clock = {"fitting": 0.0, "since": time.perf_counter(), "nll": None}
    reached = dict.fromkeys(targets)

    def check(model, step):
        clock["fitting"] += time.perf_counter() - clock["since"]
        clock["nll"] = model.nll(x)  # not counted
        clock["since"] = time.perf_counter()
        for target in targets:
            if reached[target] is None and clock["nll"] <= target:
                reached[target] = clock["fitting"]
        return None not in reached.values() or clock["fitting"] > max_seconds

    every = 10 if batch_size is None else 25
    settings = {"steps": 10**7, "batch_size": batch_size, "seed": seed, "checkpoint_every": every}
    fit_gmm(package, x, settings, check, lr=lr)
    return reached, clock["nll"]


def steps_per_second(package, x, steps, batch_size, how="tf.function"):
    """Steps per second after the first ``steps // 5`` (which include tracing/compiling)."""
    stamps = []
    settings = {"steps": steps, "batch_size": batch_size, "checkpoint_every": max(steps // 5, 1)}
    stamp = lambda model, step: stamps.append((step, time.perf_counter()))  # noqa: E731
    fit_gmm(package, x, settings, stamp, how=how)
    (first, began), (last, ended) = stamps[0], stamps[-1]
    return (last - first) / (ended - began)


def inner_main(args) -> None:
    import importlib

    import numpy as np
    from sklearn.mixture import GaussianMixture

    package = args.package
    mle = importlib.import_module(f"{package}.mle")
    result = {"a": {}, "b": {}}
    for n in args.sizes if "a" in args.parts else ():
        x = mixture(n, seed=0)
        runs = {"sklearn": []}
        nlls = []
        for r in range(args.repeats):
            began = time.perf_counter()
            reference = GaussianMixture(3, random_state=r).fit(x)
            runs["sklearn"].append(time.perf_counter() - began)
            nlls.append(-reference.score(x))
        # The best of scikit-learn's runs: the hardest target.
        targets = {gap: min(nlls) + gap for gap in GAPS}
        start_nll = mle.GaussianMixture(2, 3).initialize(x).nll(x)
        for mode, (batch_size, lr, limit) in MODES.items():
            for r in range(args.repeats):
                reached, nll = time_to_targets(
                    package, x, list(targets.values()), batch_size, lr, limit, seed=r
                )
                for gap, target in targets.items():
                    seconds = reached[target]
                    runs.setdefault(f"{mode} +{gap}", []).append(seconds or float("inf"))
                print(f"  N={n:.0e} {mode}: {reached} (NLL {nll:.4f})", file=sys.stderr, flush=True)
        # NLL evaluation throughput, both libraries.
        model = mle.GaussianMixture(2, 3).initialize(x)
        model.nll(x[:1000])
        began = time.perf_counter()
        model.nll(x)
        ours_eval = n / (time.perf_counter() - began)
        began = time.perf_counter()
        reference.score(x)
        sklearn_eval = n / (time.perf_counter() - began)
        result["a"][n] = {
            "sklearn_nll": float(np.median(nlls)),
            "targets": targets,
            "k_means_start_nll": start_nll,
            "seconds": {k: statistics.median(v) for k, v in runs.items()},
            "runs": runs,
            "nll_points_per_second": {"ours": ours_eval, "sklearn": sklearn_eval},
        }
    x = mixture(10_000, seed=0)
    modes = ((None, "full batch 1e4"), (256, "minibatch 256")) if "b" in args.parts else ()
    for batch_size, label in modes:
        result["b"][label] = {
            how: statistics.median(
                steps_per_second(package, x, 50 if how == "eager" else 1000, batch_size, how)
                for _ in range(args.repeats)
            )
            for how in ("tf.function", "xla", "eager")
        }
    print(json.dumps(result))


def inner_step(args) -> None:
    """One fresh process: seconds per step and peak memory for one N and mode."""
    x = mixture(args.n, seed=0)
    batch = args.batch_size or None
    steps = 50 if batch is None else 1000
    rate = steps_per_second(args.package, x, steps, batch)
    per_step = 1 / rate
    status = Path("/proc/self/status").read_text()
    peak_kb = int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])
    print(json.dumps({"seconds_per_step": per_step, "peak_mb": peak_kb / 1024}))


def signal_reaction(package: str, data: Path, batch_size: int, folder: Path, delay: float):
    """One fresh ``fit`` process, signalled ``delay`` s after its first checkpoint:
    (seconds to its "interrupted at step" line, seconds to its exit)."""
    checkpoints = folder / "checkpoints"
    batch = ["--batch-size", str(batch_size)] if batch_size else []
    cmd = [sys.executable, "-m", package, "fit", *SIGNAL_FIT, "--data", str(data), *batch]
    cmd += ["--checkpoint-dir", str(checkpoints)]
    fit = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    said, lines = [], []

    def read_stderr():  # timestamps the line that says the fit stopped (and has saved)
        for line in fit.stderr:
            lines.append(line)
            if "interrupted at step" in line and not said:
                said.append(time.perf_counter())

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    deadline = time.monotonic() + SIGNAL_LIMIT
    while not any(checkpoints.glob("ckpt-*.index")):  # a local process, not a Slurm job
        if fit.poll() is not None or time.monotonic() > deadline:
            fit.kill()
            sys.exit(f"error: {' '.join(cmd)} saved no checkpoint:\n{''.join(lines)}")
        time.sleep(0.01)
    time.sleep(delay)
    sent = time.perf_counter()
    fit.send_signal(signal.SIGUSR1)
    try:
        code = fit.wait(timeout=SIGNAL_LIMIT)
    except subprocess.TimeoutExpired:
        fit.kill()
        sys.exit(f"error: the fit did not stop within {SIGNAL_LIMIT:.0f} s of SIGUSR1")
    ended = time.perf_counter()
    reader.join()
    if code != 75 or not said:
        sys.exit(f"error: the signalled fit exited with {code}, not 75:\n{''.join(lines)}")
    return said[0] - sent, ended - sent


def inner_signal(args) -> None:
    """(d) for one N and batch size, ``args.repeats`` fresh fits; medians and worst."""
    import numpy as np

    rng = random.Random(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "points.npy"
        np.save(data, mixture(args.n, seed=0))
        runs = [
            signal_reaction(
                args.package, data, args.batch_size, Path(tmp) / str(r), rng.uniform(0.1, 1.0)
            )
            for r in range(args.repeats)
        ]
    said, exited = zip(*runs, strict=True)
    print(
        json.dumps(
            {
                "to_message": statistics.median(said),
                "to_exit": statistics.median(exited),
                "worst_to_message": max(said),
                "worst_to_exit": max(exited),
            }
        )
    )


# -- outside: bake, make the environment, run the inner parts, print -----------------------
def project_python(project: str | None, keep: list) -> tuple[Path, str]:
    from harness.bake import bake
    from harness.venvs import project_venv

    if project:
        root = Path(project).resolve()
    else:
        tmp = tempfile.TemporaryDirectory()
        keep.append(tmp)
        root = bake(Path(tmp.name))
        project_venv(root)
    package = next(p.name for p in (root / "src").iterdir() if (p / "mle.py").exists())
    python = root / ".venv" / "bin" / "python"
    if not python.exists():
        sys.exit(f"error: {python} does not exist; make the project's environment first")
    return python, package


def run_inner(python: Path, *args: str) -> dict:
    done = subprocess.run(
        [str(python), str(HERE), *args],
        text=True,
        stdout=subprocess.PIPE,
        check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"},
    )
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(args)} failed with exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def parts(text: str) -> str:
    if not text or set(text) - set("abcd"):
        raise argparse.ArgumentTypeError(f"{text!r}: give some of the letters abcd, e.g. ad")
    return text


def sizes(text: str) -> list[int]:
    try:
        values = [int(float(part)) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give sizes like 1e4,1e5,1e6") from None
    if not values or min(values) < 100:
        raise argparse.ArgumentTypeError(f"{text!r}: each size must be at least 100")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, choices=range(1, 21), metavar="R")
    parser.add_argument("--sizes", type=sizes, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--project", help="a baked project with .venv (default: bake one)")
    parser.add_argument(
        "--parts", type=parts, default="abcd", help="which measurements (default: abcd, all)"
    )
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--inner-step", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--inner-signal", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--package", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        return inner_main(args)
    if args.inner_step:
        return inner_step(args)
    if args.inner_signal:
        return inner_signal(args)

    keep: list = []
    python, package = project_python(args.project, keep)
    common = ["--package", package, "--repeats", str(args.repeats)]
    sizes_arg = ",".join(str(n) for n in args.sizes)
    result = {"a": {}, "b": {}}
    if {"a", "b"} & set(args.parts):
        result = run_inner(python, "--inner", *common, "--sizes", sizes_arg, "--parts", args.parts)
    result["c"] = {}
    for n in args.sizes if "c" in args.parts else ():
        for label, batch in (("full batch", 0), ("minibatch 4096", 4096)):
            per_run = [
                run_inner(
                    python,
                    "--inner-step",
                    "--package",
                    package,
                    "--n",
                    str(n),
                    "--batch-size",
                    str(batch),
                )
                for _ in range(args.repeats)
            ]
            result["c"].setdefault(label, {})[n] = {
                key: statistics.median(run[key] for run in per_run) for key in per_run[0]
            }
    result["d"] = {
        label: {
            n: run_inner(python, "--inner-signal", *common, "--n", str(n), "--batch-size", batch)
            for n in args.sizes
        }
        for label, batch in (("full batch", "0"), ("minibatch 4096", "4096"))
        if "d" in args.parts
    }
    report(result, args.repeats)
    print(json.dumps(result))


def report(result: dict, repeats: int) -> None:
    print(f"\nMLE starter benchmark, CPU ({os.cpu_count()} cores), medians of {repeats} runs")
    if result["a"]:
        report_a(result["a"])
    if result["b"]:
        print("\n(b) training steps per second (GMM, K=3)")
    for label, row in result["b"].items():
        print(
            f"  {label:15s} "
            + ", ".join(f"{how} {value:.0f}" for how, value in row.items())
            + f"   tf.function / eager = {row['tf.function'] / row['eager']:.0f}x"
        )
    print_rows(
        result["c"],
        "(c) milliseconds per step and peak memory (MB) against N",
        lambda row: f"{row['seconds_per_step'] * 1e3:.2f} ms, {row['peak_mb']:.0f} MB",
    )
    print_rows(
        result["d"],
        '(d) seconds from SIGUSR1 to "interrupted at step" (saved) and to exit 75',
        lambda row: (
            f"{row['to_message']:.2f} / {row['to_exit']:.2f} s"
            f" (worst {row['worst_to_message']:.2f} / {row['worst_to_exit']:.2f})"
        ),
    )


def print_rows(section: dict, title: str, show) -> None:
    """A section measured per mode and N: one line per mode, ``show(row)`` per N."""
    if section:
        print(f"\n{title}")
    for label, rows in section.items():
        print(f"  {label:15s} " + ", ".join(f"N={int(n)}: {show(row)}" for n, row in rows.items()))


def report_a(rows: dict) -> None:
    print(
        "\n(a) seconds to reach scikit-learn's NLL + gap (3-component GMM, 2-D);"
        " ratio = ours / scikit-learn's EM"
    )
    for n, row in rows.items():
        seconds = row["seconds"]
        print(
            f"  N={int(n):<8d} sklearn EM {seconds['sklearn']:6.2f} s, NLL "
            f"{row['sklearn_nll']:.4f}; k-means start NLL {row['k_means_start_nll']:.4f}"
        )
        for name, value in seconds.items():
            if name != "sklearn":
                ratio = value / seconds["sklearn"]
                print(f"    {name:24s} {value:7.2f} s   ratio {ratio:5.2f}")
    print(
        "\n    NLL evaluation, million points per second: "
        + ", ".join(
            f"N={int(n)}: ours {row['nll_points_per_second']['ours'] / 1e6:.1f}, "
            f"sklearn {row['nll_points_per_second']['sklearn'] / 1e6:.1f}"
            for n, row in rows.items()
        )
    )


if __name__ == "__main__":
    sys.exit(main())
