"""Training: maximum likelihood by gradient descent -- the lecture's loop.

One step is what the lecture writes on the board (``train_step``):

    batch -> NLL (the loss) -> its gradient -> an Adam step

and ``loop`` repeats it and logs the NLL. A neural network is trained by the
very same loop; only ``model.log_prob`` is bigger. Written as a *custom* loop
(not Keras ``Model.fit``) so every part is visible.

A real job needs more than the lesson, and each piece of machinery lives in its
own module, called at one named point of ``loop`` or ``fit``:

* ``batches.py``      which points each step sees (fixed by the seed);
* ``checkpoints.py``  save every ``checkpoint_every`` steps, resume from the newest intact one;
* ``preemption.py``   Slurm's warning signal -> save, exit 75, resume when rerun;
* ``distribute.py``   several GPUs or nodes: each takes a slice of every batch, and
                      the workers agree on when to stop;
* ``progress.py``     a progress bar or log lines, and TensorBoard curves.

Speed: the steps run inside ``tf.function`` (compiled into a graph: for these
densities 15 to 35 times faster than running them line by line, measured on a
2-core CPU), many steps per call (``compile_steps``), because every call from
Python into TensorFlow has a fixed cost.
"""

from __future__ import annotations

import dataclasses
import math
import time
import weakref
from pathlib import Path

import numpy as np

from . import distribute
from ._tf import import_tensorflow
from .checkpoints import Checkpoints, fingerprint
from .preemption import MAX_STEPS_PER_CALL, CallSize, Interrupted, StopSignal
from .progress import Progress, TensorBoard

tf = import_tensorflow()


@dataclasses.dataclass
class FitResult:
    model: object
    steps: int
    nll: float
    method: str = "gradient descent"
    resumed_from_step: int = 0
    seconds: float = 0.0
    workers: int = 1
    replicas: int = 1


# -- the lesson -------------------------------------------------------------------------
def nll_and_gradients(model, batch, global_batch_size: int):
    """The loss -- the mean NLL of the batch -- and its gradient for every parameter."""
    with tf.GradientTape() as tape:  # records the computation, to differentiate it
        # The sum over this batch / the size of the *global* batch: on one device the
        # plain mean; split over devices, the devices' losses add up to that mean.
        nll = -tf.reduce_sum(model.log_prob(batch)) / global_batch_size
    return nll, tape.gradient(nll, model.trainable_variables)


def train_step(model, optimizer, batch, global_batch_size: int, gradients_of=nll_and_gradients):
    """batch -> NLL -> gradient -> one Adam step. Returns the NLL (before the step)."""
    nll, gradients = gradients_of(model, batch, global_batch_size)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
    return nll


def loop(run_steps, batches, steps: int, start: int, *, logs, saver, stop, team, callback=None):
    """Train from step ``start`` to ``steps``; return the last step done.

    ``run_steps(batches, count)`` runs ``train_step`` ``count`` times in one compiled
    call and returns the NLLs. Between two calls, the machinery gets its turn.
    """
    current, calls = start, CallSize(steps, saver.every)
    while current < steps:
        count = calls.next(current)
        losses = run_steps(batches, tf.constant(count, tf.int64)).numpy()
        slow = calls.was_slow()
        current += count
        at_checkpoint = current % saver.every == 0
        wants_stop = bool(at_checkpoint and callback is not None and callback(current))
        # All workers must make the same choices; and the NLL is the sum of theirs.
        losses, (signalled, slow, wants_stop) = team.agree(
            losses, stop.name is not None, slow, wants_stop
        )
        calls.grow(slow)
        check_finite(float(losses[-1]), current)
        logs.update(current, losses)  # progress bar or log line; TensorBoard
        if signalled and current < steps:  # (at the very end: just finish)
            saver.save(current)
            team.wait_for_all()  # all have saved before any exits
            raise Interrupted(current, stop.name or "a signal to another worker", saver.where)
        if at_checkpoint:
            saver.save(current)
        if wants_stop:
            break
    return current


