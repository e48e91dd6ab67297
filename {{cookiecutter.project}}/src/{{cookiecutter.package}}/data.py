"""Data for the fits: the lecture's toy "world map", or your own points from a file.

The world map (from the lecture, after Foster's *Generative Deep Learning*):
points scattered over the land of a map, drawn from an unknown p_data. Where
would you put a new point? Somewhere on land -- and a model that knows where
the land is has learned p_data. The simplest model, a uniform box, puts its
MLE at the smallest rectangle containing every point.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

#: Land masses as ellipses: (centre longitude, centre latitude, half-width,
#: half-height, tilt in degrees). Rough, but recognisably a map of the world.
LAND = {
    "North America": (-100.0, 47.0, 32.0, 17.0, -15.0),
    "South America": (-60.0, -15.0, 15.0, 28.0, -20.0),
    "Europe": (15.0, 52.0, 20.0, 10.0, 10.0),
    "Africa": (20.0, 5.0, 20.0, 30.0, 0.0),
    "Asia": (95.0, 45.0, 45.0, 18.0, 0.0),
    "Australia": (134.0, -25.0, 17.0, 10.0, 0.0),
}


def world_map(n: int = 2000, seed: int = 0) -> np.ndarray:
    """``n`` points (longitude, latitude) spread uniformly over the land masses.

    Each land mass gets points in proportion to its area, so the density is the
    same everywhere on land and zero at sea. The same seed gives the same points.
    """
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"number of points must be a whole number, 1 or more; got {n!r}")
    rng = np.random.default_rng(seed)
    shapes = np.array(list(LAND.values()))
    area = shapes[:, 2] * shapes[:, 3]
    which = rng.choice(len(shapes), size=int(n), p=area / area.sum())
    # Uniform in an ellipse: uniform in the unit disc (radius sqrt(u)), then stretch and tilt.
    radius = np.sqrt(rng.uniform(size=int(n)))
    angle = rng.uniform(0, 2 * np.pi, size=int(n))
    u, v = radius * np.cos(angle), radius * np.sin(angle)
    lon0, lat0, half_w, half_h, tilt = shapes[which].T
    tilt = np.radians(tilt)
    dx, dy = u * half_w, v * half_h
    lon = lon0 + dx * np.cos(tilt) - dy * np.sin(tilt)
    lat = lat0 + dx * np.sin(tilt) + dy * np.cos(tilt)
    return np.stack([lon, lat], axis=1).astype(np.float32)


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


def check_mle_exists(x: np.ndarray, model: str, components: int = 1) -> None:
    """Raise ``ValueError`` if ``model``'s maximum-likelihood estimate does not exist for ``x``.

    Run before any fit, closed form or gradient descent alike: where no maximum
    exists, gradient descent does not fail -- it shrinks a width towards 0 and
    reports an NLL that falls without limit (a wrong answer, not an error).

    * box: every axis needs two different values (a box of width 0 has infinite density);
    * gaussian: the points must fill all D dimensions (not lie on a line or plane),
      which also needs more points than dimensions;
    * gmm: the same, and more distinct points than components (a component sitting
      on one point alone has a likelihood without limit).
    """
    n, dim = x.shape
    values = np.asarray(x, dtype=np.float64)
    low, high = values.min(axis=0), values.max(axis=0)
    flat = np.flatnonzero(high <= low)
    if flat.size:
        axis = int(flat[0])
        raise ValueError(
            f"every point has the same value on axis {axis} (column {axis + 1}, "
            f"value {low[axis]:g}): the {model} likelihood grows without limit as its width "
            "there shrinks to 0, so no maximum-likelihood estimate exists; "
            "drop that column or use more varied data"
        )
    if model == "box":
        return
    if n <= dim:
        raise ValueError(
            f"{n} point(s) in {dim}-D: a {model} needs more points than dimensions "
            "(with fewer, the likelihood grows without limit as it shrinks)"
        )
    # Rank of the standardised points: tiny singular values mean a flat direction.
    z = (values - values.mean(axis=0)) / values.std(axis=0)
    singular = np.linalg.svd(z / np.sqrt(n), compute_uv=False)
    if singular.min() <= 1e-5 * singular.max():
        raise ValueError(
            f"the points lie on a line or plane in {dim}-D (one column is a combination "
            f"of the others, so their covariance is singular): the {model} likelihood grows "
            "without limit as it flattens, so no maximum-likelihood estimate exists; "
            "drop a redundant column"
        )
    if model == "gmm":
        distinct = len(np.unique(values, axis=0))
        if distinct <= components:
            raise ValueError(
                f"{distinct} distinct point(s) for {components} components: a component on a "
                "point of its own has a likelihood without limit; use fewer components"
            )


def _read_csv(path: Path, raw: bytes) -> np.ndarray:
    """Numbers from a CSV file; every error names the file and the line (as an editor counts)."""
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
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1)]
    rows = [(number, line) for number, line in lines if line and not line.startswith("#")]
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
