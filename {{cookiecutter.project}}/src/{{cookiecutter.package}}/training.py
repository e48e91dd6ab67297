"""The training loop: gradient descent on the NLL, with checkpoints that survive a kill.

Written as a *custom* loop (not Keras ``Model.fit``) so every part is visible:

1. ``make_dataset``: minibatches through ``tf.data``, in an order fixed by the
   seed, so step s always sees the same points -- also after a restart.
2. ``train_step``: loss = sum of per-point NLLs / global batch size (the form
   ``tf.distribute`` needs when a batch is split across GPUs), its gradient, one
   Adam update. Compiled with ``tf.function`` into a graph: far faster than
   running it line by line ("eagerly").
3. Checkpoints (``tf.train.CheckpointManager``) hold the parameters, Adam's
   state and the step number. When Slurm is about to stop a job it sends a
   signal (SIGTERM, or SIGUSR1 with ``#SBATCH --signal``): the loop finishes the
   step it is on, saves, and exits with code 75 ("try again"). Run the same
   command again and it continues where it stopped, ending with the same
   parameters as a run that was never stopped.

Several GPUs or nodes (``distribute.py`` picks a ``tf.distribute`` strategy):
``fit(..., strategy=...)`` runs the same steps on every replica. Each step's
*global* batch is the same as on one worker; replica r takes rows
[r*B/R, (r+1)*B/R) of it, so 2 workers follow the same path as 1 worker.
Each replica's loss is its sum / B, and the optimizer adds the replicas'
gradients (an all-reduce), which gives exactly the gradient of the global
mean. Only the chief (worker 0) writes checkpoints; the others write theirs to
a temporary directory and delete it (every worker must take part in a save).
A signal seen by any worker stops all of them at the same step: after each
compiled call the workers agree (one small all-reduce) whether to stop.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
import signal
import sys
import tempfile
import time
import weakref
from pathlib import Path

import numpy as np

from ._tf import import_tensorflow
from .distribute import rank_and_workers

tf = import_tensorflow()

#: Exit code of a fit stopped by a signal (EX_TEMPFAIL: "try again later").
INTERRUPTED_EXIT = 75
SETTINGS_FILE = "fit-settings.json"
#: Aim for compiled calls of about this long: short enough to react to a signal
#: quickly, long enough that Python's overhead per call does not matter.
CALL_SECONDS = 0.05
MAX_CHUNK = 1000


class Interrupted(Exception):
    """The fit was stopped by a signal after saving a checkpoint (if it had a directory)."""

    def __init__(self, step: int, signal_name: str, checkpoint_dir: str | None):
        self.step, self.signal_name, self.checkpoint_dir = step, signal_name, checkpoint_dir
        if checkpoint_dir:
            detail = f"checkpoint saved to {checkpoint_dir}; rerun the same command to resume"
        else:
            detail = "no --checkpoint-dir was given, so nothing was saved"
        super().__init__(f"{signal_name}: interrupted at step {step}; {detail}")


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


def make_dataset(x: np.ndarray, batch_size: int | None, seed: int, start_step: int = 0):
    """Batches for steps ``start_step, start_step + 1, ...`` (endless).

    Full batch (``batch_size`` None or >= N): every step sees all points.
    Minibatches: each epoch is a fresh permutation drawn from (seed, epoch), cut
    into N // B batches of exactly B points (the leftover points of an epoch
    wait for the next one). Step s belongs to epoch s // (N // B), so a resumed
    fit can skip straight to the batch it stopped at.
    """
    points = tf.constant(x)
    n = int(x.shape[0])
    if batch_size is None or batch_size >= n:
        return tf.data.Dataset.from_tensors(points).repeat()
    per_epoch = n // batch_size
    first_epoch, skip = divmod(start_step, per_epoch)

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        return tf.data.Dataset.from_tensor_slices(
            tf.reshape(order[: per_epoch * batch_size], [per_epoch, batch_size])
        )

    options = tf.data.Options()
    options.deterministic = True
    return (
        tf.data.Dataset.range(first_epoch, 2**62)
        .flat_map(epoch_batches)
        .skip(skip)
        .map(lambda index: tf.gather(points, index))
        .prefetch(2)
        .with_options(options)
    )


def shard_dataset(x: np.ndarray, batch_size: int | None, seed: int, start_step: int, context):
    """This worker's part of every global batch, for ``distribute_datasets_from_function``.

    Every worker builds the same global batch sequence (``make_dataset``) and
    keeps its replicas' rows: replica r of R gets rows [r*B//R, (r+1)*B//R).
    A worker with several local replicas (GPUs) yields their pieces in turn,
    which is how ``tf.distribute`` hands per-replica batches to local replicas.
    """
    replicas = context.num_replicas_in_sync
    local = replicas // context.num_input_pipelines
    first = context.input_pipeline_id * local
    global_batch = x.shape[0] if batch_size is None else min(batch_size, x.shape[0])
    bounds = [global_batch * r // replicas for r in range(replicas + 1)]

    def pieces(batch):
        parts = None
        for r in range(first, first + local):
            part = tf.data.Dataset.from_tensors(batch[bounds[r] : bounds[r + 1]])
            parts = part if parts is None else parts.concatenate(part)
        return parts

    if batch_size is None or batch_size >= x.shape[0]:
        return pieces(tf.constant(x)).repeat()  # full batch: slice once, repeat
    return make_dataset(x, batch_size, seed, start_step).flat_map(pieces).prefetch(2)


def settings_fingerprint(model, x: np.ndarray, **settings) -> dict:
    """What must match for a checkpoint to be resumed: model, data and hyper-parameters."""
    digest = hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()[:16]
    return {
        "model": model.family,
        "components": getattr(model, "components", None),
        "data_shape": list(x.shape),
        "data_sha256": digest,
        **settings,
    }


class _Stopper:
    """Turns SIGTERM / SIGUSR1 into a flag the loop checks after each step."""

    SIGNALS = ("SIGTERM", "SIGUSR1")

    def __init__(self):
        self.signal_name = None
        self._previous = {}

    def _handle(self, signum, frame):
        self.signal_name = signal.Signals(signum).name

    def __enter__(self):
        import threading

        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                if hasattr(signal, name):
                    number = getattr(signal, name)
                    self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc):
        for number, handler in self._previous.items():
            signal.signal(number, handler)


class _Progress:
    """A tqdm bar on a terminal; in a log file (Slurm) a plain line every ``every`` seconds."""

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


def fit(
    model,
    x,
    *,
    steps: int = 500,
    learning_rate: float = 0.05,
    batch_size: int | None = None,
    seed: int = 0,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 100,
    progress: bool = True,
    initialize: bool = True,
    jit_compile: bool = False,
    callback=None,
    strategy=None,
    is_chief: bool = True,
) -> FitResult:
    """Minimise the mean NLL of ``x`` with Adam for ``steps`` steps; return a ``FitResult``.

    With ``checkpoint_dir`` the fit saves every ``checkpoint_every`` steps, at the
    end, and when stopped by SIGTERM/SIGUSR1 (then raises ``Interrupted``); a
    later call with the same settings resumes from the newest checkpoint.

    ``callback(step)``, if given, is called every ``checkpoint_every`` steps (to
    log, evaluate, or measure); when it returns True the fit stops there.

    ``jit_compile=True`` compiles the loss and its gradient with XLA, which fuses
    the many small operations of a density into a few kernels: about 10x more
    steps per second for small batches on a CPU, but each fit first spends a
    second or two compiling, and big full batches gain nothing.

    ``strategy``: a ``tf.distribute`` strategy (``distribute.choose_strategy``);
    the model must have been made under its ``scope()``. ``is_chief``: this
    process writes the checkpoints (the other workers only compute).
    """
    check_settings(steps, learning_rate, batch_size, checkpoint_every)
    x = model._array(x)
    if not model.trainable:
        return model.fit(x)
    strategy = strategy or tf.distribute.get_strategy()
    in_scope = strategy.extended.variable_created_in_scope
    outside = [v.name for v in model.variables if not in_scope(v)]
    if outside:
        raise ValueError(
            f"the model's variables ({', '.join(outside)}) were made outside the strategy's "
            "scope: create the model inside `with strategy.scope():`"
        )
    workers = rank_and_workers(strategy)[1]
    local_replicas = strategy.num_replicas_in_sync // workers
    began = time.monotonic()
    if initialize:
        model.initialize(x, seed=seed)  # same data and seed: the same start on every worker

    variables = model.trainable_variables
    with strategy.scope():
        optimizer = tf.keras.optimizers.Adam(learning_rate)
        # Adam's moment estimates now, so a checkpoint can fill them
        optimizer.build(variables)
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")

    saver = None
    if checkpoint_dir is not None:
        saver = _Saver(
            model,
            optimizer,
            step,
            Path(checkpoint_dir),
            settings_fingerprint(
                model, x, learning_rate=float(learning_rate), batch_size=batch_size, seed=int(seed)
            ),
            is_chief=is_chief,
        )
    start = int(step.numpy())
    if start > steps:
        raise ValueError(
            f"the checkpoint in {checkpoint_dir} is at step {start}, beyond --steps {steps}; "
            "ask for at least that many steps, or use a new checkpoint directory"
        )

    global_batch = x.shape[0] if batch_size is None else min(batch_size, x.shape[0])
    dataset = strategy.distribute_datasets_from_function(
        lambda context: shard_dataset(x, batch_size, seed, start, context)
    )

    @tf.function(jit_compile=jit_compile)
    def loss_and_gradients(batch):
        with tf.GradientTape() as tape:
            per_point = -model.log_prob(batch)
            # sum / GLOBAL batch size (not this replica's mean): adding the replicas'
            # losses and gradients then gives the global batch's mean exactly.
            loss = tf.reduce_sum(per_point) / global_batch
        return loss, tape.gradient(loss, variables)

    def train_step(batch):
        """One step of gradient descent on one replica's piece of the batch."""
        loss, gradients = loss_and_gradients(batch)
        # In a replica, Keras' optimizer first sums the gradients of all replicas
        # (an all-reduce), then every replica applies the same update.
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return loss

    @tf.function
    def run_steps(iterator, count):
        """``count`` steps inside one compiled call: Python's per-call overhead is
        paid once per call, not once per step."""
        loss = tf.constant(0.0)
        for _ in tf.range(count):
            per_replica = strategy.run(train_step, args=(next(iterator),))
            # This worker's share of the last step's loss; summing it over the
            # workers is left to ``agree`` (one all-reduce per call, not per step).
            loss = tf.add_n(strategy.experimental_local_results(per_replica))
            step.assign_add(1)
        return loss

    @tf.function
    def agree(votes):
        """Sum each worker's votes over all workers (an all-reduce)."""
        per_replica = strategy.run(lambda: tf.identity(votes))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    bar = _Progress(steps, start, enabled=progress and is_chief)
    chunk = 1  # steps per call; grows until a call takes about CALL_SECONDS
    current = start
    try:
        with _Stopper() as stopper:
            iterator = iter(dataset)
            while current < steps:
                # Stop exactly at checkpoint steps and at the end.
                count = min(chunk, steps - current, checkpoint_every - current % checkpoint_every)
                called = time.monotonic()
                loss = float(run_steps(iterator, tf.constant(count, tf.int64)))
                fast = time.monotonic() - called < CALL_SECONDS / 2
                current += count
                at_checkpoint = current % checkpoint_every == 0
                wants_stop = bool(at_checkpoint and callback is not None and callback(current))
                signalled, slow, stop = stopper.signal_name is not None, not fast, wants_stop
                if workers > 1:
                    # Every worker must make the same choices, or one would wait
                    # forever for the others in the next step's all-reduce.
                    # (Each local replica adds the votes once: divide the loss back.)
                    votes = [signalled, slow, stop, loss / local_replicas]
                    votes = agree(tf.constant(votes, tf.float32)).numpy()
                    signalled, slow, stop = (bool(v > 0) for v in votes[:3])
                    loss = float(votes[3])
                if not slow:
                    chunk = min(chunk * 2, MAX_CHUNK)
                if not math.isfinite(loss):
                    raise FloatingPointError(
                        f"the NLL became {loss} by step {current}: the learning rate "
                        f"({learning_rate}) is probably too large (try a smaller --lr), or a "
                        "component shrank onto a few points (try fewer components)"
                    )
                bar.update(current, count, loss)
                if signalled and current < steps:  # at the end: just finish
                    if saver is not None:
                        saver.save(current)
                    if workers > 1:  # all have saved before any exits (srun then ends the rest)
                        agree(tf.zeros([4]))
                    name = stopper.signal_name or "a signal to another worker"
                    raise Interrupted(current, name, str(checkpoint_dir) if saver else None)
                if at_checkpoint and saver is not None:
                    saver.save(current)
                if stop:
                    break
    finally:
        bar.close()
    if saver is not None and (not saver.has_checkpoint or start < current):
        saver.save(current)
    return FitResult(
        model=model,
        steps=current,
        nll=evaluate_nll(model, x, jit_compile=jit_compile),
        resumed_from_step=start,
        seconds=time.monotonic() - began,
        workers=workers,
        replicas=int(strategy.num_replicas_in_sync),
    )


