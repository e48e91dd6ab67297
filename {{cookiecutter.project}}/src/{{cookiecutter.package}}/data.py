"""The lecture's toy data (after Foster's *Generative Deep Learning*): a "world map".

Points scattered over the land of a map, drawn from an unknown p_data. Where would
you put a new point? Somewhere on land: a model that knows where the land is has
learned p_data. (Your own points from a file: ``points.py``.)
"""

from __future__ import annotations

import numpy as np

#: Land as ellipses (centre longitude, latitude, half-width, half-height, tilt in degrees).
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
