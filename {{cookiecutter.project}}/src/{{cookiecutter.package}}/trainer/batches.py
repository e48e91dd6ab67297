"""Batches: which rows each step sees, and which replica gets which part.

``data`` is what ``model.fit`` takes: an array, or a tuple / dict of arrays
with the same number of rows. Full batch (``batch_size`` None or >= N): every
step sees all rows. Minibatches: each epoch is a fresh permutation drawn from
(seed, epoch), cut into N // B batches of exactly B rows (the leftover rows of
an epoch wait for the next one). Step s belongs to epoch s // (N // B), so a
resumed fit skips straight to the batch it stopped at and sees exactly what an
uninterrupted fit would have seen -- on one worker or many.

Every worker draws the same *global* batches (their row numbers); replica r of
R gets rows [r*B//R, (r+1)*B//R) of each, and a worker gathers only its
replicas' rows. A worker with several local replicas (GPUs)
yields their pieces in turn, which is how ``tf.distribute`` hands per-replica
batches to local replicas.
"""

from __future__ import annotations

import functools

import numpy as np

from .._tf import import_tensorflow

tf = import_tensorflow()


def as_arrays(data):
    """``data`` with every leaf a NumPy array, float64 as float32 (as ``model.fit`` does)."""

    def array(leaf):
        leaf = np.asarray(leaf)
        return leaf.astype(np.float32) if leaf.dtype == np.float64 else leaf

    return tf.nest.map_structure(array, data)


def rows(data) -> int:
    """The number of rows of ``data``; ValueError unless every array has that many."""
    leaves = tf.nest.flatten(data)
    if not leaves:
        raise ValueError("the data hold no arrays")
    counts = {np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in leaves}
    if None in counts or len(counts) != 1 or 0 in counts:
        raise ValueError(
            f"every array of the data needs the same number of rows, at least one; got {counts}"
        )
    return counts.pop()


def global_batch_size(data, batch_size: int | None) -> int:
    n = rows(data)
    return n if batch_size is None else min(batch_size, n)


def batch_rows(n: int, batch_size: int, seed: int, start_step: int = 0):
    """A ``tf.data`` pipeline of the row numbers of the minibatches of steps
    ``start_step``, ``start_step + 1``, ... (``batch_size`` < ``n``)."""
    per_epoch = n // batch_size
    first_epoch, skip = divmod(start_step, per_epoch)

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        return tf.data.Dataset.from_tensor_slices(
            tf.reshape(order[: per_epoch * batch_size], [per_epoch, batch_size])
        )

    return tf.data.Dataset.range(first_epoch, 2**62).flat_map(epoch_batches).skip(skip)


def replica_batches(data, batch_size: int | None, seed: int, start_step: int, context):
    """This worker's replicas' parts of every global batch, for
    ``strategy.distribute_datasets_from_function``."""
    replicas = context.num_replicas_in_sync
    local = replicas // context.num_input_pipelines
    mine = range(context.input_pipeline_id * local, (context.input_pipeline_id + 1) * local)
    n, size = rows(data), global_batch_size(data, batch_size)
    parts = [slice(size * r // replicas, size * (r + 1) // replicas) for r in mine]
    tensors = tf.nest.map_structure(tf.constant, data)

    if size == n:  # full batch: slice once, repeat
        pipeline = in_turn([tf.nest.map_structure(lambda t, p=p: t[p], tensors) for p in parts])
        return pipeline.repeat().with_options(fixed_pipeline())

    def gather(index):  # the rows of this worker's parts of one global batch (only those)
        return in_turn(
            [tf.nest.map_structure(lambda t, p=p: tf.gather(t, index[p]), tensors) for p in parts]
        )

    pipeline = batch_rows(n, size, seed, start_step).flat_map(gather).prefetch(2)
    return pipeline.with_options(fixed_pipeline())


def in_turn(elements: list):
    """A dataset of the elements, one after another."""
    return functools.reduce(
        tf.data.Dataset.concatenate, [tf.data.Dataset.from_tensors(e) for e in elements]
    )


def fixed_pipeline() -> tf.data.Options:
    """Batches in order, and no autotuning: these pipelines have nothing to tune, and
    tf.data's tuning thread held up the exit of a fit stopped by a signal by up to 3 s
    (measured at 10^6 points: its iterator's clean-up waits for that thread)."""
    options = tf.data.Options()
    options.deterministic = True
    options.autotune.enabled = False
    return options
