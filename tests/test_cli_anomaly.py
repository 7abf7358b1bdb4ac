"""`keras-hvae anomaly` on a tiny BIVA preset with an in- and an
out-of-distribution set given as files: the AUROC / AUPRC / FPR80 table for
every k, per-example scores as CSV, the histogram picture, labelled progress
(unless --quiet), and the one-set behaviour without an out-of-distribution set."""

import csv
import json

import numpy as np
import pytest

from keras_hvae.cli import main
from keras_hvae.evaluation.anomaly import auroc_stderr, detection_metrics
from keras_hvae.evaluation.protocol import random_subset

N_IN, N_OUT = 30, 24


@pytest.fixture(scope="module")
def tiny_biva(tmp_path_factory):
    from keras_hvae.models.biva import BIVA

    model = BIVA.from_architecture("binary_28x28", filters=4, latent_sizes=[4, 2], layers_per_block=1,
                                   q_dropout=0.0, p_dropout=0.0, seed=0)
    model.build()
    model.initialize((np.random.default_rng(1).uniform(size=(32, 28, 28, 1)) < 0.2).astype("float32"))
    directory = tmp_path_factory.mktemp("anomaly") / "tiny_biva"
    model.save_to_preset(directory, metadata={"dataset": "binarized_mnist"})
    return directory


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """In: a tiny MNIST-format file (`mnist.npz` layout: x_train, y_train,
    x_test, y_test as uint8) of faint images; out: a .npy array of dense
    binary images (model inputs as they are)."""
    root = tmp_path_factory.mktemp("anomaly_data")
    rng = np.random.default_rng(0)
    faint = (rng.uniform(size=(N_IN, 28, 28)) < 0.15) * 255
    np.savez(root / "in_mnist.npz", x_train=np.zeros((4, 28, 28), "uint8"), y_train=np.zeros(4, "uint8"),
             x_test=faint.astype("uint8"), y_test=np.zeros(N_IN, "uint8"))
    dense = (rng.uniform(size=(N_OUT, 28, 28, 1)) < 0.7).astype("float32")
    np.save(root / "out.npy", dense)
    return root / "in_mnist.npz", root / "out.npy", dense


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_in_against_out_prints_the_table_and_writes_csv_and_histograms(tiny_biva, sets, tmp_path, capsys):
    data_in, data_out, dense = sets
    argv = ["anomaly", "--preset", str(tiny_biva), "--data", str(data_in), "--ood-data", str(data_out),
            "--limit", "20", "--seed", "3", "--csv", str(tmp_path / "scores.csv"), "--out", str(tmp_path / "h.png")]
    assert main(argv) == 0
    captured = capsys.readouterr()
    out = captured.out
    # every k of the 2-level preset, with AUROC, AUPRC and FPR80, and the likelihood ratio for k = 1
    assert "AUROC" in out and "± (DeLong)" in out and "AUPRC" in out and "FPR80" in out
    assert "L^{>0} (ELBO)" in out and "L^{>1}" in out and "L^{>2}" not in out
    assert "LLR^{>1}" in out and "LLR^{>0}" not in out and "LLR^{>2}" not in out
    assert "(20 examples)" in out and "seed 3" in out
    # labelled progress for both sets and every k
    for label in ("in-distribution L^{>0}", "in-distribution L^{>1}", "out-of-distribution L^{>0}",
                  "out-of-distribution L^{>1}"):
        assert f"{label} (S=1): 20/20 examples" in captured.err, captured.err
    # the CSV: one row per scored example, its set and index, a column per score
    rows = _rows(tmp_path / "scores.csv")
    assert list(rows[0]) == ["set", "index", "L>0", "L>1", "LLR>1"]
    assert [r["set"] for r in rows] == ["in"] * 20 + ["out"] * 20
    assert [int(r["index"]) for r in rows if r["set"] == "in"] == list(random_subset(N_IN, 20, 3))
    assert [int(r["index"]) for r in rows if r["set"] == "out"] == list(random_subset(N_OUT, 20, 3))
    # the table's numbers are those of the CSV's scores
    for k in (0, 1):
        s_in = np.array([float(r[f"L>{k}"]) for r in rows if r["set"] == "in"])
        s_out = np.array([float(r[f"L>{k}"]) for r in rows if r["set"] == "out"])
        m = detection_metrics(s_in, s_out)
        line = next(line for line in out.splitlines() if line.startswith(f"L^{{>{k}}}"))
        assert f"{m['auroc']:.4f}" in line and f"{m['fpr80']:.4f}" in line, (line, m)
        assert f"{m['auroc']:.4f}  {auroc_stderr(s_in, s_out):.4f}" in line, line  # its standard error beside it
    # LLR^{>1} = L^{>0} - L^{>1} from the same draws, high = anomalous
    for name in ("in", "out"):
        got = np.array([float(r["LLR>1"]) for r in rows if r["set"] == name])
        want = np.array([float(r["L>0"]) - float(r["L>1"]) for r in rows if r["set"] == name])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)
    llr_in = np.array([float(r["LLR>1"]) for r in rows if r["set"] == "in"])
    llr_out = np.array([float(r["LLR>1"]) for r in rows if r["set"] == "out"])
    m = detection_metrics(-llr_in, -llr_out)
    line = next(line for line in out.splitlines() if line.startswith("LLR^{>1}"))
    assert f"{m['auroc']:.4f}" in line and f"{m['auprc']:.4f}" in line and f"{m['fpr80']:.4f}" in line, (line, m)
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quiet_and_chosen_ks_and_an_ood_dataset_name(tiny_biva, sets, tmp_path, capsys):
    data_in, _, _ = sets
    # --ood-dataset with --ood-data reads the file as that dataset (here the same MNIST-format file)
    assert main(["anomaly", "--preset", str(tiny_biva), "--data", str(data_in), "--ood-data", str(data_in),
                 "--ood-dataset", "binarized_mnist", "--k", "1", "--limit", "10", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "L^{>1}" in captured.out and "L^{>0}" not in captured.out and "LLR^{>1}" in captured.out


def test_score_llr_alone_and_its_errors(tiny_biva, sets, tmp_path, capsys):
    data_in, data_out, _ = sets
    base = ["anomaly", "--preset", str(tiny_biva), "--data", str(data_in), "--ood-data", str(data_out),
            "--limit", "6", "--quiet"]
    assert main(base + ["--score", "llr", "--csv", str(tmp_path / "llr.csv")]) == 0
    captured = capsys.readouterr()
    assert "LLR^{>1}" in captured.out and "L^{>0} (ELBO)" not in captured.out
    assert list(_rows(tmp_path / "llr.csv")[0]) == ["set", "index", "LLR>1"]
    # LLR^{>0} is 0 for every example; k past the top level; an unknown dataset name: one-line errors
    assert main(base + ["--score", "llr", "--k", "0"]) == 2
    assert "needs k >= 1" in capsys.readouterr().err
    assert main(base + ["--score", "llr", "--k", "2"]) == 2
    assert "0 <= k < 2" in capsys.readouterr().err
    assert main(["anomaly", "--preset", str(tiny_biva), "--data", str(data_in), "--ood-dataset", "not_a_set",
                 "--limit", "4", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "not_a_set" in err and "fashion_mnist" in err and "\n" not in err.strip()


def test_without_an_ood_set_it_keeps_the_one_set_summary(tiny_biva, sets, tmp_path, capsys):
    data_in, _, _ = sets
    assert main(["anomaly", "--preset", str(tiny_biva), "--data", str(data_in), "--k", "1", "--limit", "8",
                 "--csv", str(tmp_path / "one.csv")]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["k"] == 1 and summary["num_examples"] == 8 and np.isfinite(summary["mean"])
    assert "L^{>1} (S=1): 8/8 examples" in captured.err
    rows = _rows(tmp_path / "one.csv")
    assert len(rows) == 8 and {r["set"] for r in rows} == {"in"} and list(rows[0]) == ["set", "index", "L>1"]
