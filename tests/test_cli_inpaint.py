"""`keras-hvae inpaint` (issue 15): on a conditional MatNet preset it writes the
picture and checks its output (observed pixels unchanged, values in the
data's range); on a preset that cannot inpaint it says which classes and
shipped presets can; a broken inpainting is an error, not a picture."""

import numpy as np
import pytest

from keras_hvae.cli import check_inpainting, main

N_TEST = 12


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A tiny MNIST-format file (`mnist.npz` layout, uint8)."""
    root = tmp_path_factory.mktemp("inpaint_data")
    rng = np.random.default_rng(0)
    x = ((rng.uniform(size=(N_TEST, 28, 28)) < 0.3) * 255).astype("uint8")
    np.savez(root / "mnist.npz", x_train=np.zeros((4, 28, 28), "uint8"), y_train=np.zeros(4, "uint8"),
             x_test=x, y_test=np.zeros(N_TEST, "uint8"))
    return root / "mnist.npz"


@pytest.fixture(scope="module", params=["quadrants", "squares"])
def conditional_preset(request, tmp_path_factory):
    from tests.models.matnet.conftest import tiny_conditional

    model = tiny_conditional(sizes=(7,), mask_generator=request.param)
    model.build()
    directory = tmp_path_factory.mktemp("inpaint") / f"tiny_cmatnet_{request.param}"
    model.save_to_preset(directory, metadata={"dataset": "binarized_mnist"})
    return directory


def test_inpaint_writes_the_picture_and_checks_its_output(conditional_preset, data, tmp_path, capsys):
    out = tmp_path / "inpaint.png"
    assert main(["inpaint", "--preset", str(conditional_preset), "--data", str(data), "--num", "5", "--seed", "2",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "observed pixels are unchanged" in printed and "lie in [0, 1]" in printed, printed
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_broken_inpainting_is_an_error(conditional_preset, data, tmp_path, capsys, monkeypatch):
    from keras_hvae.models.matnet import ConditionalMatNet

    real = ConditionalMatNet.inpaint
    monkeypatch.setattr(ConditionalMatNet, "inpaint", lambda self, x, mask, **kw: 1.0 - real(self, x, mask, **kw))
    assert main(["inpaint", "--preset", str(conditional_preset), "--data", str(data), "--num", "3",
                 "--out", str(tmp_path / "x.png")]) == 2
    assert "changed" in capsys.readouterr().err and not (tmp_path / "x.png").exists()


def test_check_inpainting_catches_changed_pixels_and_values_out_of_range():
    x = np.zeros((2, 4, 4, 1), "float32")
    mask = np.zeros((2, 4, 4, 1), "float32")
    mask[:, :2] = 1.0
    filled = x.copy()
    filled[:, 2:] = 1.0
    assert "the 16 observed pixels are unchanged, the 16 inpainted values lie in [0, 1]" in check_inpainting(
        x, mask, filled)
    bad = filled.copy()
    bad[0, 0, 0, 0] = 1.0
    with pytest.raises(ValueError, match="changed 1 of the 16 observed pixels"):
        check_inpainting(x, mask, bad)
    bad = filled.copy()
    bad[1, 3, 3, 0] = 1.5
    with pytest.raises(ValueError, match=r"outside the data's range \[0, 1\]"):
        check_inpainting(x, mask, bad)
    bad[1, 3, 3, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        check_inpainting(x, mask, bad)
    u8 = np.full((1, 4, 4, 1), 200, "uint8")
    assert "[0, 255]" in check_inpainting(u8, mask[:1], u8)
    with pytest.raises(ValueError, match="shape"):
        check_inpainting(x, mask, filled[:1])


def test_a_preset_that_cannot_inpaint_says_which_can(capsys):
    assert main(["inpaint", "--preset", "matnet_binarized_mnist", "--num", "2"]) == 2
    err = capsys.readouterr().err
    assert "MatNet (matnet_binarized_mnist) cannot inpaint" in err and "ConditionalMatNet" in err, err
    assert "shipped presets that can:" in err and len(err.strip().splitlines()) == 1
