"""Pictures of a fit: the data, samples from the model, and the model's density.

If the model has learned p_data, the middle panel (new points it generated)
should look like the left one (the data), and the right panel shows where it
thinks points are likely. Uses matplotlib's ``Figure`` directly (no pyplot), so
it works on a cluster node with no display and does not disturb notebooks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_fit(model, x: np.ndarray, path, title: str = "", seed: int = 0):
    """Save three panels side by side -- data, samples, density contours -- to ``path``
    (a file name, or a binary file object: then PNG). Returns ``path``."""
    figure = figure_of_fit(model, x, title=title, seed=seed)
    if isinstance(path, str | Path):
        path = Path(path)
        figure.savefig(path, dpi=100)
    else:
        figure.savefig(path, dpi=100, format="png")
    return path


def figure_of_fit(model, x: np.ndarray, title: str = "", seed: int = 0):
    """The three panels as a matplotlib ``Figure`` (a notebook shows it when it is returned)."""
    from matplotlib.figure import Figure

    if x.shape[1] != 2:
        raise ValueError(f"plots show 2-D data; these points have {x.shape[1]} coordinates")
    shown = x if len(x) <= 5000 else x[np.random.default_rng(seed).choice(len(x), 5000, False)]
    samples = model.sample(len(shown), seed=seed)

    low, high = x.min(axis=0), x.max(axis=0)
    margin = 0.1 * np.maximum(high - low, 1e-6)
    low, high = low - margin, high + margin
    grid_x, grid_y = np.meshgrid(
        np.linspace(low[0], high[0], 200), np.linspace(low[1], high[1], 200)
    )
    grid = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(np.float32)
    density = np.exp(np.asarray(model.log_prob(grid), dtype=np.float64)).reshape(grid_x.shape)

    figure = Figure(figsize=(15, 4.8), layout="constrained")
    axes = figure.subplots(1, 3, sharex=True, sharey=True)
    dot = {"s": 4, "alpha": 0.5, "linewidths": 0}
    axes[0].scatter(shown[:, 0], shown[:, 1], color="tab:blue", **dot)
    axes[0].set_title(f"data ({len(x)} points)")
    axes[1].scatter(samples[:, 0], samples[:, 1], color="tab:orange", **dot)
    axes[1].set_title(f"{len(samples)} samples from the model")
    filled = axes[2].contourf(grid_x, grid_y, density, levels=20, cmap="viridis")
    axes[2].scatter(shown[:, 0], shown[:, 1], color="white", s=1, alpha=0.3, linewidths=0)
    axes[2].set_title("model density p(x)")
    figure.colorbar(filled, ax=axes[2], label="density")
    for ax in axes:
        ax.set_xlim(low[0], high[0])
        ax.set_ylim(low[1], high[1])
        ax.set_xlabel("x[0]")
    axes[0].set_ylabel("x[1]")
    if title:
        figure.suptitle(title)
    return figure
