"""The settings of a fit, and the command-line flags every training command shares.

parser = argparse.ArgumentParser()
trainer.add_arguments(parser, steps=3000, learning_rate=1e-3)
args = parser.parse_args()
result = trainer.fit(build_model, data, trainer.Settings.from_args(args))
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..cli_types import positive_float, positive_int, seed_type


@dataclasses.dataclass(frozen=True)
class Settings:
    """How to train (what to train is ``build_model``'s business).

    steps: optimizer steps in all (a resumed fit continues to this number).
    batch_size: rows per step, over all GPUs and workers (None: all rows, full batch).
    seed: fixes the batch order (each epoch a permutation drawn from seed and epoch).
    checkpoint_dir: save here every ``checkpoint_every`` steps and at the end;
        a rerun with the same settings resumes from the newest intact checkpoint.
    logdir: TensorBoard event files.  progress: a progress bar or log lines on stderr.
    """

    steps: int = 500
    batch_size: int | None = None
    seed: int = 0
    checkpoint_dir: str | Path | None = None
    checkpoint_every: int = 100
    logdir: str | Path | None = None
    progress: bool = True

    def __post_init__(self):
        _whole("steps", self.steps, 0)
        if self.batch_size is not None:
            _whole("batch size", self.batch_size, 1)
        _whole("seed", self.seed, 0)
        _whole("checkpoint_every", self.checkpoint_every, 1)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Settings:
        """The settings from the flags ``add_arguments`` declared."""
        return cls(
            steps=args.steps,
            batch_size=args.batch_size,
            seed=args.seed,
            checkpoint_dir=args.checkpoint_dir,
            checkpoint_every=args.checkpoint_every,
            logdir=args.logdir,
            progress=not args.no_progress,
        )


def _whole(name: str, value, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be a whole number, {least} or more; got {value!r}")


def add_arguments(parser, *, steps: int = 500, learning_rate: float | None = None) -> None:
    """The flags of every training command (``--lr`` only when ``learning_rate`` is given)."""
    add = parser.add_argument
    add("--steps", type=positive_int, default=steps, help=f"optimizer steps (default: {steps})")
    if learning_rate is not None:
        add(
            "--lr",
            type=positive_float,
            default=learning_rate,
            help=f"the optimizer's learning rate (default: {learning_rate})",
        )
    add(
        "--batch-size",
        type=positive_int,
        metavar="B",
        help="rows per step, over all GPUs and workers (default: all of them, full batch)",
    )
    add(
        "--seed",
        type=seed_type,
        default=0,
        help="seed for the start and the batch order (default: 0)",
    )
    add("--checkpoint-dir", type=Path, metavar="DIR", help="save checkpoints here, resume them")
    add(
        "--checkpoint-every",
        type=positive_int,
        default=100,
        metavar="STEPS",
        help="steps between checkpoints (default: 100)",
    )
    add(
        "--logdir",
        type=Path,
        metavar="DIR",
        help="write TensorBoard logs here (open with: tensorboard --logdir DIR)",
    )
    add("--json", action="store_true", help="print the result as one JSON object on stdout")
    add("--no-progress", action="store_true", help="no progress display on stderr")
