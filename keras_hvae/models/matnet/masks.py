"""Masks for conditional MatNets: 1 marks a known pixel, 0 a missing one.

Every mask has shape ``(B, H, W, 1)`` (float32) and broadcasts over the
channels. Two tasks from the paper:

* random square occluders (Sec. 3: three 20x20 occluders placed uniformly
  at random in 64x64 images) — `random_square_masks`; for other image
  sizes `scaled_square_size` keeps the paper's proportion (28x28 -> 9x9);
* the structured-prediction task of Fig. 2 (Sohn et al., 2015): 1, 2 or 3
  quadrants of a digit are visible — `quadrant_masks`. With
  ``num_visible`` 1, 2, 3 the visible quadrants are, by default, the
  bottom-left one; the left half; everything but the bottom-right one
  (the usual reading of that task; pass ``visible=`` to choose others).

The tensor versions use `keras.ops` / `keras.random` (they run inside a
training step with the model's seed generator); `numpy_*` versions are for
data preparation and evaluation.
"""

import keras
import numpy as np
from keras import ops

QUADRANTS = ("top_left", "top_right", "bottom_left", "bottom_right")

DEFAULT_VISIBLE = {
    1: ("bottom_left",),
    2: ("top_left", "bottom_left"),
    3: ("top_left", "top_right", "bottom_left"),
}


def scaled_square_size(image_size, paper_square=20, paper_image=64):
    """The paper's 20/64 occluder proportion at another image size (>= 1)."""
    return max(1, int(round(paper_square * image_size / paper_image)))


def random_square_masks(batch_size, image_shape, num_squares=3, square_size=None, seed=None):
    """Masks with ``num_squares`` square occluders placed uniformly at random.

    Args:
        batch_size: B (int or scalar tensor).
        image_shape: ``(H, W)`` or ``(H, W, C)``.
        num_squares: occluders per image (they may overlap).
        square_size: side in pixels; default `scaled_square_size(H)`.
        seed: a `keras.random.SeedGenerator` or int.

    Returns:
        float32 ``(B, H, W, 1)``; 0 inside the occluders.
    """
    h, w = int(image_shape[0]), int(image_shape[1])
    s = scaled_square_size(h) if square_size is None else int(square_size)
    s = min(s, h, w)
    u = keras.random.uniform((batch_size, num_squares, 2), seed=seed)
    top = ops.floor(u[..., 0] * (h - s + 1))  # (B, n)
    left = ops.floor(u[..., 1] * (w - s + 1))
    rows = ops.reshape(ops.arange(h, dtype="float32"), (1, 1, h, 1))
    cols = ops.reshape(ops.arange(w, dtype="float32"), (1, 1, 1, w))
    top = top[:, :, None, None]
    left = left[:, :, None, None]
    inside = ops.logical_and(
        ops.logical_and(rows >= top, rows < top + s), ops.logical_and(cols >= left, cols < left + s)
    )  # (B, n, H, W)
    occluded = ops.any(inside, axis=1)
    return ops.expand_dims(1.0 - ops.cast(occluded, "float32"), -1)


def _quadrant_grid(h, w, names):
    mask = np.zeros((h, w), "float32")
    hh, hw = h // 2, w // 2
    slices = {
        "top_left": (slice(0, hh), slice(0, hw)),
        "top_right": (slice(0, hh), slice(hw, w)),
        "bottom_left": (slice(hh, h), slice(0, hw)),
        "bottom_right": (slice(hh, h), slice(hw, w)),
    }
    for name in names:
        if name not in slices:
            raise ValueError(f"Unknown quadrant {name!r}; expected one of {QUADRANTS}.")
        mask[slices[name]] = 1.0
    return mask


def numpy_quadrant_masks(batch_size, image_shape, num_visible=1, visible=None):
    """Fixed quadrant masks (numpy): 1 on the visible quadrants.

    Args:
        batch_size: B.
        image_shape: ``(H, W)`` or ``(H, W, C)``.
        num_visible: 1, 2 or 3 (the default quadrants, module docstring).
        visible: names of the visible quadrants (overrides `num_visible`).

    Returns:
        float32 ``(B, H, W, 1)``.
    """
    h, w = int(image_shape[0]), int(image_shape[1])
    if visible is None:
        if num_visible not in DEFAULT_VISIBLE:
            raise ValueError(f"num_visible must be 1, 2 or 3, got {num_visible}.")
        visible = DEFAULT_VISIBLE[num_visible]
    grid = _quadrant_grid(h, w, visible)
    return np.broadcast_to(grid[None, :, :, None], (batch_size, h, w, 1)).copy()


def quadrant_masks(batch_size, image_shape, seed=None, num_visible=None):
    """Quadrant masks for training: each example gets the default mask for
    1, 2 or 3 visible quadrants (uniformly at random unless `num_visible`).

    Returns:
        float32 ``(B, H, W, 1)`` tensor.
    """
    h, w = int(image_shape[0]), int(image_shape[1])
    table = np.stack([_quadrant_grid(h, w, DEFAULT_VISIBLE[n]) for n in (1, 2, 3)])  # (3, H, W)
    table = ops.convert_to_tensor(table[..., None])
    if num_visible is not None:
        idx = ops.full((batch_size,), int(num_visible) - 1, dtype="int32")
    else:
        u = keras.random.uniform((batch_size,), seed=seed)
        idx = ops.cast(ops.minimum(ops.floor(u * 3.0), 2.0), "int32")
    return ops.take(table, idx, axis=0)


def numpy_random_square_masks(batch_size, image_shape, num_squares=3, square_size=None, seed=None):
    """`random_square_masks` in numpy (for datasets and evaluation)."""
    rng = np.random.default_rng(seed)
    h, w = int(image_shape[0]), int(image_shape[1])
    s = scaled_square_size(h) if square_size is None else int(square_size)
    s = min(s, h, w)
    mask = np.ones((batch_size, h, w, 1), "float32")
    for b in range(batch_size):
        for _ in range(num_squares):
            t, l = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
            mask[b, t : t + s, l : l + s] = 0.0
    return mask


def make_mask_generator(name, **kwargs):
    """``fn(batch_size, image_shape, seed) -> masks`` for ``"squares"`` or ``"quadrants"``."""
    if name == "squares":
        return lambda b, shape, seed: random_square_masks(
            b, shape, kwargs.get("num_squares", 3), kwargs.get("square_size"), seed
        )
    if name == "quadrants":
        return lambda b, shape, seed: quadrant_masks(b, shape, seed)
    raise ValueError(f"Unknown mask generator {name!r}; expected 'squares' or 'quadrants'.")
