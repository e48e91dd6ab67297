"""Batches: which points each step of gradient descent sees.

Full batch (``batch_size`` None or >= N): every step sees all points.
Minibatches: each epoch is a fresh permutation drawn from (seed, epoch), cut
into N // B batches of exactly B points (the leftover points of an epoch wait
for the next one). Step s belongs to epoch s // (N // B), so a resumed fit can
skip straight to the batch it stopped at and see exactly what an uninterrupted
fit would have seen.
"""

from __future__ import annotations

import numpy as np

from ._tf import import_tensorflow

tf = import_tensorflow()


def make_dataset(x: np.ndarray, batch_size: int | None, seed: int, start_step: int = 0):
    """A ``tf.data`` pipeline of the batches of steps ``start_step``, ``start_step + 1``, ..."""
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
