"""The sample data file that ships in data/, read as the README shows: every row, every time.

The same points saved by Excel ("CSV UTF-8") start with a byte-order mark (BOM);
they must read the same, with or without a header line.
"""

import codecs
import json
from pathlib import Path

import pytest

from {{ cookiecutter.package }}.cli import main

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "world_map.csv"


def rows_in(path: Path) -> int:
    """Data rows of a CSV file with one header line."""
    return len(path.read_text(encoding="utf-8").splitlines()) - 1


def fitted_points(capsys, path: Path) -> int:
    """How many points `fit --data PATH` fitted (the box: closed form, instant)."""
    code = main(["fit", "--no-progress", "--model", "box", "--data", str(path), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)["n"]


def test_sample_file_ships_with_a_header_and_two_columns():
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "longitude,latitude"
    assert len(lines) > 100 and all(len(line.split(",")) == 2 for line in lines)


@pytest.mark.parametrize("header", [True, False], ids=["header", "no-header"])
@pytest.mark.parametrize("bom", [False, True], ids=["utf-8", "utf-8-bom"])
def test_fit_reads_every_row_of_the_sample(tmp_path, capsys, bom, header):
    text = SAMPLE.read_text(encoding="utf-8")
    if not header:
        text = text.split("\n", 1)[1]
    copy = tmp_path / "points.csv"
    copy.write_bytes((codecs.BOM_UTF8 if bom else b"") + text.encode("utf-8"))
    assert fitted_points(capsys, copy) == rows_in(SAMPLE)
