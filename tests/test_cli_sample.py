"""`keras-hvae sample` (issue 15, point 5) on tiny presets: an 8-bit model's
grid holds its exact levels (uint8 / 255), `--images-dir` writes each sample
as its own PNG holding exactly `model.sample(n, seed=s, as_uint8=True)`
(a Bernoulli model's as 0/255), written under a temporary name and renamed
(a failure leaves no half-written file); a text model's `--images-dir` is
one line and status 2."""

import math

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import matplotlib.image  # noqa: E402

from keras_hvae.cli import main  # noqa: E402

NUM, SEED, TEMPERATURE = 5, 3, 0.8
PADDING = 1  # between the tiles of the grid (plots.image_grid's default)


def _tiny_biva(directory, channels, likelihood):
    from keras_hvae.models.biva import BIVA

    model = BIVA(data_shape=(8, 8, channels), filters=4, kernel_sizes=3, strides=[2, 1], latent_sizes=[4, 2],
                 layers_per_block=1, q_dropout=0.0, p_dropout=0.0, likelihood=likelihood, seed=0)
    model.build()
    model.save_to_preset(directory, metadata={"dataset": "tiny"})
    return directory


@pytest.fixture(scope="module", params=[(1, "discretized_logistic"),
                                        (3, {"name": "discretized_logistic_mixture", "num_mixtures": 2})],
                ids=["logistic_8x8x1", "mixture_8x8x3"])
def eight_bit_preset(request, tmp_path_factory):
    channels, likelihood = request.param
    return _tiny_biva(tmp_path_factory.mktemp("sample") / f"tiny_biva_{channels}", channels, likelihood)


@pytest.fixture(scope="module")
def bernoulli_preset(tmp_path_factory):
    return _tiny_biva(tmp_path_factory.mktemp("sample") / "tiny_biva_binary", 1, "bernoulli")


def _expected(preset, seed=SEED, **kwargs):
    from keras_hvae.utils.presets import load_preset

    model = load_preset(str(preset), precision="float32")
    return model, model.sample(NUM, temperature=TEMPERATURE, seed=seed, **kwargs)


def _levels(png, channels):
    """uint8 levels of a PNG read back (matplotlib: floats k / 255)."""
    image = matplotlib.image.imread(png)
    return np.round(image[..., :channels] * 255).astype("uint8"), image


def _tiles(png, shape, num):
    """The tiles of the grid PNG as read back (floats), from its layout: the
    grid (ceil(sqrt(n)) columns, 1-pixel padding) fills the PNG's width and
    its bottom rows, each grid pixel an s x s block."""
    image = matplotlib.image.imread(png)[..., :3]
    h, w = shape[:2]
    cols = math.ceil(math.sqrt(num))
    rows = math.ceil(num / cols)
    grid_h, grid_w = rows * (h + PADDING) - PADDING, cols * (w + PADDING) - PADDING
    s = image.shape[1] // grid_w
    assert s >= 1 and image.shape[1] == grid_w * s and image.shape[0] >= grid_h * s, image.shape
    grid = image[image.shape[0] - grid_h * s:]
    assert np.array_equal(grid, np.repeat(np.repeat(grid[::s, ::s], s, 0), s, 1))  # whole blocks, no resampling
    grid = grid[::s, ::s]
    return [grid[r * (h + PADDING): r * (h + PADDING) + h, k * (w + PADDING): k * (w + PADDING) + w]
            for r, k in (divmod(i, cols) for i in range(num))]


