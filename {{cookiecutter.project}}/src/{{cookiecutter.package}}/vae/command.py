"""vae: train the VAE starter, compare its bound with the baseline, save its pictures.

    python -m <package> vae                                   # 8x8 digits: a minute on a laptop
    python -m <package> vae --dataset mnist --steps 20000     # bigger: on Quest (fetch mnist first)

Prints the held-out negative ELBO (an upper bound on the NLL, nats per image) beside
the same pixels without a latent code, and writes ``samples.png`` and
``reconstructions.png`` to ``--outdir`` (and to TensorBoard with ``--logdir``).
The training flags (steps, checkpoints, logs) are the same as ``fit``'s.
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

from .. import trainer
from ..cli_types import positive_int
from .data import DATASETS


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "vae",
        help="the image starter: a variational autoencoder on digits",
        description=__doc__.split("\n\n")[0],
    )
    trainer.add_arguments(parser, steps=2000, learning_rate=1e-3, batch_size=128)
    parser.set_defaults(func=run)
    parser.add_argument(
        "--dataset", choices=DATASETS, default="digits", help="the images (default: digits)"
    )
    parser.add_argument(
        "--latent-dim", type=positive_int, default=8, metavar="D", help="size of z (default: 8)"
    )
    parser.add_argument(
        "--outdir",
        type=Path,
        default=Path("outputs/vae"),
        metavar="DIR",
        help="where the pictures go (default: outputs/vae)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    return trainer.run_command(lambda: train(args))


def train(args: argparse.Namespace) -> int:
    """Load (and check) the images, fit, then report on the held-out ones (the chief only)."""
    from .data import load_images

    train_images, held_out = load_images(args.dataset, seed=args.seed)
    trainer.check_writable("--outdir", args.outdir)

    from .model import build_vae
    from .pictures import pictures

    build = functools.partial(
        build_vae, train_images.shape[1:], args.latent_dim, args.lr, args.seed
    )
    result = trainer.fit(
        build,
        train_images,
        trainer.Settings.from_args(args),
        report=lambda vae, step: pictures(vae, held_out, seed=args.seed),
    )
    if result.is_chief:
        summary = summarize(result, train_images, held_out, args)
        print(json.dumps(summary) if args.json else readable(summary))
    return 0


def summarize(result, train_images, held_out, args) -> dict:
    """The numbers that say how good the VAE is, and where its pictures went."""
    from . import baseline
    from .evaluate import negative_elbo
    from .pictures import pictures, save_png

    paths = {}
    for name, picture in pictures(result.model, held_out, seed=args.seed).items():
        paths[name] = str(save_png(picture, args.outdir / f"{name}.png"))
    return {
        "dataset": args.dataset,
        "train_images": len(train_images),
        "held_out_images": len(held_out),
        "image_shape": list(train_images.shape[1:]),
        "latent_dim": args.latent_dim,
        "negative_elbo": negative_elbo(result.model, held_out),
        "independent_pixels_nll": baseline.nll(baseline.independent_pixels(train_images), held_out),
        "train_metrics": result.metrics,
        "steps": result.steps,
        "resumed_from_step": result.resumed_from_step,
        "pictures": paths,
        "seconds": round(result.seconds, 3),
        "workers": result.workers,
        "replicas": result.replicas,
    }


def readable(summary: dict) -> str:
    height, width = summary["image_shape"]
    resumed = summary["resumed_from_step"]
    return "\n".join(
        [
            f"VAE on {summary['dataset']}: {summary['train_images']} training images of "
            f"{height}x{width}, {summary['held_out_images']} held out; {summary['steps']} steps"
            + (f" (resumed from step {resumed})" if resumed else ""),
            f"held out, negative ELBO {summary['negative_elbo']:8.3f} nats per image "
            "(the NLL is at most this)",
            f"without a latent code   {summary['independent_pixels_nll']:8.3f} nats per image "
            "(independent pixels, each fitted by MLE)",
            f"pictures                {', '.join(summary['pictures'].values())}",
            f"time                    {summary['seconds']:.1f} s on {summary['replicas']} "
            f"replica(s), {summary['workers']} worker(s)",
        ]
    )
