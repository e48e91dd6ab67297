"""A character-level language model, written the keras.io way: a ``keras.Model``
whose ``train_step`` is one gradient step on the NLL of the next character.

    characters -> Embedding (a vector per character)
               -> GRU (a memory of the text so far, updated at every character)
               -> Dense (one score per character of the alphabet: the logits)
               -> softmax = p(next character | every character before it)

The NLL of a window is the sum of -log p(c_t | c_<t) over its positions: exact,
no bound (compare the VAE). Reported per character, in nats and in bits.
"""

from __future__ import annotations

import math

import numpy as np

from .._tf import import_tensorflow

tf = import_tensorflow()
import keras  # noqa: E402  (after TensorFlow, imported quietly)
from keras import layers, ops  # noqa: E402


class CharModel(keras.Model):
    """p(next character | the text so far), for every position of a window at once."""

    def __init__(self, alphabet_size: int, units: int = 128, embedding_dim: int = 32, **kwargs):
        super().__init__(**kwargs)
        self.embedding = layers.Embedding(alphabet_size, embedding_dim)
        self.gru = layers.GRU(units, return_sequences=True, return_state=True)
        self.next_char = layers.Dense(alphabet_size)
        self.nll_tracker = keras.metrics.Mean(name="nll")  # nats per character

    @property
    def metrics(self):
        return [self.nll_tracker]

    def call(self, numbers, state=None):
        """Logits of the next character at every position, and the GRU's memory at the end
        (give it back as ``state`` to go on where the text stopped: that is how we sample)."""
        hidden, state = self.gru(self.embedding(numbers), initial_state=state)
        return self.next_char(hidden), state

    def nll(self, rows):
        """Mean -log p(c_t | c_<t) in nats: read each row but its last character, predict
        each row but its first."""
        logits, _ = self(rows[:, :-1])
        losses = keras.losses.sparse_categorical_crossentropy(rows[:, 1:], logits, from_logits=True)
        return ops.mean(losses)

    def train_step(self, rows):
        """batch of windows -> NLL -> gradient -> one optimizer step."""
        with tf.GradientTape() as tape:
            loss = self.nll(rows)
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights, strict=True))
        self.nll_tracker.update_state(loss)
        nll = self.nll_tracker.result()
        return {"nll": nll, "bits_per_char": nll / math.log(2)}


def build_char_model(alphabet_size: int, units: int = 128, learning_rate=3e-3, seed: int = 0):
    """A compiled ``CharModel``; the same seed, the same start."""
    keras.utils.set_random_seed(seed)
    model = CharModel(alphabet_size, units=units)
    model(np.zeros((1, 2), np.int32))  # a first call creates the weights
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return model


def bits_per_char(model, rows: np.ndarray, batch: int = 256) -> float:
    """The mean NLL of ``rows`` (windows of the held-out text), in bits per character."""
    nats = [float(model.nll(tf.constant(rows[i : i + batch]))) for i in range(0, len(rows), batch)]
    weights = [len(rows[i : i + batch]) for i in range(0, len(rows), batch)]
    return float(np.average(nats, weights=weights) / math.log(2))