# -- the machinery around it ----------------------------------------------------------------
def fit(
    model,
    x,
    *,
    steps: int = 500,
    learning_rate: float = 0.05,
    batch_size: int | None = None,
    seed: int = 0,
    closed_form: bool = False,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 100,
    logdir: str | Path | None = None,
    progress: bool = True,
    initialize: bool = True,
    jit_compile: bool = False,
    callback=None,
    strategy=None,
    is_chief: bool = True,
) -> FitResult:
    """Fit ``model`` to the points ``x`` by maximum likelihood; return a ``FitResult``.

    Gradient descent (Adam, ``steps`` steps) on the mean NLL -- or the formula, when
    the family has no gradient to follow (the box) or ``closed_form`` asks for it.
    This is the one place that decides.

    ``checkpoint_dir``: save every ``checkpoint_every`` steps, at the end, and when
    stopped by SIGTERM/SIGUSR1 (then raise ``preemption.Interrupted``); a later
    call with the same settings resumes from the newest intact checkpoint.
    ``logdir``: TensorBoard event files (the NLL of every step, a picture at the end).
    ``callback(step)``: called every ``checkpoint_every`` steps; True stops the fit.
    ``jit_compile=True``: compile the loss and gradient with XLA (about 10x more
    steps per second for small batches on a CPU, after a second of compiling).
    ``strategy``: a ``tf.distribute`` strategy (``distribute.choose_strategy``); the
    model must have been made under its ``scope()``. ``is_chief``: this process
    writes checkpoints and logs (the other workers only compute).
    """
    check_settings(steps, learning_rate, batch_size, checkpoint_every)
    x = model._array(x)
    if closed_form or not model.trainable:
        model.fit_closed_form(x)
        return FitResult(model, steps=0, nll=evaluate_nll(model, x), method="closed form")
    strategy = distribute.check_scope(model, strategy)
    began = time.monotonic()
    if initialize:
        model.initialize(x, seed=seed)  # same data and seed: the same start on every worker
    with strategy.scope():
        optimizer = tf.keras.optimizers.Adam(learning_rate)
        optimizer.build(model.trainable_variables)  # Adam's moments, for a checkpoint to fill
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    saver = Checkpoints(
        checkpoint_dir,
        checkpoint_every,
        fingerprint(model, x, learning_rate=float(learning_rate), batch_size=batch_size, seed=seed),
        model=model,
        optimizer=optimizer,
        step=step,
        is_chief=is_chief,
    )
    start = int(step.numpy())
    if start > steps:
        raise ValueError(
            f"the checkpoint in {checkpoint_dir} is at step {start}, beyond --steps {steps}; "
            "ask for at least that many steps, or use a new checkpoint directory"
        )
    batches = strategy.distribute_datasets_from_function(
        lambda context: distribute.shard_dataset(x, batch_size, seed, start, context)
    )
    global_batch = x.shape[0] if batch_size is None else min(batch_size, x.shape[0])
    run_steps = compile_steps(model, optimizer, step, strategy, global_batch, jit_compile)
    team = distribute.Team(strategy, max_losses=MAX_STEPS_PER_CALL)
    logs = Logs(steps, start, progress and is_chief, logdir if is_chief else None)
    try:
        with StopSignal() as stop:
            current = loop(
                run_steps,
                iter(batches),
                steps,
                start,
                logs=logs,
                saver=saver,
                stop=stop,
                team=team,
                callback=callback,
            )
        saver.save_at_end(current, start)
        logs.picture(current, model, x, seed)
    finally:
        logs.close()
    return FitResult(
        model=model,
        steps=current,
        nll=evaluate_nll(model, x, jit_compile=jit_compile),
        resumed_from_step=start,
        seconds=time.monotonic() - began,
        workers=team.workers,
        replicas=int(strategy.num_replicas_in_sync),
    )


