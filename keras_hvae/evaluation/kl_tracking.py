"""Per-module KL over training (MatNet paper, Fig. 4).

`KLTracker` is a Keras callback that records, at the end of every
``every``-th epoch, the batch-mean ``KL(q(z_i|.) || p(z_i|.))`` of each
latent layer on a fixed batch and a fixed seed (through
``model.kl_per_layer``). `plot_kl_stack` draws the records as a stacked
area plot, grouped by meta module (light lines between modules, dark lines
between meta modules), and writes a PNG with matplotlib's Agg backend.

Example:
```python
tracker = KLTracker(x_val[:64])
model.fit(x_train, epochs=10, callbacks=[tracker])
plot_kl_stack(tracker, "kl.png")
```
"""

import keras
import numpy as np


def _groups_of(model, names):
    groups = getattr(model, "latent_layer_groups", None)
    if groups is not None:
        return list(groups)
    return [str(n).rsplit("_", 1)[-1] for n in names]


class KLTracker(keras.callbacks.Callback):
    """Records the per-layer KL on a fixed batch during training.

    Args:
        x: the fixed batch (a few dozen examples is enough).
        every: record every this many epochs.
        seed: int seed for the posterior samples, so records differ only
            through the weights.
        at_start: also record before the first epoch (epoch 0).

    Attributes:
        epochs: list of epoch numbers (1-based; 0 for the start).
        history: list of arrays ``(num_layers,)``, columns in
            ``layer_names`` order.
        layer_names, layer_groups: from the model when training starts.
    """

    def __init__(self, x, every=1, seed=0, at_start=False):
        super().__init__()
        self.x = np.asarray(x)
        self.every = int(every)
        self.seed = int(seed)
        self.at_start = bool(at_start)
        self.epochs = []
        self.history = []
        self.layer_names = None
        self.layer_groups = None

    def _record(self, epoch):
        kl = np.asarray(self.model.kl_per_layer(self.x, seed=self.seed), dtype="float64")
        self.epochs.append(int(epoch))
        self.history.append(kl.mean(axis=0))

    def on_train_begin(self, logs=None):
        self.layer_names = list(self.model.latent_layer_names)
        self.layer_groups = _groups_of(self.model, self.layer_names)
        if self.at_start and not self.epochs:
            self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self._record(epoch + 1)

    def as_array(self):
        """``(num_records, num_layers)`` float64."""
        if not self.history:
            return np.zeros((0, len(self.layer_names or ())))
        return np.stack(self.history)


def _order_by_meta(names, groups, meta_order=None):
    """Column order for stacking: meta modules in `meta_order` (default: as
    they first appear from the output side reversed, i.e. z_0's group at
    the bottom of the stack), keeping layer order inside a group."""
    seen = []
    for g in groups:
        if g not in seen:
            seen.append(g)
    if meta_order is None:
        meta_order = seen[::-1]
    order = []
    for g in meta_order:
        idx = [i for i, gg in enumerate(groups) if gg == g]
        order += idx[::-1]
    return order


def plot_kl_stack(tracker_or_history, path=None, layer_names=None, layer_groups=None, epochs=None, title=None):
    """Stacked-area plot of the per-layer KL, grouped by meta module.

    Args:
        tracker_or_history: a `KLTracker`, or an array
            ``(num_records, num_layers)``.
        path: where to write the PNG (None: do not write).
        layer_names, layer_groups, epochs: needed with a bare array.
        title: figure title.

    Returns:
        The matplotlib ``Figure``.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if isinstance(tracker_or_history, KLTracker):
        tracker = tracker_or_history
        data = tracker.as_array()
        layer_names = tracker.layer_names
        layer_groups = tracker.layer_groups
        epochs = tracker.epochs
    else:
        data = np.asarray(tracker_or_history, dtype="float64")
        if layer_names is None:
            layer_names = [f"z{i}" for i in range(data.shape[1])]
        if layer_groups is None:
            layer_groups = ["all"] * data.shape[1]
        if epochs is None:
            epochs = list(range(1, data.shape[0] + 1))
    if data.ndim != 2 or data.shape[0] == 0:
        raise ValueError("Nothing to plot: no KL records.")
    order = _order_by_meta(list(layer_names), list(layer_groups))
    data = np.maximum(data[:, order], 0.0)
    names = [layer_names[i] for i in order]
    groups = [layer_groups[i] for i in order]
    x = np.asarray(epochs, dtype="float64")
    if len(x) == 1:  # a single record: draw it as a flat band
        x = np.array([x[0] - 0.5, x[0] + 0.5])
        data = np.repeat(data, 2, axis=0)

    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    cum = np.cumsum(data, axis=1)
    base = np.zeros(len(x))
    palette = matplotlib.colormaps["tab10"]
    group_names = []
    for g in groups:
        if g not in group_names:
            group_names.append(g)
    for j in range(data.shape[1]):
        color = palette(group_names.index(groups[j]) % 10)
        top = cum[:, j]
        label = groups[j] if (j == 0 or groups[j - 1] != groups[j]) else None
        ax.fill_between(x, base, top, color=color, alpha=0.75, linewidth=0, label=label)
        last_in_group = j == data.shape[1] - 1 or groups[j + 1] != groups[j]
        ax.plot(x, top, color="black" if last_in_group else "white", linewidth=1.2 if last_in_group else 0.5)
        base = top
    ax.set_xlabel("epoch")
    ax.set_ylabel("KL per module (nats)")
    ax.set_title(title or "KL(q(z_i|.) || p(z_i|.)) by module")
    ax.legend(title="meta module", loc="upper left", fontsize="small")
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(bottom=0)
    fig.tight_layout()
    if path is not None:
        fig.savefig(str(path), format="png", dpi=100)
    fig.layer_order = names
    return fig
