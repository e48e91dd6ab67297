"""Data for the fits: the lecture's toy "world map", or your own points from a file.

The world map (from the lecture, after Foster's *Generative Deep Learning*):
points scattered over the land of a map, drawn from an unknown p_data. Where
would you put a new point? Somewhere on land -- and a model that knows where
the land is has learned p_data. The simplest model, a uniform box, puts its
MLE at the smallest rectangle containing every point.
"""

from __future__ import annotations

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
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as err:
            raise ValueError(f"{path}: not a readable .npy array ({err})") from None
    elif suffix == ".csv":
        array = _read_csv(path)
    else:
        raise ValueError(f"{path}: unknown format {suffix or '(no suffix)'!r}; use .npy or .csv")
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


def _read_csv(path: Path) -> np.ndarray:
    # utf-8-sig: also reads files that start with a byte-order mark (Excel's "CSV UTF-8").
    lines = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines()]
    rows = [line for line in lines if line and not line.startswith("#")]
    if rows and not _is_number(rows[0].split(",")[0]):
        rows = rows[1:]  # a header line such as "x,y"
    if not rows:
        raise ValueError(f"{path}: no points (the file has no data rows)")
    width = len(rows[0].split(","))
    values = []
    for number, row in enumerate(rows, start=1):
        cells = row.split(",")
        if len(cells) != width:
            raise ValueError(
                f"{path}: data row {number} has {len(cells)} values, the first row has {width}"
            )
        try:
            values.append([float(cell) for cell in cells])
        except ValueError:
            raise ValueError(f"{path}: data row {number} is not all numbers: {row!r}") from None
    return np.array(values)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
