"""The machinery: train any compiled Keras model on a laptop, several GPUs or Slurm nodes.

The one change to a keras.io-style script (see docs/own-model.md):

    model.fit(x, epochs=..., batch_size=128)        # becomes
    result = fit(build_model, x, Settings(steps=3000, batch_size=128,
                 checkpoint_dir="checkpoints/vae", logdir="logs/tensorboard/vae"))

Checkpoints and resuming, Slurm's warning signal (exit 75, requeue), TensorBoard,
a progress bar, and ``tf.distribute`` come with it. Week one can ignore this folder.
"""

from .command import check_writable, run_command
from .settings import Settings, add_arguments
from .signals import INTERRUPTED_EXIT, Interrupted

__all__ = [
    "INTERRUPTED_EXIT",
    "Interrupted",
    "Result",
    "Settings",
    "add_arguments",
    "check_writable",
    "fit",
    "run_command",
]


def __getattr__(name: str):
    """``fit`` and ``Result`` load TensorFlow: only when used (``--help`` stays quick)."""
    if name in ("fit", "Result"):
        from . import loop

        return getattr(loop, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
