"""Your own points from a file, checked once, at the edge, before anything is fitted.

``load_points`` reads ``.npy`` or ``.csv``; ``check_points`` makes sure an array is
N x D finite numbers. Every error names the file (and the line) and says what to do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def load_points(path: str | Path) -> np.ndarray:
    """Read an N x D array of points from ``.npy`` or ``.csv`` (comma-separated, one
    point per row, an optional header line). Raises ``ValueError`` saying what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".csv"):
        raise ValueError(f"{path}: unknown format {suffix or '(no suffix)'!r}; use .npy or .csv")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: the file is empty (0 bytes); no points to fit")
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise ValueError(
                f"{path}: not a readable .npy array ({err or 'the file ends too early'}); "
                "save it with numpy.save"
            ) from None
    else:
        array = _read_csv(path)
    return check_points(array, name=str(path))


def check_points(x, name: str = "data") -> np.ndarray:
    """Return ``x`` as a float32 array of shape (N, D), or raise ``ValueError`` saying why not."""
    try:
        array = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: cannot read as numbers ({err})") from None
    if array.ndim != 2:
        hint = " (for 1-D data use x.reshape(-1, 1))" if array.ndim == 1 else ""
        raise ValueError(
            f"{name}: expected an N x D array, one point per row; got shape {array.shape}{hint}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name}: no points (shape {array.shape}); need at least one row")
    bad = ~np.isfinite(array)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"{name}: {int(bad.any(axis=1).sum())} row(s) contain NaN or infinity, "
            f"first at row {row}, column {col} (value {array[row, col]}); "
            "remove or fix them before fitting"
        )
    if np.abs(array).max() > 1e30:
        raise ValueError(f"{name}: values above 1e30 do not fit in float32; rescale the data")
    return array.astype(np.float32)


def _text(path: Path) -> str:
    """The file's text, or a ValueError naming its encoding and how to convert it."""
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValueError(
            f"{path}: the file is UTF-16 text (Excel's 'Unicode text'); "
            "save it as 'CSV UTF-8 (comma delimited)', or: iconv -f utf-16 -t utf-8"
        )
    try:
        # utf-8-sig reads (and removes) the byte-order mark that Excel writes at the start,
        # so the first row is not mistaken for a header.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ValueError(
            f"{path}: line {line}: byte {raw[err.start]:#04x} is not UTF-8 text "
            f"(the file is probably Latin-1 / Windows-1252); save it as UTF-8, e.g. "
            f"iconv -f latin1 -t utf-8 {path.name} > fixed.csv"
        ) from None
    return text


def _read_csv(path: Path) -> np.ndarray:
    """Numbers from a CSV file; every error names the file and the line (as an editor counts)."""
    text = _text(path)
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1)]
    rows = [(number, line) for number, line in lines if line and not line.startswith("#")]
    if rows and not _is_number(rows[0][1].split(",")[0]):
        rows = rows[1:]  # a header line such as "x,y"
    if not rows:
        raise ValueError(f"{path}: no points (the file has no data rows)")
    first, width = rows[0][0], len(rows[0][1].split(","))
    values = []
    for number, row in rows:
        cells = row.split(",")
        if len(cells) != width:
            raise ValueError(
                f"{path}: line {number} has {len(cells)} values, line {first} has {width}"
            )
        try:
            point = [float(cell) for cell in cells]
        except ValueError:
            hint = "; separate values with commas" if (";" in row or "\t" in row) else ""
            raise ValueError(f"{path}: line {number} is not all numbers: {row!r}{hint}") from None
        if not all(np.isfinite(point)):
            raise ValueError(
                f"{path}: line {number} contains NaN or infinity: {row!r}; "
                "remove or fix it before fitting"
            )
        values.append(point)
    return np.array(values)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
