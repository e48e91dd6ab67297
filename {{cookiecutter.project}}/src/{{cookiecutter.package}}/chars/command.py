"""chars: train the text starter, report bits per character, write a sample.

    python -m <package> chars                          # Pride and Prejudice: a minute on a laptop
    python -m <package> chars --units 512 --steps 20000 --batch-size 256    # on Quest
    python -m <package> chars --text my_text.txt       # your own text (UTF-8)

Prints the held-out NLL in bits per character beside the unigram model's, and
writes sampled text to ``--outdir`` (and to TensorBoard with ``--logdir``).
The training flags (steps, checkpoints, logs) are the same as ``fit``'s.
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

from .. import trainer
from ..cli_types import positive_float, positive_int


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "chars",
        help="the text starter: a character-level language model (GRU)",
        description=__doc__.split("\n\n")[0],
    )
    trainer.add_arguments(parser, steps=400, learning_rate=3e-3, batch_size=64)
    parser.set_defaults(func=run)
    add = parser.add_argument
    add("--text", type=Path, metavar="FILE", help="a UTF-8 text (default: the shipped novel)")
    add("--units", type=positive_int, default=128, help="the GRU's size (default: 128)")
    add("--window", type=positive_int, default=64, help="characters per row (default: 64)")
    add("--sample-chars", type=positive_int, default=400, metavar="N", help="(default: 400)")
    add("--temperature", type=positive_float, default=1.0, help="of sampling (default: 1)")
    add(
        "--outdir",
        type=Path,
        default=Path("outputs/chars"),
        metavar="DIR",
        help="where the sampled text goes (default: outputs/chars)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    return trainer.run_command(lambda: train(args))


def load(args):
    """(alphabet, training windows, held-out windows, held-out characters), all checked."""
    from . import text

    words = text.load_text(args.text) if args.text else text.load_text()
    alphabet = text.Alphabet(words)
    train_part, held_out = text.split(alphabet.encode(words))
    rows = text.windows(train_part, args.window)
    return alphabet, rows, text.windows(held_out, args.window), (train_part, held_out)


def train(args: argparse.Namespace) -> int:
    """Load (and check) the text, fit, then report on the held-out part (the chief only)."""
    alphabet, rows, held_out_rows, parts = load(args)
    trainer.check_writable("--outdir", args.outdir)

    from .model import build_char_model
    from .sampling import sample_text

    def report(model, step):
        prompt = alphabet.decode(parts[1][:20])
        return {"sample": sample_text(model, alphabet, prompt, args.sample_chars, args.temperature)}

    build = functools.partial(build_char_model, len(alphabet), args.units, args.lr, args.seed)
    result = trainer.fit(build, rows, trainer.Settings.from_args(args), report=report)
    if result.is_chief:
        summary = summarize(result, alphabet, held_out_rows, parts, args)
        summary["sample_file"] = write_sample(report(result.model, result.steps), args.outdir)
        print(json.dumps(summary) if args.json else readable(summary))
    return 0


def summarize(result, alphabet, held_out_rows, parts, args) -> dict:
    from . import baseline
    from .model import bits_per_char

    train_part, held_out = parts
    return {
        "text": str(args.text) if args.text else "data/pride_and_prejudice.txt",
        "characters": len(train_part) + len(held_out),
        "alphabet": len(alphabet),
        "bits_per_char": bits_per_char(result.model, held_out_rows),
        "unigram_bits_per_char": baseline.bits_per_char(
            baseline.unigram(train_part, len(alphabet)), held_out
        ),
        "train_metrics": result.metrics,
        "steps": result.steps,
        "resumed_from_step": result.resumed_from_step,
        "seconds": round(result.seconds, 3),
        "workers": result.workers,
        "replicas": result.replicas,
    }


def write_sample(report: dict, outdir: Path) -> str:
    path = outdir / "sample.txt"
    path.write_text(report["sample"] + "\n", encoding="utf-8")
    return str(path)


def readable(summary: dict) -> str:
    resumed = summary["resumed_from_step"]
    sample = Path(summary["sample_file"]).read_text(encoding="utf-8")
    return "\n".join(
        [
            f"characters  {summary['text']}: {summary['characters']} characters, "
            f"{summary['alphabet']} different; {summary['steps']} steps"
            + (f" (resumed from step {resumed})" if resumed else ""),
            f"held out    {summary['bits_per_char']:.3f} bits per character",
            f"unigram     {summary['unigram_bits_per_char']:.3f} bits per character "
            "(each character as often as in the text, no context)",
            f"time        {summary['seconds']:.1f} s on {summary['replicas']} replica(s), "
            f"{summary['workers']} worker(s)",
            f"sample      {summary['sample_file']}:\n{sample}",
        ]
    )
