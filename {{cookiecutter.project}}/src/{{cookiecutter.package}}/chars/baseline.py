"""The unigram model: each character as often as in the training text, no context.

Its NLL, in bits per character, is the entropy of the character counts: about
4.4 bits for English prose. A model that uses the context must do much better.
"""

from __future__ import annotations

import numpy as np


def unigram(train: np.ndarray, alphabet_size: int) -> np.ndarray:
    """Each character's probability: its count in ``train``, plus one (no zero probabilities)."""
    counts = np.bincount(train, minlength=alphabet_size) + 1.0
    return counts / counts.sum()


def bits_per_char(probabilities: np.ndarray, numbers: np.ndarray) -> float:
    """The mean NLL of the characters ``numbers`` under ``probabilities``, in bits."""
    return float(-np.log2(probabilities[numbers]).mean())
