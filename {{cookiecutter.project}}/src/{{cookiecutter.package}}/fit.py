"""``fit``: fit a density to points by maximum likelihood and report it.

    python -m <package> fit --model gmm --components 6 --plot fit.png
    python -m <package> fit --model box                  # the lecture's world map MLE
    python -m <package> fit --model gaussian --data my_points.csv --json

Without ``--data`` the points come from the toy world map (``data.world_map``).
With ``--checkpoint-dir`` a fit stopped by SIGTERM/SIGUSR1 (Slurm's warning
before a time limit or preemption) saves, exits with code 75, and resumes when
the same command is run again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .cli_types import positive_float, positive_int

BAD_INPUT_EXIT = 2
#: Exit code when another worker of a multi-worker fit died.
LOST_WORKER_EXIT = 1
MODELS = ("gaussian", "box", "gmm")


def seed_type(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 2147483647")
    return value


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "fit",
        help="fit a density (gaussian, box, gmm) to points by maximum likelihood",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--model", required=True, choices=MODELS, help="the family p_theta")
    parser.add_argument(
        "--components",
        type=positive_int,
        metavar="K",
        help="mixture components, for --model gmm (default: 3)",
    )
    parser.add_argument(
        "--steps", type=positive_int, default=500, help="gradient-descent steps (default: 500)"
    )
    parser.add_argument(
        "--lr", type=positive_float, default=0.05, help="Adam's learning rate (default: 0.05)"
    )
    parser.add_argument(
        "--seed",
        type=seed_type,
        default=0,
        help="seed for the toy data, the start and the batch order (default: 0)",
    )
    parser.add_argument(
        "--n",
        type=positive_int,
        metavar="POINTS",
        help="size of the toy world-map data set (default: 2000)",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        metavar="B",
        help="points per step (default: all of them, full batch)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        metavar="FILE",
        help="your own points instead of the toy set: .npy or .csv, N x D",
    )
    parser.add_argument(
        "--closed-form",
        action="store_true",
        help="use the formula for the MLE instead of gradient descent "
        "(gaussian; the box always does)",
    )
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="PNG",
        help="save data, samples and density side by side (2-D data)",
    )
    parser.add_argument(
        "--checkpoint-dir",
        type=Path,
        metavar="DIR",
        help="save checkpoints here and resume from them",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=positive_int,
        default=100,
        metavar="STEPS",
        help="steps between checkpoints (default: 100)",
    )
    parser.add_argument(
        "--logdir",
        type=Path,
        metavar="DIR",
        help="write TensorBoard logs here: the NLL per step, a picture of the fit "
        "(open with: tensorboard --logdir DIR)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the result as one JSON object on stdout"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress display on stderr")
    parser.set_defaults(func=run)
    return parser


class BadInput(ValueError):
    pass


def _load(args):
    """Everything that can be wrong with the input is found here, before any fitting."""
    from .data import check_mle_exists, load_points, world_map

    if args.components is not None and args.model != "gmm":
        raise BadInput("--components applies only to --model gmm")
    if args.closed_form and args.model == "gmm":
        raise BadInput(
            "a mixture has no closed-form MLE; drop --closed-form to fit it by gradient descent"
        )
    if args.data is not None and args.n is not None:
        raise BadInput("--n sets the size of the toy data set; it cannot be used with --data")
    try:
        if args.data is not None:
            x, source = load_points(args.data), str(args.data)
        else:
            x, source = world_map(args.n or 2000, seed=args.seed), "world map (toy)"
    except ValueError as err:
        raise BadInput(str(err)) from None
    components = args.components or 3
    if args.model == "gmm" and len(x) < components:
        raise BadInput(f"{len(x)} points cannot fit {components} components")
    try:  # for every fitting method: a wrong answer is worse than none
        check_mle_exists(x, args.model, components)
    except ValueError as err:
        raise BadInput(f"{source}: {err}") from None
    if args.plot is not None:
        if x.shape[1] != 2:
            raise BadInput(f"--plot shows 2-D data; these points have {x.shape[1]} coordinates")
        from matplotlib.figure import Figure

        formats = Figure().canvas.get_supported_filetypes()
        if args.plot.suffix.lstrip(".").lower() not in formats:
            raise BadInput(
                f"--plot {args.plot}: use a file name ending in .png "
                f"(or one of: {', '.join(sorted(formats))})"
            )
        if args.plot.is_dir():
            raise BadInput(f"--plot {args.plot} is a directory; give a file name")
    for option, directory in (
        ("--checkpoint-dir", args.checkpoint_dir),
        ("--logdir", args.logdir),
        ("--plot", args.plot.parent if args.plot is not None else None),
    ):
        if directory is not None:
            check_writable(option, directory)
    return x, source, components


def check_writable(option: str, directory: Path) -> None:
    """Make ``directory`` (if needed) and write a file in it: fail now, not after the fit."""
    import tempfile

    if directory.exists() and not directory.is_dir():
        raise BadInput(f"{option} {directory} exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as err:
        raise BadInput(
            f"{option}: cannot write in {directory} ({err.strerror or err}); "
            "choose a directory you can write to"
        ) from None


def run(args: argparse.Namespace) -> int:
    try:
        x, source, components = _load(args)
    except BadInput as err:
        print(f"error: {err}", file=sys.stderr)
        return BAD_INPUT_EXIT

    from . import distribute, mle, preemption, training

    # Before any other TensorFlow work: several srun tasks -> one multi-worker fit.
    try:
        strategy, is_chief = distribute.choose_strategy(training.tf)
    except distribute.SlurmEnvError as err:
        print(f"error: {err}", file=sys.stderr)
        return BAD_INPUT_EXIT
    rank, workers = distribute.rank_and_workers(strategy)
    if workers > 1:
        print(
            f"worker {rank} of {workers} ({distribute.strategy_name(strategy)}, "
            f"{strategy.num_replicas_in_sync} replicas in sync)"
            + ("; the chief: writes checkpoints and results" if is_chief else ""),
            file=sys.stderr,
            flush=True,
        )

    began = time.monotonic()
    with strategy.scope():  # the model's variables live on every replica
        model = mle.make_model(args.model, x.shape[1], components)
    try:
        result = training.fit(
            model,
            x,
            steps=args.steps,
            learning_rate=args.lr,
            batch_size=args.batch_size,
            seed=args.seed,
            closed_form=args.closed_form,
            checkpoint_dir=args.checkpoint_dir,
            checkpoint_every=args.checkpoint_every,
            logdir=args.logdir,
            progress=not args.no_progress,
            strategy=strategy,
            is_chief=is_chief,
        )
    except preemption.Interrupted as stop:
        print(str(stop), file=sys.stderr, flush=True)
        return _finish(preemption.INTERRUPTED_EXIT, strategy)  # all have printed it
    except (ValueError, FloatingPointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return BAD_INPUT_EXIT
    except (training.tf.errors.UnavailableError, training.tf.errors.AbortedError) as err:
        if workers == 1:
            raise
        # Another worker died (or its node): the all-reduce of the gradients broke.
        lines = [line for line in str(err).splitlines() if "aborted by" in line]
        first = (lines or str(err).strip().splitlines() or [type(err).__name__])[0].strip()
        print(
            f"error: worker {rank} lost contact with the other workers ({first}); one of them "
            "probably died: look for its error above. Resubmit with the same checkpoint "
            "directory to resume.",
            file=sys.stderr,
            flush=True,
        )
        return LOST_WORKER_EXIT

    if not is_chief:  # the chief writes the plot and prints the result
        return _finish(0, strategy)
    if args.plot is not None:
        from .plots import plot_fit

        plot_fit(
            model,
            x,
            args.plot,
            title=f"{args.model}: NLL {result.nll:.4f} nats/point",
            seed=args.seed,
        )

    report = {
        "model": args.model,
        "components": components if args.model == "gmm" else None,
        "method": result.method,
        "nll": result.nll,
        "params": model.params(),
        "steps": result.steps,
        "resumed_from_step": result.resumed_from_step,
        "learning_rate": args.lr if result.method != "closed form" else None,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "data": source,
        "n": int(x.shape[0]),
        "dim": int(x.shape[1]),
        "plot": str(args.plot) if args.plot else None,
        "checkpoint_dir": str(args.checkpoint_dir) if args.checkpoint_dir else None,
        "logdir": str(args.logdir) if args.logdir else None,
        "seconds": round(time.monotonic() - began, 3),
        "workers": workers,
        "replicas": int(strategy.num_replicas_in_sync),
        "strategy": distribute.strategy_name(strategy),
    }
    print(json.dumps(report) if args.json else _readable(report))
    return _finish(0, strategy)


def _finish(code: int, strategy) -> int:
    """With several workers: wait for all, then leave at once, together.

    A worker that exits while another still runs makes TensorFlow log alarming
    (harmless) "stopped sending heartbeats" / "Failed to send RPC" errors, and
    Python's slow clean-up of TensorFlow makes that likely. So the workers meet
    once more (an all-reduce) after the chief has written everything, then exit.
    """
    from . import distribute

    if distribute.rank_and_workers(strategy)[1] > 1:
        distribute.barrier(strategy)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _readable(report: dict) -> str:
    import numpy as np

    how = report["method"]
    if report["steps"]:
        how += f", {report['steps']} steps"
        if report["resumed_from_step"]:
            how += f" (resumed from step {report['resumed_from_step']})"
    name = report["model"] + (
        f" ({report['components']} components)" if report["components"] else ""
    )
    lines = [
        f"model   {name}, fitted by {how}",
        f"data    {report['data']}: {report['n']} points in {report['dim']}-D",
        f"NLL     {report['nll']:.4f} nats per point (mean negative log-likelihood)",
        "params",
    ]
    for key, value in report["params"].items():
        text = np.array2string(np.asarray(value), precision=4, suppress_small=True)
        rows = [row for row in text.splitlines() if row.strip()]
        lines.append(f"  {key:<11}" + ("\n" + " " * 13).join(rows))
    if report["plot"]:
        lines.append(f"plot    {report['plot']}")
    if report["logdir"]:  # where the curve went, and the command that shows it
        lines.append(f"logs    {report['logdir']}  (view: tensorboard --logdir {report['logdir']})")
    if report["workers"] > 1 or report["replicas"] > 1:
        lines.append(
            f"ran on  {report['workers']} worker(s), {report['replicas']} replicas "
            f"({report['strategy']})"
        )
    lines.append(f"time    {report['seconds']:.2f} s")
    return "\n".join(lines)
