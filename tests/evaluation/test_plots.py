"""The KL bar chart keeps its labels apart for any number of layers (issue 15:
MatNet's labels overlapped)."""

import itertools

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from keras_hvae.evaluation.plots import kl_bars_figure, save_kl_bars  # noqa: E402


def _names(n):
    # MatNet-like names, long and of different lengths
    return ["z0_fc"] + [f"conv_{7 * 2 ** (i % 3)}x{7 * 2 ** (i % 3)}_meta{i // 3}_module{i % 3}" for i in range(n - 1)]


def _boxes(fig, texts):
    renderer = fig.canvas.get_renderer()
    return [t.get_window_extent(renderer) for t in texts if t.get_text()]


@pytest.mark.parametrize("num_layers", [1, 2, 5, 12, 20, 30])
def test_kl_bar_labels_do_not_overlap(num_layers):
    import matplotlib.pyplot as plt

    names = _names(num_layers)
    kl = np.abs(np.random.default_rng(num_layers).normal(size=(8, num_layers))) * 5
    fig = kl_bars_figure(kl, names)
    try:
        fig.canvas.draw()
        ax = fig.axes[0]
        labels = ax.get_yticklabels()
        assert [t.get_text() for t in labels] == names
        boxes = _boxes(fig, labels)
        for a, b in itertools.combinations(boxes, 2):
            assert not a.overlaps(b), (a, b)
        # every label, the axis titles and the title lie inside the figure
        figure_box = fig.bbox
        others = _boxes(fig, [ax.title, ax.xaxis.label, ax.yaxis.label])
        for box in boxes + others:
            assert box.x0 >= figure_box.x0 - 1 and box.x1 <= figure_box.x1 + 1, box
            assert box.y0 >= figure_box.y0 - 1 and box.y1 <= figure_box.y1 + 1, box
        # the layer labels do not run into the axis title or the x tick labels
        for box in boxes:
            for other in _boxes(fig, [ax.yaxis.label] + list(ax.get_xticklabels())):
                assert not box.overlaps(other), (box, other)
    finally:
        plt.close(fig)


def test_save_kl_bars_writes_a_png(tmp_path):
    path = save_kl_bars(np.ones((2, 3)), ["z_1", "z_2", "z_3"], tmp_path / "kl.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="3 KL values for 2 layer names"):
        save_kl_bars(np.ones(3), ["a", "b"], tmp_path / "bad.png")
