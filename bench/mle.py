"""Benchmark the MLE starter's fits (issue: MLE starter module), CPU only.

    python -m bench.mle [--repeats 3] [--sizes 1e4,1e5,1e6] [--project DIR]

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
    full batches (should grow linearly) and minibatches (should stay flat).

Prints medians over the repeats, and a JSON line with everything.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
GAPS = (0.01, 0.001)  # targets: nats per point above scikit-learn's NLL
MEANS = [[-3.0, 0.0], [2.0, 2.5], [2.5, -2.0]]
COVARIANCES = [[[1.0, 0.3], [0.3, 0.5]], [[0.6, -0.2], [-0.2, 0.8]], [[0.4, 0.0], [0.0, 1.2]]]
WEIGHTS = [0.5, 0.3, 0.2]
#: Gradient-descent settings per mode: (batch size or None, learning rate, max seconds).
MODES = {"full batch": (None, 0.05, 240.0), "minibatch 4096": (4096, 0.02, 240.0)}


def mixture(n: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    which = rng.choice(3, size=n, p=WEIGHTS)
    chol = np.linalg.cholesky(np.array(COVARIANCES))
    noise = rng.standard_normal((n, 2))
    points = np.array(MEANS)[which] + np.einsum("nij,nj->ni", chol[which], noise)
    return points.astype(np.float32)


# -- inside the project's environment -------------------------------------------------
def time_to_targets(package, x, targets, batch_size, lr, max_seconds, seed):
    """Seconds of fitting (NLL evaluations not counted; initialisation and tracing
    counted, as scikit-learn's k-means start is) until the full-data NLL first
    reaches each target. Returns ({target: seconds or None}, final NLL)."""
    import importlib

    mle = importlib.import_module(f"{package}.mle")
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

    model = mle.GaussianMixture(2, 3).initialize(x, seed=seed)
    every = 10 if batch_size is None else 25
    train(package, model, x, 10**7, lr, batch_size, seed, every, check)
    return reached, clock["nll"]


def train(package, model, x, steps, lr, batch_size, seed, every, callback, jit=False):
    """The project's trainer on ``model`` (compiled here with Adam), as ``fit`` runs it."""
    import importlib

    import keras

    trainer = importlib.import_module(f"{package}.trainer")
    model.compile(optimizer=keras.optimizers.Adam(lr), jit_compile=jit)
    settings = trainer.Settings(
        steps=steps, batch_size=batch_size, seed=seed, checkpoint_every=every, progress=False
    )
    return trainer.fit(lambda: model, x, settings, callback=callback)


def steps_per_second(package, model, x, steps, batch_size=None, jit=False):
    """Steps per second after the first ``steps // 5`` (which include tracing/compiling)."""
    stamps = []
    model.initialize(x)
    every = max(steps // 5, 1)

    def record(model, step):
        stamps.append((step, time.perf_counter()))

    train(package, model, x, steps, 0.05, batch_size, 0, every, record, jit)
    (first, began), (last, ended) = stamps[0], stamps[-1]
    return (last - first) / (ended - began)


def compiled_vs_eager(package, x, batch_size, how, steps):
    import importlib

    tf = importlib.import_module(f"{package}._tf").import_tensorflow()
    mle = importlib.import_module(f"{package}.mle")
    tf.config.run_functions_eagerly(how == "eager")
    try:
        model = mle.GaussianMixture(2, 3)
        return steps_per_second(package, model, x, steps, batch_size, jit=how == "xla")
    finally:
        tf.config.run_functions_eagerly(False)


def inner_main(args) -> None:
    import importlib

    import numpy as np
    from sklearn.mixture import GaussianMixture

    package = args.package
    mle = importlib.import_module(f"{package}.mle")
    result = {"a": {}, "b": {}}
    for n in args.sizes:
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
    for batch_size, label in ((None, "full batch 1e4"), (256, "minibatch 256")):
        result["b"][label] = {
            how: statistics.median(
                compiled_vs_eager(package, x, batch_size, how, 50 if how == "eager" else 1000)
                for _ in range(args.repeats)
            )
            for how in ("tf.function", "xla", "eager")
        }
    print(json.dumps(result))


def inner_step(args) -> None:
    """One fresh process: seconds per step and peak memory for one N and mode."""
    import importlib

    mle = importlib.import_module(f"{args.package}.mle")
    x = mixture(args.n, seed=0)
    batch = args.batch_size or None
    steps = 50 if batch is None else 1000
    rate = steps_per_second(args.package, mle.GaussianMixture(2, 3), x, steps, batch)
    per_step = 1 / rate
    status = Path("/proc/self/status").read_text()
    peak_kb = int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])
    print(json.dumps({"seconds_per_step": per_step, "peak_mb": peak_kb / 1024}))


# -- outside: bake, make the environment, run the inner parts, print -----------------------
def project_python(project: str | None, keep: list) -> tuple[Path, str]:
    from tests.helpers import bake, project_venv

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
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--inner-step", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--package", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        return inner_main(args)
    if args.inner_step:
        return inner_step(args)

    keep: list = []
    python, package = project_python(args.project, keep)
    common = ["--package", package, "--repeats", str(args.repeats)]
    sizes_arg = ",".join(str(n) for n in args.sizes)
    result = run_inner(python, "--inner", *common, "--sizes", sizes_arg)
    result["c"] = {}
    for n in args.sizes:
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
    report(result, args.repeats)
    print(json.dumps(result))


def report(result: dict, repeats: int) -> None:
    print(f"\nMLE starter benchmark, CPU ({os.cpu_count()} cores), medians of {repeats} runs")
    print(
        "\n(a) seconds to reach scikit-learn's NLL + gap (3-component GMM, 2-D);"
        " ratio = ours / scikit-learn's EM"
    )
    for n, row in result["a"].items():
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
            for n, row in result["a"].items()
        )
    )
    print("\n(b) training steps per second (GMM, K=3)")
    for label, row in result["b"].items():
        print(
            f"  {label:15s} "
            + ", ".join(f"{how} {value:.0f}" for how, value in row.items())
            + f"   tf.function / eager = {row['tf.function'] / row['eager']:.0f}x"
        )
    print("\n(c) milliseconds per step and peak memory (MB) against N")
    for label, rows in result["c"].items():
        print(
            f"  {label:15s} "
            + ", ".join(
                f"N={int(n)}: {row['seconds_per_step'] * 1e3:.2f} ms, {row['peak_mb']:.0f} MB"
                for n, row in rows.items()
            )
        )


if __name__ == "__main__":
    sys.exit(main())