def barrier(strategy) -> None:
    """Return when every worker has called this (an all-reduce of one number)."""
    strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.ones([])), axis=None)


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


class _Saver:
    """Checkpoints in ``directory`` (or the newest one restored from it).

    The settings are stored beside the checkpoints: resuming a fit with other
    data or hyper-parameters would silently mix two experiments, so it is refused.

    With several workers, all of them restore the chief's newest checkpoint and
    all of them save (saving may need every worker), but only the chief writes
    into ``directory``; the others write to a temporary directory and delete it.
    """

    def __init__(self, model, optimizer, step, directory: Path, settings: dict, is_chief=True):
        self.is_chief = is_chief
        if is_chief:
            directory.mkdir(parents=True, exist_ok=True)
        settings_path = directory / SETTINGS_FILE
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)
        latest = tf.train.latest_checkpoint(str(directory)) if directory.is_dir() else None
        self.has_checkpoint = latest is not None
        if latest:
            saved = json.loads(settings_path.read_text()) if settings_path.exists() else None
            if saved != settings:
                different = sorted(
                    key for key in settings if saved is None or saved.get(key) != settings[key]
                )
                raise ValueError(
                    f"{directory} holds checkpoints of a different fit (differs in: "
                    f"{', '.join(different) or 'settings file'}); use another --checkpoint-dir, "
                    "or delete that directory to start over"
                )
            self.checkpoint.restore(latest).assert_existing_objects_matched()
        elif is_chief:
            settings_path.write_text(json.dumps(settings, indent=2) + "\n")
        if is_chief:
            self.manager = tf.train.CheckpointManager(
                self.checkpoint, str(directory), max_to_keep=2
            )

    def save(self, step: int) -> None:
        if self.is_chief:
            self.manager.save(checkpoint_number=step)
        else:
            scratch = tempfile.mkdtemp(prefix="worker-checkpoint-")
            try:
                self.checkpoint.write(str(Path(scratch) / "ckpt"))
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        self.has_checkpoint = True
