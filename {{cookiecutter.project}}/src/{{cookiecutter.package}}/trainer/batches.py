"""Batches: which rows each step sees, and which replica gets which part.

``data`` is what ``model.fit`` takes: an array, or a tuple / dict of arrays
with the same number of rows. Full batch (``batch_size`` None or >= N): every
step sees all rows. Minibatches: each epoch is a fresh permutation drawn from
(seed, epoch), cut into N // B batches of exactly B rows (the leftover rows of
an epoch wait for the next one). Step s belongs to epoch s // (N // B), so a
resumed fit skips straight to the batch it stopped at and sees exactly what an
uninterrupted fit would have seen -- on one worker or many.

Every worker builds the same *global* batches; replica r of R keeps rows
[r*B//R, (r+1)*B//R) of each. A worker with several local replicas (GPUs)
yields their pieces in turn, which is how ``tf.distribute`` hands per-replica
batches to local replicas.
"""

from __future__ import annotations

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


def global_batches(data, batch_size: int | None, seed: int, start_step: int = 0):
    """A ``tf.data`` pipeline of the batches of steps ``start_step``, ``start_step + 1``, ..."""
    tensors = tf.nest.map_structure(tf.constant, data)
    n = rows(data)
    if batch_size is None or batch_size >= n:
        return tf.data.Dataset.from_tensors(tensors).repeat()
    per_epoch = n // batch_size
    first_epoch, skip = divmod(start_step, per_epoch)

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        return tf.data.Dataset.from_tensor_slices(
            tf.reshape(order[: per_epoch * batch_size], [per_epoch, batch_size])
        )

    def gather(index):
        return tf.nest.map_structure(lambda t: tf.gather(t, index), tensors)

    return (
        tf.data.Dataset.range(first_epoch, 2**62)
        .flat_map(epoch_batches)
        .skip(skip)
        .map(gather)
        .prefetch(2)
    )


def replica_batches(data, batch_size: int | None, seed: int, start_step: int, context):
    """This worker's replicas' parts of every global batch, for
    ``strategy.distribute_datasets_from_function``."""
    replicas = context.num_replicas_in_sync
    local = replicas // context.num_input_pipelines
    first = context.input_pipeline_id * local
    size = global_batch_size(data, batch_size)
    bounds = [size * r // replicas for r in range(replicas + 1)]

    def pieces(*elements):  # tf.data passes a tuple's items as separate arguments
        batch = elements if isinstance(data, tuple) else elements[0]
        parts = None
        for r in range(first, first + local):
            part = tf.data.Dataset.from_tensors(
                tf.nest.map_structure(lambda t, r=r: t[bounds[r] : bounds[r + 1]], batch)
            )
            parts = part if parts is None else parts.concatenate(part)
        return parts

    if batch_size is None or batch_size >= rows(data):  # full batch: slice once, repeat
        tensors = tf.nest.map_structure(tf.constant, data)
        parts = (pieces(*tensors) if isinstance(data, tuple) else pieces(tensors)).repeat()
    else:
        parts = global_batches(data, batch_size, seed, start_step).flat_map(pieces).prefetch(2)
    return parts.with_options(fixed_pipeline())


def fixed_pipeline() -> tf.data.Options:
    """Batches in order, and no autotuning: these pipelines have nothing to tune, and
    tf.data's tuning thread held up the exit of a fit stopped by a signal by up to 3 s
    (measured at 10^6 points: its iterator's clean-up waits for that thread)."""
    options = tf.data.Options()
    options.deterministic = True
    options.autotune.enabled = False
    return options