def compile_steps(model, optimizer, step, strategy, global_batch: int, jit_compile: bool):
    """``run_steps(batches, count)``: ``count`` train steps in one ``tf.function`` call.

    Python's overhead is then paid once per call, not once per step. Under a
    ``tf.distribute`` strategy every replica runs ``train_step`` on its slice of the
    batch; Keras' optimizer sums the replicas' gradients (an all-reduce) first.
    """
    gradients_of = nll_and_gradients
    if jit_compile:  # XLA fuses the density's many small operations into a few kernels
        gradients_of = tf.function(nll_and_gradients, jit_compile=True)

    def one_step(batch):
        return train_step(model, optimizer, batch, global_batch, gradients_of)

    @tf.function
    def run_steps(batches, count):
        losses = tf.TensorArray(tf.float32, size=tf.cast(count, tf.int32))
        for i in tf.range(count):
            per_replica = strategy.run(one_step, args=(next(batches),))
            # This worker's share of the step's NLL (the workers' shares add up to it).
            nll = tf.add_n(strategy.experimental_local_results(per_replica))
            losses = losses.write(tf.cast(i, tf.int32), nll)
            step.assign_add(1)
        return losses.stack()

    return run_steps


class Logs:
    """What the loop shows: the progress display, and TensorBoard when there is a logdir."""

    def __init__(self, steps: int, start: int, progress: bool, logdir):
        self.bar, self.board = Progress(steps, start, enabled=progress), TensorBoard(logdir)

    def update(self, current: int, losses) -> None:
        self.bar.update(current, len(losses), float(losses[-1]))
        self.board.losses(current, losses)

    def picture(self, step: int, model, x, seed: int) -> None:
        self.board.picture(step, model, x, seed)

    def close(self) -> None:
        self.bar.close()
        self.board.close()


def check_finite(nll: float, step: int) -> None:
    if not math.isfinite(nll):
        raise FloatingPointError(
            f"the NLL became {nll} by step {step}: the learning rate is probably too large "
            "(try a smaller --lr), or a component shrank onto a few points (try fewer components)"
        )


def check_settings(steps, learning_rate, batch_size, checkpoint_every) -> None:
    """Bad hyper-parameters fail before anything runs, with the reason."""
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 0:
        raise ValueError(f"steps must be a whole number, 0 or more; got {steps!r}")
    if not isinstance(learning_rate, int | float) or not (
        math.isfinite(learning_rate) and learning_rate > 0
    ):
        raise ValueError(f"learning rate must be a finite number above 0; got {learning_rate!r}")
    if batch_size is not None and (not isinstance(batch_size, int | np.integer) or batch_size < 1):
        raise ValueError(f"batch size must be a whole number, 1 or more; got {batch_size!r}")
    if not isinstance(checkpoint_every, int | np.integer) or checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be 1 or more; got {checkpoint_every!r}")


_COMPILED_LOG_PROB = weakref.WeakKeyDictionary()


def _compiled_log_prob(model, jit_compile: bool):
    """``model.log_prob`` as a ``tf.function``, traced once per model (not once per call)."""
    compiled = _COMPILED_LOG_PROB.setdefault(model, {})
    if jit_compile not in compiled:
        ref = weakref.ref(model)  # no strong reference: the model can still be freed
        compiled[jit_compile] = tf.function(
            lambda x: ref().log_prob(x),
            input_signature=[tf.TensorSpec([None, model.dim], tf.float32)],  # any number of rows
            jit_compile=jit_compile,
        )
    return compiled[jit_compile]


def evaluate_nll(model, x: np.ndarray, batch_size: int = 65536, jit_compile: bool = False) -> float:
    """Mean NLL over all of ``x``, in chunks so memory stays bounded for big data."""
    total = 0.0
    log_prob = _compiled_log_prob(model, jit_compile)
    for start in range(0, len(x), batch_size):
        chunk = tf.constant(x[start : start + batch_size])
        total += float(tf.reduce_sum(tf.cast(log_prob(chunk), tf.float64)))
    return -total / len(x)
