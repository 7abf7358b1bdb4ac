"""CelebA at 64x64 from a local directory of aligned face images.

Files: the directory `img_align_celeba/` of aligned and cropped faces
(202,599 JPEGs of 178 wide x 218 high; PNGs work too) and, if present,
the official split `list_eval_partition.txt` (lines `000001.jpg 0`; 0
train, 1 validation, 2 test: 162,770 / 19,867 / 19,962 images).

Preprocessing, the common VAE practice (e.g. the DCGAN / PyTorch-VAE
pipelines): take the central 148x148 square (for a 178x218 image, rows
35..182 and columns 15..162; clipped to the shorter side for smaller
images), resize it to 64x64 with antialiased bilinear interpolation, and
round to uint8.

Splits: the official partition when `list_eval_partition.txt` lies in the
image directory, beside it, in `Eval/` beside it, or in `path`; every
listed image must exist (delete the file to use the fallback). Without it:
the sorted file names are permuted with `numpy.random.RandomState(0)`;
the first 80% are train, the next 10% validation, the last 10% test.

Offline (the only way: the official files sit on Google Drive, which
`keras.utils.get_file` cannot fetch): download `img_align_celeba.zip` and
`list_eval_partition.txt` from
https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html, unzip, and put
`img_align_celeba/` (and the list) in `<cache>/celeba/` or pass `path=`.
"""

from pathlib import Path

import numpy as np

from keras_hvae.datasets.cache import data_dir
from keras_hvae.datasets.files import missing_error
from keras_hvae.datasets.pipeline import check_split

DIRNAME = "img_align_celeba"
PARTITION = "list_eval_partition.txt"
PAGE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"
IMAGE_SIZE = 64
CROP = 148
FRACTIONS = (0.8, 0.1, 0.1)
SPLIT_SEED = 0
_EXTENSIONS = {".jpg", ".jpeg", ".png"}

_HOW = f"""CelebA cannot be downloaded automatically (its files are on Google Drive).
Get `img_align_celeba.zip` and `Eval/{PARTITION}` from {PAGE},
unzip it and put `{DIRNAME}/` (and `{PARTITION}`) in {data_dir() / 'celeba'} or pass path=."""


def _has_images(d):
    return d.is_dir() and any(p.suffix.lower() in _EXTENSIONS for p in d.iterdir())


def celeba_dir(path=None, download=False):
    """The image directory: `path` itself when it holds images, else
    `img_align_celeba/` inside `path`, `<cache>/celeba` or `<cache>`."""
    roots = [Path(path).expanduser()] if path is not None else []
    roots += [data_dir() / "celeba", data_dir()]
    looked = []
    for i, r in enumerate(roots):
        if path is not None and i == 0 and _has_images(r):
            return r
        looked.append(r / DIRNAME)
        if _has_images(r / DIRNAME):
            return r / DIRNAME
    how = _HOW + ("\n(download=True cannot help here.)" if download else "")
    raise missing_error("CelebA (a directory of aligned face images)", looked, how)


def _partition_file(images, path):
    places = [images, images.parent, images.parent / "Eval"]
    if path is not None:
        places.append(Path(path).expanduser())
    for d in places:
        if (d / PARTITION).is_file():
            return d / PARTITION
    return None


