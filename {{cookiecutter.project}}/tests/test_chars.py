"""The text starter: its pieces, and a model that beats the unigram baseline."""

import json
import math

import numpy as np
import pytest

from {{ cookiecutter.package }}.chars import baseline, text


def test_the_shipped_text_is_small_and_public_domain():
    assert text.SHIPPED_TEXT.stat().st_size <= 200_000
    words = text.load_text()
    assert words.startswith("PRIDE AND PREJUDICE")


def test_alphabet_round_trip_and_unknown_characters():
    alphabet = text.Alphabet("hello world")
    assert alphabet.decode(alphabet.encode("low, hold"[:3])) == "low"
    with pytest.raises(ValueError, match="not in the training text"):
        alphabet.encode("xyz")


def test_windows_overlap_by_one_character():
    rows = text.windows(np.arange(10), length=3)
    assert rows.tolist() == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]


def test_unigram_is_the_entropy_of_the_counts():
    train = np.array([0, 0, 1, 1])
    p = baseline.unigram(train, 2)
    assert baseline.bits_per_char(p, train) == pytest.approx(1.0)


def test_too_little_text_is_refused(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("too short")
    with pytest.raises(ValueError, match="too little text"):
        text.load_text(short)


def test_an_untrained_model_knows_nothing_and_sampling_is_seeded():
    from {{ cookiecutter.package }}.chars.model import bits_per_char, build_char_model
    from {{ cookiecutter.package }}.chars.sampling import sample_text

    words = text.load_text()[:5000]
    alphabet = text.Alphabet(words)
    model = build_char_model(len(alphabet), units=16, seed=0)
    rows = text.windows(alphabet.encode(words), 32)
    # About log2(alphabet size) bits: every character equally likely, to start with.
    assert abs(bits_per_char(model, rows) - math.log2(len(alphabet))) < 0.5
    first = sample_text(model, alphabet, "It is", length=30, seed=1)
    assert first == sample_text(model, alphabet, "It is", length=30, seed=1)
    assert first.startswith("It is") and len(first) == 35


@pytest.mark.slow
def test_the_model_beats_the_unigram_on_held_out_text(cli, tmp_path):
    """The acceptance test: held-out bits per character well below the unigram model's."""
    done = cli("chars", "--steps", "200", "--json", "--no-progress", "--outdir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["bits_per_char"] < result["unigram_bits_per_char"] - 1.0, result
    assert len((tmp_path / "sample.txt").read_text()) > 400
