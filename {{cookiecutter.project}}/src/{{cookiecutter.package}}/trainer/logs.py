"""Watching a fit: Keras's progress bar (or log lines) and TensorBoard.

* On a terminal: ``keras.utils.Progbar`` with the values ``train_step`` returns
  (on stderr: stdout is kept for the command's result). In a log file (a Slurm
  job): a plain line every 30 seconds, since a bar would fill the file.
* With ``logdir``: TensorBoard event files. Every value ``train_step`` returns,
  at every step (a curve per name), and at the end what ``report(model, step)``
  returns: arrays as images, strings as text. Open them with
  ``tensorboard --logdir DIR`` (see the README). A log that cannot be written
  (a full disk or quota) is a warning naming the folder, not the end of the fit:
  the curves stop there; the fit, its checkpoints and its result go on.
"""

from __future__ import annotations

import contextlib
import sys
import time

import numpy as np

from .._tf import import_tensorflow
from ..outputs import why

tf = import_tensorflow()
import keras  # noqa: E402  (after TensorFlow, imported quietly)


class Progress:
    """A Keras progress bar on a terminal; in a log file a plain line every ``every`` seconds."""

    def __init__(self, total: int, start: int, enabled: bool, every: float = 30.0):
        self.total, self.every, self.bar, self.enabled = total, every, None, enabled
        self.last = time.monotonic()
        if enabled and sys.stderr.isatty():
            with contextlib.redirect_stdout(sys.stderr):  # Keras writes to stdout
                self.bar = keras.utils.Progbar(total, stateful_metrics=None, unit_name="step")
                self.bar.update(start)
        elif enabled:
            self.log(start, {})

    def log(self, step: int, values: dict) -> None:
        shown = "".join(f"  {name} {value:.4f}" for name, value in values.items())
        print(f"step {step}/{self.total}{shown}", file=sys.stderr, flush=True)
        self.last = time.monotonic()

    def update(self, step: int, values: dict) -> None:
        """``values``: the last step's, by name (shown as they are, not averaged)."""
        if self.bar is not None:
            with contextlib.redirect_stdout(sys.stderr):
                self.bar.stateful_metrics = set(values)
                self.bar.update(step, list(values.items()), finalize=step == self.total)
        elif self.enabled and (time.monotonic() - self.last >= self.every or step == self.total):
            self.log(step, values)


class TensorBoard:
    """Event files for TensorBoard in ``logdir`` (no files at all when ``logdir`` is None)."""

    def __init__(self, logdir):
        self.logdir, self.writer = logdir, None
        if logdir is not None:
            with self.guard("at the start"):
                self.writer = tf.summary.create_file_writer(str(logdir))

    def scalars(self, last_step: int, names: list[str], values: np.ndarray) -> None:
        """``values[i, k]``: value ``names[k]`` of step ``last_step - len(values) + 1 + i``."""
        if self.writer is None:
            return
        first = last_step - len(values) + 1
        with self.guard(f"at step {first}"), self.writer.as_default():
            for step, row in enumerate(values, start=first):
                for name, value in zip(names, row, strict=True):
                    tf.summary.scalar(name, float(value), step=step)

    def report(self, step: int, items: dict) -> None:
        """Strings as text; arrays (HxW, HxWxC or NxHxWxC, values in [0, 1]) as images."""
        if self.writer is None:
            return
        with self.guard("at the end"), self.writer.as_default():
            for name, value in items.items():
                if isinstance(value, str):
                    tf.summary.text(name, value, step=step)
                else:
                    tf.summary.image(name, as_images(name, value), step=step, max_outputs=16)

    def close(self) -> None:
        if self.writer is not None:
            with self.guard("at the end"):
                self.writer.close()

    @contextlib.contextmanager
    def guard(self, when: str):
        """A failed write (TensorFlow writes in batches: the error may come later than the
        values lost) stops the logs with a warning; the fit goes on."""
        try:
            yield
        except (OSError, tf.errors.OpError) as err:
            writer, self.writer = self.writer, None
            with contextlib.suppress(Exception):  # it would try to write what it holds again
                writer.close()
            print(
                f"warning: TensorBoard logs stop {when}: cannot write in {self.logdir} "
                f"({why(err)}); the fit goes on, its checkpoints and result are not affected",
                file=sys.stderr,
                flush=True,
            )


def as_images(name: str, value) -> np.ndarray:
    """A batch of images (N, H, W, C) from HxW, HxWxC or NxHxWxC; ValueError otherwise."""
    images = np.asarray(value, dtype=np.float32)
    if images.ndim == 2:
        images = images[:, :, None]
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"report {name!r}: an image is HxW, HxWxC or NxHxWxC with C 1, 3 or 4; "
            f"got shape {np.shape(value)}"
        )
    if not (np.isfinite(images).all() and images.min() >= 0 and images.max() <= 1):
        raise ValueError(f"report {name!r}: image values must lie in [0, 1]")
    return images
