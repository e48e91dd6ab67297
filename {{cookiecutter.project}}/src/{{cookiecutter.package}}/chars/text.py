"""The text, its alphabet, and the windows the model trains on.

The text the project ships, ``data/pride_and_prejudice.txt``, is chapters 1-19 of
Jane Austen's *Pride and Prejudice* (1813), public domain: the Project Gutenberg
text as packaged by Julia Silge's ``janeaustenr`` (Debian: r-cran-janeaustenr).
Any plain-text file of your own works the same way (``chars --text FILE``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: The shipped text (src/<package>/chars/text.py -> the project's data/ folder).
SHIPPED_TEXT = Path(__file__).resolve().parents[3] / "data" / "pride_and_prejudice.txt"
#: The last tenth of the text is held out: the NLL reported is on text the model never saw.
HELD_OUT_FRACTION = 0.1


def load_text(path: Path = SHIPPED_TEXT) -> str:
    """The file's text (UTF-8); ``ValueError`` when there is too little to learn from."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    if len(text) < 1000:
        raise ValueError(f"{path}: {len(text)} characters is too little text to learn from")
    return text


class Alphabet:
    """The characters of a text, each with a number (the model sees numbers)."""

    def __init__(self, text: str):
        self.chars = sorted(set(text))
        self.index = {char: i for i, char in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """The characters' numbers; a character the alphabet lacks is an error."""
        missing = sorted(set(text) - set(self.index))
        if missing:
            raise ValueError(f"characters not in the training text: {''.join(missing)!r}")
        return np.array([self.index[char] for char in text], dtype=np.int32)

    def decode(self, numbers) -> str:
        return "".join(self.chars[int(i)] for i in numbers)


def split(numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(training part, held-out part): the last ``HELD_OUT_FRACTION`` of the text is held out."""
    cut = int(len(numbers) * (1 - HELD_OUT_FRACTION))
    return numbers[:cut], numbers[cut:]


def windows(numbers: np.ndarray, length: int) -> np.ndarray:
    """Consecutive pieces of ``length + 1`` characters, one per row (N x (length + 1)).

    The model reads the first ``length`` characters of a row and, at every position,
    predicts the next one: the row shifted by one.
    """
    count = (len(numbers) - 1) // length
    if count < 1:
        raise ValueError(f"{len(numbers)} characters cannot make a window of {length + 1}")
    starts = np.arange(count) * length
    return numbers[starts[:, None] + np.arange(length + 1)]
