"""Pictures users would rather look at than read: grids, reconstructions, KL bars.

All functions write PNG files with matplotlib's Agg backend (install the
`plots` extra: `pip install keras-hvae[plots]`).
"""

import math
from pathlib import Path

import numpy as np


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("Plots need matplotlib: pip install 'keras-hvae[plots]'") from e
    return plt


def to_display_range(images):
    """Maps images to [0, 1] floats for display.

    uint8 -> /255; floats in [-1, 1] (8-bit likelihoods) -> (x+1)/2; floats
    already in [0, 1] are kept.
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype("float32") / 255.0
    images = images.astype("float32")
    if images.min() < 0.0:
        images = (images + 1.0) / 2.0
    return np.clip(images, 0.0, 1.0)


def image_grid(images, num_columns=None, padding=1, pad_value=1.0):
    """Tiles a batch (n, h, w, c) into one (H, W, c) image.

    Args:
        images: array of shape (n, h, w, c) with c in {1, 3}.
        num_columns: columns of the grid (default: ceil(sqrt(n))).
        padding: pixels between tiles.
        pad_value: value of the padding (in display range).

    Returns:
        A float array in [0, 1].

    Example:
    >>> image_grid(np.zeros((6, 4, 4, 1))).shape
    (9, 14, 1)
    """
    images = to_display_range(images)
    if images.ndim != 4:
        raise ValueError(f"image_grid expects (n, h, w, c) images; got shape {images.shape}.")
    n, h, w, c = images.shape
    cols = num_columns or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    grid = np.full((rows * (h + padding) - padding, cols * (w + padding) - padding, c), pad_value, "float32")
    for i in range(n):
        r, k = divmod(i, cols)
        grid[r * (h + padding): r * (h + padding) + h, k * (w + padding): k * (w + padding) + w] = images[i]
    return grid


def save_image_grid(images, path, num_columns=None, title=None):
    """Writes `image_grid(images)` as a PNG; returns the path."""
    plt = _pyplot()
    grid = image_grid(images, num_columns)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = grid.shape[:2]
    fig = plt.figure(figsize=(max(2.0, width / 40), max(2.0, height / 40) + (0.4 if title else 0)), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1 if not title else 0.92])
    ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.savefig(path)
    plt.close(fig)
    return path


def save_reconstructions(originals, reconstructions, path, num=16):
    """Originals (top rows) above their reconstructions (bottom rows)."""
    originals = to_display_range(np.asarray(originals)[:num])
    reconstructions = to_display_range(np.asarray(reconstructions)[:num])
    cols = min(num, 8)
    return save_image_grid(np.concatenate([originals, reconstructions]), path, num_columns=cols,
                           title="inputs (top) and reconstructions (bottom)")


def kl_bars_figure(kl_per_layer, layer_names, title="KL per latent layer (nats)"):
    """The figure of `save_kl_bars`: one horizontal bar per latent layer.

    Layers run up the y axis (bottom layer at the bottom), one row each,
    and the figure grows with their number, so the labels — however many
    layers (MatNet has dozens) and however long their names — never
    overlap.

    Args:
        kl_per_layer: `(batch, num_layers)` (averaged over the batch) or
            `(num_layers,)`.
        layer_names: the layers' names, bottom layer first.
        title: the figure's title.

    Returns:
        A matplotlib figure (close it with `matplotlib.pyplot.close`).

    Example:
    >>> fig = kl_bars_figure(np.ones((2, 3)), ["z_1", "z_2", "z_3"])
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['z_1', 'z_2', 'z_3']
    """
    plt = _pyplot()
    kl = np.asarray(kl_per_layer, dtype="float64")
    values = kl.mean(axis=0) if kl.ndim == 2 else kl.reshape(-1)
    names = [str(n) for n in layer_names]
    if len(names) != len(values):
        raise ValueError(f"{len(values)} KL values for {len(names)} layer names.")
    row = 0.3  # inches per layer: a line of 8-point text is about 0.15
    longest = max([len(n) for n in names] + [1])
    label_width = 0.3 + 0.075 * longest  # inches of 8-point text
    fig, ax = plt.subplots(figsize=(4.5 + label_width, max(2.6, 1.4 + row * len(values))), dpi=100)
    positions = np.arange(len(values))
    ax.barh(positions, values, height=0.7, color="tab:blue")
    ax.set_yticks(positions)
    ax.set_yticklabels(names, fontsize=8)
    ax.set_ylim(-0.6, len(values) - 0.4)
    ax.axvline(0.1, color="gray", lw=0.8, ls="--", label="0.1 nats (active)")
    ax.set_ylabel("latent layer")
    ax.set_xlabel("KL (nats)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def save_kl_bars(kl_per_layer, layer_names, path, title="KL per latent layer (nats)"):
    """Bar chart of the mean KL of each latent layer (bottom layer first),
    one labelled row per layer (`kl_bars_figure`); returns the path."""
    plt = _pyplot()
    fig = kl_bars_figure(kl_per_layer, layer_names, title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
