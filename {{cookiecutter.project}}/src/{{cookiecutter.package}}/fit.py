"""``fit``: fit a density to points by maximum likelihood and report it.

    python -m <package> fit --model gmm --components 6 --plot fit.png
    python -m <package> fit --model box                  # the lecture's world map MLE
    python -m <package> fit --model gaussian --data my_points.csv --json

Without ``--data`` the points come from the toy world map (``data.world_map``).
Gradient descent runs through the trainer (``trainer/``): with ``--checkpoint-dir``
a fit stopped by SIGTERM/SIGUSR1 (Slurm's warning before a time limit or
preemption) saves, exits with code 75, and resumes when the same command is run again.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from . import outputs, trainer
from .cli_types import positive_int

MODELS = ("gaussian", "box", "gmm")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "fit",
        help="fit a density (gaussian, box, gmm) to points by maximum likelihood",
        description="fit: fit a density to points by maximum likelihood and report it.",
    )
    add = parser.add_argument
    add("--model", required=True, choices=MODELS, help="the family p_theta")
    add("--components", type=positive_int, metavar="K", help="for --model gmm (default: 3)")
    trainer.add_arguments(parser, steps=500, learning_rate=0.05)
    add("--n", type=positive_int, metavar="POINTS", help="toy world-map points (default: 2000)")
    add(
        "--data",
        type=Path,
        metavar="FILE",
        help="your own points instead of the toy set: .npy or .csv, N x D",
    )
    add(
        "--closed-form",
        action="store_true",
        help="use the formula for the MLE instead of gradient descent "
        "(gaussian; the box always does)",
    )
    add(
        "--plot",
        type=Path,
        metavar="PNG",
        help="save data, samples and density side by side (2-D data)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    return trainer.run_command(lambda: fit_and_report(args))


def fit_and_report(args: argparse.Namespace) -> int:
    """Check everything, fit, then (the chief) plot and print the report."""
    began = time.monotonic()
    x, source, components = load(args)
    check_outputs(args, x)
    closed_form = args.closed_form or args.model == "box"
    if closed_form:
        model = make_density(args.model, x, components, args.seed).fit_closed_form(x)
        result = None
    else:
        build = density_builder(args.model, x, components, args.lr, args.seed)
        result = trainer.fit(build, x, trainer.Settings.from_args(args), picture(args, x))
        model = result.model
    if result is not None and not result.is_chief:
        return 0  # the chief writes the plot and prints the result
    nll = model.nll(x)
    plot_failed = save_plot(args, model, x, nll)  # a message, or None
    report = summary(args, model, result, nll, source, components, x.shape)
    report["seconds"] = round(time.monotonic() - began, 3)
    if plot_failed:  # the fit itself is complete: report it all the same
        report["plot"] = None
        print(f"warning: {plot_failed}", file=sys.stderr, flush=True)
    return outputs.print_report(json.dumps(report) if args.json else readable(report))


def save_plot(args, model, x, nll) -> str | None:
    """``--plot``, written whole or not at all (``outputs.save_plot``): None, or why not."""
    if args.plot is None:
        return None
    from .plots import figure_of_fit

    title = f"{args.model}: NLL {nll:.4f} nats/point"
    figure = figure_of_fit(model, x, title=title, seed=args.seed)
    return outputs.save_plot(figure, args.plot)


def load(args):
    """The points, where they came from, and the number of components; ValueError if bad."""
    from .data import world_map
    from .points import load_points

    if args.components is not None and args.model != "gmm":
        raise ValueError("--components applies only to --model gmm")
    if args.closed_form and args.model == "gmm":
        raise ValueError(
            "a mixture has no closed-form MLE; drop --closed-form to fit it by gradient descent"
        )
    if args.data is not None and args.n is not None:
        raise ValueError("--n sets the size of the toy data set; it cannot be used with --data")
    if args.data is not None:
        x, source = load_points(args.data), str(args.data)
    else:
        x, source = world_map(args.n or 2000, seed=args.seed), "world map (toy)"
    return x, source, args.components or 3


def check_outputs(args, x) -> None:
    """Everything else that can be wrong, found before any fitting."""
    try:  # for every fitting method: a wrong answer is worse than none
        make_model(args.model, x.shape[1], args.components or 3).check_mle_exists(x)
    except ValueError as err:
        source = args.data if args.data is not None else "world map (toy)"
        raise ValueError(f"{source}: {err}") from None
    if args.plot is not None:
        if x.shape[1] != 2:
            raise ValueError(f"--plot shows 2-D data; these points have {x.shape[1]} coordinates")
        from matplotlib.figure import Figure

        formats = Figure().canvas.get_supported_filetypes()
        if args.plot.suffix.lstrip(".").lower() not in formats:
            raise ValueError(
                f"--plot {args.plot}: use a file name ending in .png "
                f"(or one of: {', '.join(sorted(formats))})"
            )
        if args.plot.is_dir():
            raise ValueError(f"--plot {args.plot} is a directory; give a file name")
    plot_dir = args.plot.parent if args.plot is not None else None
    for option, directory in (
        ("--checkpoint-dir", args.checkpoint_dir),
        ("--logdir", args.logdir),
        ("--plot", plot_dir),
    ):
        if directory is not None:
            trainer.check_writable(option, directory)


def make_model(family: str, dim: int, components: int = 3):
    """An (uninitialised) density of the family ``--model`` names (``mle.py``)."""
    from . import mle

    if family not in MODELS:
        raise ValueError(f"unknown model {family!r}; choose one of {', '.join(MODELS)}")
    if family == "gmm":
        return mle.GaussianMixture(dim, components)
    return mle.Gaussian(dim) if family == "gaussian" else mle.Box(dim)


def make_density(family: str, x, components: int, seed: int):
    """The family, started from the data (its ``initialize``: same data and seed, same start)."""
    return make_model(family, x.shape[1], components).initialize(x, seed=seed)


def density_builder(family: str, x, components: int, learning_rate: float, seed: int):
    """``build_model`` for the trainer: the started density, compiled with Adam."""
    if not (isinstance(learning_rate, int | float) and math.isfinite(learning_rate)):
        learning_rate = -1.0
    if learning_rate <= 0:
        raise ValueError("learning rate must be a finite number above 0")

    def build_model():
        import keras

        model = make_density(family, x, components, seed)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), jit_compile=False)
        return model

    return build_model


def picture(args, x):
    """``report`` for the trainer: the fit drawn as ``--plot`` draws it, for TensorBoard."""
    if args.logdir is None or x.shape[1] != 2:
        return None

    def report(model, step):
        import io

        import matplotlib.image

        from .plots import plot_fit

        png = io.BytesIO()
        plot_fit(model, x, png, title=f"{model.family} after {step} steps", seed=args.seed)
        png.seek(0)
        return {"fit": matplotlib.image.imread(png, format="png")}

    return report


def summary(args, model, result, nll, source, components, shape) -> dict:
    trained = result is not None
    return {
        "model": args.model,
        "components": components if args.model == "gmm" else None,
        "method": "gradient descent" if trained else "closed form",
        "nll": nll,
        "last_batch_nll": result.metrics.get("nll") if trained else None,
        "params": model.params(),
        "steps": result.steps if trained else 0,
        "resumed_from_step": result.resumed_from_step if trained else 0,
        "learning_rate": args.lr if trained else None,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "data": source,
        "n": int(shape[0]),
        "dim": int(shape[1]),
        "plot": str(args.plot) if args.plot else None,
        "checkpoint_dir": str(args.checkpoint_dir) if args.checkpoint_dir else None,
        "logdir": str(args.logdir) if args.logdir else None,
        "workers": result.workers if trained else 1,
        "replicas": result.replicas if trained else 1,
        "strategy": result.strategy if trained else "default",
    }


def readable(report: dict) -> str:
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
        f"NLL     {report['nll']:.4f} nats per point (mean negative log-likelihood of all "
        "points, after the last step)",
    ]
    if report["last_batch_nll"] is not None:
        lines.append(
            f"        {report['last_batch_nll']:.4f} on the last step's batch, before that "
            "step (the progress display's number)"
        )
    lines.append("params")
    for key, value in report["params"].items():
        text = np.array2string(np.asarray(value), precision=4, suppress_small=True)
        rows = [row for row in text.splitlines() if row.strip()]
        lines.append(f"  {key:<11}" + ("\n" + " " * 13).join(rows))
    if report["plot"]:
        lines.append(f"plot    {report['plot']}")
    if report["logdir"]:  # where the curve went, and the command that shows it
        view = f"python -m {__package__} tensorboard --logdir {report['logdir']}"
        lines.append(f"logs    {report['logdir']}  (view: {view})")
    if report["workers"] > 1 or report["replicas"] > 1:
        lines.append(
            f"ran on  {report['workers']} worker(s), {report['replicas']} replicas "
            f"({report['strategy']})"
        )
    lines.append(f"time    {report['seconds']:.2f} s")
    return "\n".join(lines)