def _read_partition(file, available):
    splits = {0: [], 1: [], 2: []}
    for i, line in enumerate(file.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise ValueError(f"{file}, line {i}: expected `<image> <0|1|2>`; got {line!r}.")
        splits[int(parts[1])].append(parts[0])
    listed = [n for names in splits.values() for n in names]
    if not listed:
        raise ValueError(f"{file} lists no images.")
    missing = [n for n in listed if n not in available]
    if missing:
        raise ValueError(
            f"{file} lists {len(missing)} image(s) missing from the image directory (e.g. {missing[0]}); "
            f"complete the directory or delete {PARTITION} to use the seeded 80/10/10 split."
        )
    return {"train": splits[0], "validation": splits[1], "test": splits[2]}


def celeba_files(split="train", path=None):
    """The sorted image paths of `split` (see the module docstring for the splits)."""
    check_split(split)
    images = celeba_dir(path)
    available = {p.name for p in images.iterdir() if p.suffix.lower() in _EXTENSIONS}
    partition = _partition_file(images, path)
    if partition is not None:
        names = _read_partition(partition, available)[split]
    else:
        names = sorted(available)
        order = np.random.RandomState(SPLIT_SEED).permutation(len(names))
        n_val = int(round(FRACTIONS[1] * len(names)))
        n_test = int(round(FRACTIONS[2] * len(names)))
        n_train = len(names) - n_val - n_test
        cut = {"train": order[:n_train], "validation": order[n_train : n_train + n_val], "test": order[n_train + n_val :]}
        names = [names[i] for i in cut[split]]
    return [str(images / n) for n in sorted(names)]


def _preprocess(image_size, crop):
    import tensorflow as tf

    def load(file):
        img = tf.io.decode_image(tf.io.read_file(file), channels=3, expand_animations=False)
        h, w = tf.shape(img)[0], tf.shape(img)[1]
        c = tf.minimum(tf.minimum(h, w), crop) if crop else tf.minimum(h, w)
        top, left = (h - c) // 2, (w - c) // 2
        img = img[top : top + c, left : left + c]
        img = tf.image.resize(img, (image_size, image_size), method="bilinear", antialias=True)
        img = tf.cast(tf.clip_by_value(tf.round(img), 0, 255), tf.uint8)
        return tf.ensure_shape(img, (image_size, image_size, 3))

    return load


def celeba(
    split="train", batch_size=64, seed=0, shuffle=None, path=None, limit=None, download=False, drop_remainder=False,
    image_size=IMAGE_SIZE, crop=CROP,
):
    """CelebA as a `tf.data.Dataset` of uint8 (batch, 64, 64, 3).

    Images are decoded lazily from the files (in parallel), so the
    dataset never sits in memory. A corrupt image stops the iteration with
    TensorFlow's `InvalidArgumentError`; `load_celeba` names the file.

    Args:
        split: "train", "validation" or "test".
        batch_size: images per batch.
        seed: seed of the shuffling.
        shuffle: shuffle the images (default: only for "train").
        path: the image directory or a directory holding `img_align_celeba/`.
        limit: keep only the first `limit` images (in sorted file order).
        download: not possible for CelebA; missing files raise
            `FileNotFoundError` with instructions either way.
        drop_remainder: drop the last incomplete batch.
        image_size: side of the output images.
        crop: side of the central square cropped first (None: the shorter side).
    """
    import tensorflow as tf

    files = celeba_files(split, path)
    if limit is not None:
        files = files[:limit]
    if not files:
        raise ValueError(f"CelebA split {split!r} is empty.")
    if shuffle is None:
        shuffle = split == "train"
    ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(_preprocess(image_size, crop), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def load_celeba(path=None, splits=("train", "validation", "test"), limit=None, image_size=IMAGE_SIZE, crop=CROP):
    """Decodes CelebA into memory (all 202,599 images take ~2.5 GB and minutes: use `limit`).

    Returns:
        dict split -> uint8 array (n, image_size, image_size, 3), in sorted
        file order.

    Raises:
        ValueError: naming an image that cannot be decoded.
    """
    import tensorflow as tf

    splits = [splits] if isinstance(splits, str) else list(splits)
    load = _preprocess(image_size, crop)
    out = {}
    for split in splits:
        files = celeba_files(split, path)[:limit]
        arrays, chunk = [], 256
        if files:
            ds = tf.data.Dataset.from_tensor_slices(files).map(load, num_parallel_calls=tf.data.AUTOTUNE)
            it = iter(ds.batch(chunk))
            for k in range(0, len(files), chunk):
                try:
                    arrays.append(next(it).numpy())
                except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as e:
                    for f in files[k : k + chunk]:  # find the culprit, one file at a time
                        try:
                            load(tf.constant(f))
                        except Exception:
                            raise ValueError(f"CelebA image {f} cannot be decoded; replace or delete it.") from e
                    raise ValueError(f"CelebA: an image among {files[k : k + chunk]} cannot be decoded.") from e
        out[split] = np.concatenate(arrays) if arrays else np.zeros((0, image_size, image_size, 3), "uint8")
    return out
