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


def _grid_scale(height, width):
    """Screen pixels per grid pixel: 3, more for small grids (>= 200 pixels
    across), fewer for huge ones (<= 2000 pixels across), never below 1."""
    side = max(height, width, 1)
    return max(1, math.ceil(200 / side), min(3, 2000 // side))


def to_display_uint8(images):
    """`to_display_range(images)` as uint8 levels ``round(255 x)``: uint8
    images come back unchanged.

    Example:
    >>> to_display_uint8(np.array([0, 7, 255], "uint8")).tolist()
    [0, 7, 255]
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    return np.round(to_display_range(images) * 255.0).astype("uint8")


def save_image_grid(images, path, num_columns=None, title=None, scale=None):
    """Writes `image_grid(images)` as a PNG; returns the path.

    The grid is drawn pixel for pixel, each of its pixels a `scale` x
    `scale` block of the PNG (no resampling), filling the PNG's width and
    its bottom rows, under a band with the title: the tiles of uint8 images
    hold their exact levels (grayscale as R = G = B), those of floats
    ``round(255 x)`` of `to_display_range`.

    Args:
        images: (n, h, w, c) with c in {1, 3}: uint8 levels or floats.
        path: the PNG file (its missing parent directories are created).
        num_columns: columns of the grid (default: ceil(sqrt(n))).
        title: text above the grid, or None.
        scale: PNG pixels per grid pixel (default: 3, more for small
            grids or a title wider than the grid, fewer for huge ones).
    """
    plt = _pyplot()
    grid = to_display_uint8(image_grid(images, num_columns))  # uint8 in: exactly the levels (k / 255 rounds back)
    if grid.shape[-1] == 1:
        grid = np.repeat(grid, 3, axis=-1)
    height, width = grid.shape[:2]
    dpi = 100
    fig = plt.figure(dpi=dpi)
    text = fig.text(0.5, 1.0, title or "", ha="center", va="center", fontsize=9)
    if scale is None:
        scale = _grid_scale(height, width)
        if title:  # wide enough for the title (up to 2000 pixels)
            needed = text.get_window_extent(fig.canvas.get_renderer()).width + 8
            scale = max(scale, min(math.ceil(needed / width), 2000 // max(height, width)))
    if int(scale) != scale or scale < 1:
        plt.close(fig)
        raise ValueError(f"scale must be a whole number >= 1; got {scale!r}.")
    scale = int(scale)
    big = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    band = 28 if title else 0  # pixels of the title band
    # + 0.25 pixel: the canvas truncates its size in pixels, and (w / dpi) * dpi may fall just short of w
    fig.set_size_inches((big.shape[1] + 0.25) / dpi, (big.shape[0] + band + 0.25) / dpi)
    fig.figimage(big, xo=0, yo=0, origin="upper", resize=False)  # pixel for pixel, at the bottom
    text.set_y(1.0 - 0.5 * band / (big.shape[0] + band))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png")
    plt.close(fig)
    return path


def save_uint8_images(images, directory, prefix="sample"):
    """Writes each image of a uint8 batch as its own PNG holding exactly its
    levels: ``directory/{prefix}_000.png``, ``..._001.png``, ... (more digits
    past 1000 images). Three channels are RGB; one channel is gray, written
    as R = G = B = the level (matplotlib writes RGBA PNG, alpha 255).

    Each file is written under a temporary name in `directory` and renamed
    into place: a failure leaves no half-written file (the files already
    written stay, complete).

    Args:
        images: uint8 array (n, h, w, c), c in {1, 3}.
        directory: folder to write into (created if missing).
        prefix: start of the file names.

    Returns:
        The paths written, in order.
    """
    import os
    import tempfile

    _pyplot()
    import matplotlib.image

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"save_uint8_images expects uint8 images (n, h, w, c) with c in {{1, 3}}; got "
                         f"{images.dtype} of shape {images.shape}.")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    digits = max(3, len(str(len(images) - 1)))
    umask = os.umask(0)
    os.umask(umask)  # (read, then put back) the mode a plain open() would give, not mkstemp's 0600
    paths = []
    for i, image in enumerate(images):
        rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image  # uint8 RGB: written as is
        path = directory / f"{prefix}_{i:0{digits}d}.png"
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                matplotlib.image.imsave(f, rgb, format="png")
            os.chmod(temporary, 0o666 & ~umask)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        paths.append(path)
    return paths


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
