"""Writing new text: one character at a time, each drawn from p(next | text so far).

This is what "autoregressive" means: each sampled character is fed back in as
the context of the next. ``temperature`` below 1 makes likely characters likelier
(safer, duller text); above 1, the opposite.
"""

from __future__ import annotations

import numpy as np

from .._tf import import_tensorflow

tf = import_tensorflow()


def sample_text(model, alphabet, prompt: str, length: int = 400, temperature: float = 1.0, seed=0):
    """``prompt`` followed by ``length`` sampled characters (the same seed, the same text)."""
    rng = np.random.default_rng(seed)
    # One character in, the next logits and the memory out: compiled once, called often.
    step = tf.function(lambda numbers, state: model(numbers, state))
    logits, state = model(alphabet.encode(prompt)[None, :])  # read the prompt
    drawn = []
    for _ in range(length):
        scores = logits[0, -1].numpy().astype(np.float64) / temperature
        probabilities = np.exp(scores - scores.max())
        drawn.append(rng.choice(len(alphabet), p=probabilities / probabilities.sum()))
        logits, state = step(tf.constant([[drawn[-1]]], tf.int32), state)
    return prompt + alphabet.decode(drawn)