def test_an_8_bit_model_writes_its_exact_levels(eight_bit_preset, tmp_path, capsys):
    grid_png, images_dir = tmp_path / "grid.png", tmp_path / "images"
    assert main(["sample", "--preset", str(eight_bit_preset), "--num", str(NUM), "--seed", str(SEED),
                 "--temperature", str(TEMPERATURE), "--out", str(grid_png), "--images-dir", str(images_dir)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {grid_png} ({NUM} samples)" in printed
    assert f"wrote {NUM} images to {images_dir}" in printed

    model, levels = _expected(eight_bit_preset, as_uint8=True)
    channels = model.data_shape[-1]
    assert levels.dtype == np.uint8 and levels.shape == (NUM, 8, 8, channels)
    assert len(np.unique(levels)) > 10  # varied levels: a wrong or shifted image cannot pass by chance
    other = _expected(eight_bit_preset, seed=SEED + 1, as_uint8=True)[1]
    assert not np.array_equal(other, levels)  # the seed matters: comparing at the same seed means something

    names = sorted(p.name for p in images_dir.iterdir())
    assert names == [f"sample_{i:03d}.png" for i in range(NUM)]  # and no temporary file left behind
    for i, name in enumerate(names):
        back, image = _levels(images_dir / name, channels)
        assert np.array_equal(back, levels[i]), (name, np.abs(back.astype(int) - levels[i]).max())
        assert np.allclose(image[..., :channels], levels[i] / 255.0, atol=1e-6, rtol=0)
        if channels == 1:  # gray: R = G = B = the level
            assert np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 0], image[..., 2])

    tiles = _tiles(grid_png, levels.shape[1:], NUM)
    for i, tile in enumerate(tiles):
        expected = np.broadcast_to(levels[i] / 255.0, tile.shape)  # gray tiles as R = G = B
        assert np.allclose(tile, expected, atol=1e-6, rtol=0), (i, np.abs(tile - expected).max())


def test_the_grid_of_an_8_bit_model_is_exact_without_images_dir(eight_bit_preset, tmp_path, capsys):
    grid_png = tmp_path / "grid.png"
    assert main(["sample", "--preset", str(eight_bit_preset), "--num", str(NUM), "--seed", str(SEED + 7),
                 "--temperature", str(TEMPERATURE), "--out", str(grid_png)]) == 0
    assert "images to" not in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == [grid_png]
    levels = _expected(eight_bit_preset, seed=SEED + 7, as_uint8=True)[1]
    for i, tile in enumerate(_tiles(grid_png, levels.shape[1:], NUM)):
        assert np.allclose(tile, np.broadcast_to(levels[i] / 255.0, tile.shape), atol=1e-6, rtol=0), i


def test_a_bernoulli_models_images_are_0_and_255(bernoulli_preset, tmp_path, capsys):
    images_dir = tmp_path / "binary"
    assert main(["sample", "--preset", str(bernoulli_preset), "--num", str(NUM), "--seed", str(SEED),
                 "--temperature", str(TEMPERATURE), "--out", str(tmp_path / "g.png"),
                 "--images-dir", str(images_dir)]) == 0
    assert f"wrote {NUM} images to {images_dir}" in capsys.readouterr().out
    _, bits = _expected(bernoulli_preset, as_uint8=True)
    assert set(np.unique(bits).tolist()) == {0, 1}
    names = sorted(p.name for p in images_dir.iterdir())
    assert names == [f"sample_{i:03d}.png" for i in range(NUM)]
    for i, name in enumerate(names):
        back, _ = _levels(images_dir / name, 1)
        assert set(np.unique(back).tolist()) <= {0, 255}
        assert np.array_equal(back, bits[i] * 255), name


def test_a_text_models_images_dir_is_one_line_and_status_2(tmp_path, capsys):
    from keras_hvae.models.text import RNNVAE, Vocabulary

    vocab = Vocabulary.build(["the cat sat .", "a dog ran ."], max_tokens=50)
    model = RNNVAE(vocab, max_length=6, embedding_dim=4, encoder_units=8, decoder_units=8, latent_size=2, seed=0)
    model.save_to_preset(tmp_path / "text")
    images_dir = tmp_path / "images"
    assert main(["sample", "--preset", str(tmp_path / "text"), "--num", "2", "--images-dir", str(images_dir)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("keras-hvae sample: error: --images-dir:"), captured.err
    assert "text model" in lines[0] and "Traceback" not in captured.err
    assert captured.out == "" and not images_dir.exists()


def test_a_failed_write_leaves_no_half_written_file(tmp_path, monkeypatch):
    from keras_hvae.evaluation.plots import save_uint8_images

    levels = np.arange(3 * 4 * 4 * 3, dtype="uint8").reshape(3, 4, 4, 3)
    real_imsave, calls = matplotlib.image.imsave, []

    def failing_imsave(f, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            f.write(b"\x89PNG half")  # part of a file, then the failure
            raise OSError("disk full")
        return real_imsave(f, *args, **kwargs)

    monkeypatch.setattr(matplotlib.image, "imsave", failing_imsave)
    with pytest.raises(OSError, match="disk full"):
        save_uint8_images(levels, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sample_000.png", "sample_001.png"]
    for i in range(2):
        assert np.array_equal(_levels(tmp_path / f"sample_{i:03d}.png", 3)[0], levels[i])
