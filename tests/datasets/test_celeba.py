"""CelebA 64x64: central 148 crop + resize, official or seeded split, errors."""

import numpy as np
import pytest

from keras_hvae.datasets import celeba
from keras_hvae.datasets import celeba_files
from keras_hvae.datasets import load_celeba
from keras_hvae.datasets.celeba import PAGE

from .conftest import celeba_image


def test_crop_then_resize_keeps_only_the_central_square(fake_celeba):
    data = load_celeba(fake_celeba.parent, splits="train")  # 8 of 10 images in the seeded split
    x = data["train"]
    assert x.shape == (8, 64, 64, 3) and x.dtype == np.uint8
    # The central 148x148 square is uniform, the border black: after the
    # crop no black may leak in, so each image is one flat grey value.
    assert (x.min(axis=(1, 2, 3)) == x.max(axis=(1, 2, 3))).all()
    names = [int(f.split("/")[-1][:6]) for f in celeba_files("train", fake_celeba.parent)]
    np.testing.assert_array_equal(x[:, 0, 0, 0], 20 * np.array(names))
    # Without the crop the border shows up.
    whole = load_celeba(fake_celeba, splits="train", crop=None)["train"]
    assert whole.shape == (8, 64, 64, 3) and whole.min() == 0


def test_seeded_80_10_10_split_without_the_partition_file(fake_celeba):
    files = {s: celeba_files(s, fake_celeba) for s in ("train", "validation", "test")}
    assert [len(files[s]) for s in files] == [8, 1, 1]
    assert len(set(sum(files.values(), []))) == 10  # disjoint, covering every image
    assert files == {s: celeba_files(s, fake_celeba) for s in files}  # deterministic


def test_official_partition_is_used(fake_celeba):
    lines = [f"{i:06d}.png {0 if i <= 6 else 1 if i <= 8 else 2}" for i in range(1, 11)]
    (fake_celeba.parent / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    assert [f[-10:] for f in celeba_files("validation", fake_celeba)] == ["000007.png", "000008.png"]
    assert len(celeba_files("train", fake_celeba.parent)) == 6
    x = load_celeba(fake_celeba, splits=("test",))["test"]
    assert x.shape == (2, 64, 64, 3) and list(x[:, 0, 0, 0]) == [180, 200]


def test_pipeline_batches_and_seeded_shuffle(fake_celeba):
    ds = celeba("train", batch_size=3, path=fake_celeba, seed=2)
    batches = list(ds)
    assert [tuple(b.shape) for b in batches] == [(3, 64, 64, 3), (3, 64, 64, 3), (2, 64, 64, 3)]
    assert batches[0].dtype.name == "uint8"
    order = lambda ds: [int(v) for b in ds for v in b[:, 0, 0, 0]]  # noqa: E731
    ds = celeba("train", batch_size=3, path=fake_celeba, seed=2)
    first, second = order(ds), order(ds)
    assert sorted(first) == sorted(second) and first != second  # reshuffled each epoch
    assert first == order(celeba("train", batch_size=3, path=fake_celeba, seed=2))
    assert order(celeba("train", 3, path=fake_celeba, shuffle=False)) == sorted(first)
    small = next(iter(celeba("test", 1, path=fake_celeba, image_size=32)))
    assert small.shape == (1, 32, 32, 3)


def test_missing_directory_says_where_and_how(empty_cache, tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        celeba_files("train", tmp_path / "faces")
    msg = str(e.value)
    assert str(tmp_path / "faces" / "img_align_celeba") in msg
    assert str(empty_cache / "celeba" / "img_align_celeba") in msg
    assert PAGE in msg and "list_eval_partition.txt" in msg


def test_corrupt_inputs_raise_value_error(fake_celeba):
    (fake_celeba / "000003.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ValueError, match="000003.png"):
        load_celeba(fake_celeba, splits=("train", "validation", "test"))
    (fake_celeba / "list_eval_partition.txt").write_text("000001.png train\n")
    with pytest.raises(ValueError, match="line 1"):
        celeba_files("train", fake_celeba)
    (fake_celeba / "list_eval_partition.txt").write_text("000001.png 0\n000099.png 2\n")
    with pytest.raises(ValueError, match="000099.png"):
        celeba_files("train", fake_celeba)


def test_fixture_geometry_matches_the_documented_crop():
    img = celeba_image(9)
    assert img[35, 15, 0] == 9 and img[34, 15, 0] == 0 and img[35, 14, 0] == 0
    assert img[182, 162, 0] == 9 and img[183, 162, 0] == 0 and img[182, 163, 0] == 0
