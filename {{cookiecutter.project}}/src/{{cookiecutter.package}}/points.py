"""Your own points from a file, checked once, at the edge, before anything is fitted.

``load_points`` reads ``.npy`` or ``.csv``; ``check_points`` makes sure an array is
N x D finite numbers. Every error names the file (and the line) and says what to do.
"""

from __future__ import annotations

import io
import re
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
    try:
        raw = path.read_bytes()
    except OSError as err:  # another user's file, or a disk that fails
        raise ValueError(f"{path}: cannot read the file ({err.strerror or err})") from None
    if not raw:
        raise ValueError(f"{path}: the file is empty (0 bytes); no points to fit")
    array = _read_npy(path, raw) if suffix == ".npy" else _read_csv(path, raw)
    return check_points(array, name=str(path))


def _read_npy(path: Path, raw: bytes) -> np.ndarray:
    """The array in a ``.npy`` file, its header checked before any memory is set aside."""
    fix = "save it with numpy.save"
    if not raw.startswith(b"\x93NUMPY"):  # every .npy file starts with these 6 bytes
        looks = "text, perhaps a CSV file (rename it to .csv)" if _is_text(raw) else "not"
        raise ValueError(f"{path}: not a .npy file (it is {looks}); {fix}")
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = np.lib.format.read_array_header_1_0
        if version != (1, 0):  # 2.0 and 3.0 differ only in a longer header
            read_header = np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(stream)
    except (ValueError, OSError, EOFError, SyntaxError) as err:
        raise ValueError(
            f"{path}: not a readable .npy array ({err or 'the file ends too early'}); {fix}"
        ) from None
    if dtype.kind not in "biuf":  # complex, text, dates, records: not points in R^D
        what = {"c": "complex numbers (x + iy)", "U": "text", "S": "text"}.get(dtype.kind)
        raise ValueError(
            f"{path}: holds {what or f'values of type {dtype}'}, not real numbers; "
            "save the real numbers you mean to fit (for complex data: its real and "
            "imaginary parts as two columns, np.stack([z.real, z.imag], axis=1))"
        )
    needed = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    held = len(raw) - stream.tell()
    if needed != held:  # a damaged header would otherwise ask for terabytes of memory
        raise ValueError(
            f"{path}: the header says shape {shape} ({needed:,} bytes of data) but the file "
            f"holds {held:,}: the file is damaged or was cut short; {fix}"
        )
    array = np.frombuffer(raw, dtype=dtype, offset=stream.tell())
    return array.reshape(shape, order="F" if fortran_order else "C")


def _is_text(raw: bytes) -> bool:
    try:
        raw[:1024].decode("utf-8")
    except UnicodeDecodeError as err:
        return err.start > 1020  # a character cut at the end of the sample
    return True


#: The largest value a fit can take: float32 holds up to 3.4e38, and the fits square the
#: points (a variance, a distance): 1e18 ** 2 = 1e36 still fits, with room to spare.
MAX_ABS = 1e18


def check_points(x, name: str = "data") -> np.ndarray:
    """Return ``x`` as a float32 array of shape (N, D), or raise ``ValueError`` saying why not."""
    if np.iscomplexobj(x):
        raise ValueError(f"{name}: complex numbers; fit their real and imaginary parts as columns")
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
    if np.abs(array).max() >= MAX_ABS:
        raise ValueError(
            f"{name}: values up to {np.abs(array).max():.3g}, but a fit takes values below "
            f"{MAX_ABS:g}: it computes in float32 and squares them, which would overflow (the NLL "
            "infinite at any learning rate); rescale the data, e.g. divide it by its largest value"
        )
    return array.astype(np.float32)


def _read_csv(path: Path, raw: bytes) -> np.ndarray:
    """Numbers from a CSV file; every error names the file and the line (as an editor counts)."""
    lines = enumerate(_decode_csv(path, raw).splitlines(), start=1)
    rows = [(number, line.strip()) for number, line in lines]
    rows = [(number, line) for number, line in rows if line and not line.startswith("#")]
    if rows and _is_header(rows[0][1]):
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


def _decode_csv(path: Path, raw: bytes) -> str:
    """The file's text, if it is UTF-8 (Excel's byte-order mark allowed); else why not."""
    # UTF-32's byte-order marks first: little-endian UTF-32 starts like UTF-16's.
    for marks, encoding in (
        ((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"), "UTF-32 text"),
        ((b"\xff\xfe", b"\xfe\xff"), "UTF-16 text (Excel's 'Unicode text')"),
    ):
        if raw.startswith(marks):
            raise ValueError(
                f"{path}: the file is {encoding}; save it as 'CSV UTF-8 (comma delimited)', "
                f"or: iconv -f {encoding[:6].lower()} -t utf-8"
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


def _is_header(row: str) -> bool:
    """Is this first row names ("x,y"), not numbers? A row with a number in it, or that
    looks like mistyped numbers ("1.2.3,4", "O.5", "1;2"), is data: it is read (and an
    error names its line), never dropped quietly as a header."""
    cells = row.split(",")
    if any(_is_number(cell) for cell in cells):
        return False
    # Digits with only what numbers are made of (and O for 0, and other separators).
    numberish = re.compile(r"[-+0-9.eEoO;\t ]*[0-9][-+0-9.eEoO;\t ]*")
    return not any(numberish.fullmatch(cell.strip()) for cell in cells)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
