"""``fit``: train any compiled Keras model with the guarantees a cluster job needs.

    result = fit(build_model, data, Settings(steps=3000, batch_size=128,
                 checkpoint_dir="checkpoints/vae", logdir="logs/tensorboard/vae"))

in place of ``model.fit(data, ...)``. Each step calls the model's own
``train_step`` (yours, as keras.io writes it, or Keras's default one for a model
compiled with a loss), so the model is trained exactly as ``model.fit`` would
train it. Around the steps, one named piece of machinery per module:

* ``strategy.py``     one GPU, several, or several Slurm nodes; the workers' vote;
* ``batches.py``      which rows each step sees (fixed by the seed), and each replica's part;
* ``checkpoints.py``  save every ``checkpoint_every`` steps, resume from the newest intact one;
* ``signals.py``      Slurm's warning signal -> save, exit 75, resume when rerun;
* ``logs.py``         a progress bar or log lines, and TensorBoard.

Why not ``model.fit`` with callbacks: see CONTRIBUTING.md, "The trainer: what is
ours and why" (``model.fit`` fails under ``MultiWorkerMirroredStrategy`` in
Keras 3, and ``BackupAndRestore`` cannot fall back to an older intact checkpoint).

Speed: many steps run in one ``tf.function`` call, because every call from
Python into TensorFlow has a fixed cost; between two calls (about 0.05 s) the
machinery gets its turn.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from .._tf import import_tensorflow
from . import batches, strategy
from .checkpoints import Checkpoints, fingerprint
from .logs import Progress, TensorBoard
from .settings import Settings
from .signals import MAX_STEPS_PER_CALL, CallSize, Interrupted, StopSignal

tf = import_tensorflow()
import keras  # noqa: E402  (after TensorFlow, imported quietly)


@dataclasses.dataclass
class Result:
    """What ``fit`` returns. ``metrics``: the last step's values of what ``train_step``
    returns, averaged over the replicas (for a minibatch: that batch's, not all data's)."""

    model: object
    steps: int
    resumed_from_step: int
    metrics: dict
    seconds: float
    workers: int
    replicas: int
    is_chief: bool
    strategy: str


def fit(build_model, data, settings: Settings | None = None, report=None, callback=None) -> Result:
    """Train the model ``build_model()`` returns on ``data``; see the module's docstring.

    ``build_model()``: returns a *compiled* ``keras.Model``; called once, inside the
    strategy's scope. ``data``: an array, or a tuple / dict of arrays (as ``model.fit``
    takes them). ``report(model, step)``: called on the chief at the end; returns
    {name: image array or text} for TensorBoard. ``callback(model, step)``: called at
    every checkpoint step; True stops the fit there (benchmarks use it).
    """
    began, settings = time.monotonic(), settings or Settings()
    with StopSignal() as stop:
        chosen, is_chief = strategy.choose_strategy()
        run = Run(build_model, batches.as_arrays(data), settings, chosen, is_chief)
        try:
            current, metrics = run.loop(stop, callback)
            run.saver.save_at_end(current, run.start)
            if report is not None and is_chief:
                run.board.report(current, report(run.model, current))
        finally:
            run.close()
    return Result(
        run.model,
        current,
        run.start,
        metrics,
        time.monotonic() - began,
        run.team.workers,
        int(chosen.num_replicas_in_sync),
        is_chief,
        strategy.strategy_name(chosen),
    )


class Run:
    """One fit's parts: the model, its checkpoints, its batches, its compiled steps, its logs."""

    def __init__(self, build_model, data, settings: Settings, chosen, is_chief: bool):
        self.settings, self.every = settings, settings.checkpoint_every
        with chosen.scope():
            self.model = make_model(build_model, data, settings.seed)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            factor = replica_factor(self.model.optimizer)
        saves = {"model": self.model, "optimizer": self.model.optimizer, "step": self.step}
        # Every variable, by its place in model.variables: also the random generators'
        # states and the metrics' totals, which Keras does not expose to a Checkpoint.
        saves["variables"] = [variable.value for variable in self.model.variables]
        where = settings.checkpoint_dir
        found = fingerprint(self.model, data, settings.batch_size, settings.seed)
        self.saver = Checkpoints(where, self.every, found, objects=saves, is_chief=is_chief)
        self.start = int(self.step.numpy())
        if self.start > settings.steps:
            self.saver.close()
            raise ValueError(
                f"the checkpoint in {where} is at step {self.start}, beyond --steps "
                f"{settings.steps}; ask for at least that many steps, or use a new checkpoint "
                "directory"
            )
        self.batches = iter(chosen.distribute_datasets_from_function(self._dataset(data)))
        size = batches.global_batch_size(data, settings.batch_size)
        self.run_steps, self.names = compile_steps(self.model, chosen, self.step, factor, size)
        self.team = strategy.Team(chosen, max_values=MAX_STEPS_PER_CALL)
        self.bar = Progress(settings.steps, self.start, settings.progress and is_chief)
        self.board = TensorBoard(settings.logdir if is_chief else None)

    def _dataset(self, data):
        s = self.settings
        return lambda context: batches.replica_batches(
            data, s.batch_size, s.seed, self.start, context
        )

    def loop(self, stop, callback):
        """Train from step ``start`` to ``settings.steps``; return (last step, its values)."""
        current, calls, metrics = self.start, CallSize(self.settings.steps, self.every), {}
        signalled = self.team.agree(np.zeros((0, 0)), stop.name is not None)[1][0]
        while current < self.settings.steps and not signalled:
            if current % self.every == 0:
                self.model.reset_metrics()  # keras.io's trackers: means since the last checkpoint
            count = calls.next(current)
            names, values = self.call(count)
            current += count
            at_checkpoint = current % self.every == 0
            wants_stop = bool(at_checkpoint and callback and callback(self.model, current))
            # All workers must make the same choices; the values are averaged over them.
            values, (signalled, slow, wants_stop) = self.team.agree(
                values, stop.name is not None, calls.was_slow(), wants_stop
            )
            calls.grow(slow)
            metrics = check_finite(dict(zip(names, values[-1].tolist(), strict=True)), current)
            self.bar.update(current, metrics)
            self.board.scalars(current, names, values)
            if at_checkpoint or (signalled and current < self.settings.steps):
                self.saver.save(current, last=current == self.settings.steps)
            if wants_stop:
                break
        if signalled and current < self.settings.steps:
            self.team.wait_for_all()  # all have saved before any exits
            why = stop.name or "a signal to another worker"
            raise Interrupted(current, why, self.saver.where, saved=self.saver.saved)
        return current, metrics

    def call(self, count: int) -> tuple[list[str], np.ndarray]:
        """Run ``count`` steps in one compiled call: (names, values[step, name])."""
        values = self.run_steps(self.batches, tf.constant(count, tf.int64)).numpy()
        return self.names, values

    def close(self) -> None:
        self.saver.close()
        self.board.close()


