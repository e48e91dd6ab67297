"""Watching a fit: a progress bar (or log lines) and TensorBoard curves.

* On a terminal: a tqdm bar with the current NLL. In a log file (a Slurm job):
  a plain line every 30 seconds, since a bar would fill the file.
* With ``logdir``: TensorBoard event files. The NLL of every step (a curve
  under "nll") and, at the end, a picture of the fitted density (under
  "fit"). Open them with:  tensorboard --logdir DIR  (README.md).
"""

from __future__ import annotations

import io
import sys
import time

import numpy as np

from ._tf import import_tensorflow

tf = import_tensorflow()


class Progress:
    """A tqdm bar on a terminal; in a log file a plain line every ``every`` seconds."""

    def __init__(self, total: int, start: int, enabled: bool, every: float = 30.0):
        self.total, self.every, self.bar = total, every, None
        self.enabled = enabled
        self.last = time.monotonic()
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=start,
                desc="fit",
                unit="step",
                mininterval=0.5,
                file=sys.stderr,
                dynamic_ncols=True,
            )
        elif enabled:
            self.log(start, None)

    def log(self, step: int, loss) -> None:
        text = f"step {step}/{self.total}" + ("" if loss is None else f"  nll {loss:.4f}")
        print(text, file=sys.stderr, flush=True)
        self.last = time.monotonic()

    def update(self, step: int, count: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(nll=f"{loss:.4f}", refresh=False)
            self.bar.update(count)
        elif self.enabled and (time.monotonic() - self.last >= self.every or step == self.total):
            self.log(step, loss)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class TensorBoard:
    """Event files for TensorBoard in ``logdir`` (no files at all when ``logdir`` is None)."""

    def __init__(self, logdir):
        self.writer = None if logdir is None else tf.summary.create_file_writer(str(logdir))

    def losses(self, last_step: int, losses: np.ndarray) -> None:
        """The NLL of steps ``last_step - len(losses) + 1`` ... ``last_step``."""
        if self.writer is None:
            return
        first = last_step - len(losses) + 1
        with self.writer.as_default():
            for step, loss in enumerate(losses, start=first):
                tf.summary.scalar("nll", float(loss), step=step)

    def picture(self, step: int, model, x: np.ndarray, seed: int) -> None:
        """The fitted density (as ``plots.plot_fit`` draws it), for 2-D data."""
        if self.writer is None or x.shape[1] != 2:
            return
        from .plots import plot_fit

        png = io.BytesIO()
        plot_fit(model, x, png, title=f"{model.family} after {step} steps", seed=seed)
        image = tf.image.decode_png(png.getvalue(), channels=4)
        with self.writer.as_default():
            tf.summary.image("fit", image[None], step=step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
