"""The scripts under applications/ parse, and the text experiment's table
reads finished runs."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "applications").glob("*.py"))


def load_script(path):
    spec = importlib.util.spec_from_file_location(f"app_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_every_application_script_imports_and_has_a_main(path):
    module = load_script(path)
    assert callable(getattr(module, "main", None)) and module.__doc__


def test_text_experiment_table_reads_finished_runs(tmp_path, capsys):
    module = load_script(ROOT / "applications" / "text_fortunes.py")
    run = tmp_path / "rnn_vae_fortunes" / "preset"
    run.mkdir(parents=True)
    meta = {"parameters": 4671825, "training_steps": 4200, "wall_clock_seconds": 3300.0,
            "text_scores": {"nll": 70.556, "kl": 0.0079, "perplexity": 239.17}}
    (run / "metadata.json").write_text(json.dumps(meta))
    module.main(["--out", str(tmp_path), "--table", "--recipe", "rnn_vae_fortunes", "--recipe", "biva_lstm_fortunes"])
    out = capsys.readouterr().out
    assert "| `rnn_vae_fortunes` | 4.67M | 4200 | 55 min | 70.56 | 0.01 | 239.2 |" in out
    assert "no finished run" in out and "biva_lstm_fortunes" in out