def make_model(build_model, data, seed: int):
    """``build_model()``, checked, with its variables and the optimizer's made
    (a checkpoint restores into existing variables). Keras's random numbers
    (initial weights, dropout, sampling) are seeded first: the same on every
    worker and in every rerun (``keras.utils.set_random_seed`` also seeds NumPy's
    and Python's global generators)."""
    keras.utils.set_random_seed(seed)
    model = build_model()
    if getattr(model, "optimizer", None) is None:
        raise ValueError(
            "build_model must return a compiled model: call model.compile(optimizer=...) "
            "in it (and a loss, if your model has no train_step of its own)"
        )
    one_row = tf.nest.map_structure(lambda array: np.asarray(array)[:1], data)
    try:
        model._symbolic_build(data_batch=one_row)  # what model.fit does first
    except Exception as err:  # a model without call(): fine if its variables exist
        if not model.weights:
            raise ValueError(
                f"cannot make the model's variables ({err}); call the model once on a "
                "batch in build_model before returning it"
            ) from None
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    return model


def replica_factor(optimizer):
    """A per-replica divisor of the gradients: ``fit`` makes the summed gradient the mean.

    Keras's optimizer *sums* the replicas' gradients. A keras.io ``train_step``
    takes the mean loss of its replica's rows, so replica r's gradient is divided
    by B / n_r (B rows in the global batch, n_r in its part): the sum is then the
    gradient of the mean over all B rows, as on one device. Keras divides by the
    optimizer's ``loss_scale_factor`` (and multiplies the loss by it in its own
    ``train_step``, which stays right); a variable with one value per replica.
    (Also with one replica, where it is 1: an ``Embedding``'s gradient is then made dense,
    as the replicas' all-reduce makes it, so one worker trains as two do. Without it the
    chars starter's one-worker result left two workers' after 60 steps: 3.64 vs 4.14 bits.)
    """
    base = optimizer.loss_scale_factor or 1.0
    factor = tf.Variable(
        1.0,
        trainable=False,
        synchronization=tf.VariableSynchronization.ON_READ,
        aggregation=tf.VariableAggregation.MEAN,
    )
    object.__setattr__(optimizer, "loss_scale_factor", factor)  # untracked: not checkpointed
    return base, factor


def compile_steps(model, chosen, step, factor, global_batch: int):
    """``run_steps(batches, count)``: ``count`` train steps in one ``tf.function`` call.

    Every replica runs ``model.train_step`` on its part of the batch (as ``model.fit``
    does, with XLA if the model was compiled with ``jit_compile=True``); returns
    values[step, name], averaged over this worker's replicas, ``names`` as first traced.
    """
    base, divisor = factor
    train_step = model.train_step  # (a nested tf.function breaks tf.distribute's all-reduce)
    if model.jit_compile is True and chosen.num_replicas_in_sync == 1:  # XLA, as model.fit
        train_step = tf.function(model.train_step, jit_compile=True, autograph=False)
    names = []

    def one_step(batch):
        rows = tf.shape(tf.nest.flatten(batch)[0])[0]
        divisor.assign(base * global_batch / tf.cast(rows, tf.float32))
        logs = train_step(batch)
        return {name: tf.reduce_mean(tf.cast(value, tf.float32)) for name, value in logs.items()}

    def next_step(batches):
        logs = chosen.run(one_step, args=(next(batches),))
        step.assign_add(1)
        names[:] = sorted(logs)
        local = [chosen.experimental_local_results(logs[name]) for name in names]
        return tf.stack([tf.add_n(list(values)) / len(values) for values in local])

    # autograph=False, as model.fit: the model's Python runs as written while it is traced
    # (an `if` on a tensor needs keras.ops.cond, as in keras.io's examples); tracing is quicker.
    @tf.function(autograph=False)
    def run_steps(batches, count):
        size = tf.cast(count, tf.int32)

        def body(i, values):  # the step, traced once inside the loop
            return i + 1, values.write(i, next_step(batches))

        start = (tf.constant(0), tf.TensorArray(tf.float32, size=size))
        return tf.while_loop(lambda i, _: i < size, body, start)[1].stack()

    return run_steps, names


def check_finite(metrics: dict, step: int) -> dict:
    bad = {name: value for name, value in metrics.items() if not math.isfinite(value)}
    if bad:
        raise FloatingPointError(
            f"{', '.join(f'{k} became {v}' for k, v in bad.items())} by step {step}: the "
            "learning rate is probably too large (try a smaller --lr)"
        )
    return metrics
