"""`keras-hvae presets` and `keras-hvae recipes` fit a 100-column terminal;
`presets NAME` and `presets --json` give the details."""

import json


from keras_hvae.cli import LINE_WIDTH, main


def _lines(capsys):
    return capsys.readouterr().out.splitlines()


def test_the_presets_table_fits_100_columns(capsys):
    from keras_hvae.utils.presets import shipped_presets

    assert LINE_WIDTH == 100
    assert main(["presets"]) == 0
    lines = _lines(capsys)
    assert lines and all(len(line) <= 100 for line in lines), max(lines, key=len)
    for name in shipped_presets():  # every preset's name is there, whole
        assert any(line.startswith(name + " ") for line in lines), name
    assert any("keras-hvae presets NAME" in line for line in lines)


def test_long_metadata_is_cut_to_fit(monkeypatch, capsys):
    import keras_hvae.utils.presets as presets

    long = {
        "a_preset_with_a_rather_long_name_indeed": {
            "class_name": "SemiSupervisedBIVAWithAnExtraordinarilyLongClassName",
            "dataset": "a dataset name that goes on and on and on and on and on and on and on and on and on",
            "parameters": 123456789,
            "scores": {"test_elbo": -1234.5678, "test_iwae": {"value": -1200.0, "num_samples": 1000}},
        },
        "short": {"class_name": "BIVA", "dataset": "binarized_mnist", "parameters": 10, "scores": {}},
    }
    monkeypatch.setattr(presets, "shipped_presets", lambda: long)
    assert main(["presets"]) == 0
    lines = _lines(capsys)
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    assert any(line.startswith("a_preset_with_a_rather_long_name_indeed ") for line in lines)
    assert any("…" in line for line in lines)


def test_a_conditional_preset_lists_its_quadrant_nlls_not_bounds(monkeypatch, capsys):
    import keras_hvae.utils.presets as presets

    table = {n: {"nll": v, "standard_error": 0.5, "num_samples": 1000} for n, v in (("1", 61.234), ("2", 40.5),
                                                                                     ("3", 19.0))}
    listed = {"inpainter": {"class_name": "ConditionalMatNet", "dataset": "binarized_mnist", "parameters": 3e6,
                            "scores": {"structured_prediction": table}}}
    monkeypatch.setattr(presets, "shipped_presets", lambda: listed)
    assert main(["presets"]) == 0
    lines = _lines(capsys)
    row = next(line for line in lines if line.startswith("inpainter "))
    assert "NLL 61.23 / 40.50 / 19.00" in row and "k=" not in row, row
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    assert any(line.startswith("NLL: -log p(missing quadrants") for line in lines)


def test_presets_name_and_json_give_the_details(capsys):
    from keras_hvae.utils.presets import shipped_presets

    name = sorted(shipped_presets())[0]
    assert main(["presets", name]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(shipped_presets()[name]))
    assert main(["presets", "--json"]) == 0
    assert name in json.loads(capsys.readouterr().out)
    assert main(["presets", "no_such_preset"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no shipped preset 'no_such_preset'" in err[0] and name in err[0]


def test_the_recipes_list_fits_100_columns(capsys):
    from keras_hvae.utils import registry

    assert main(["recipes"]) == 0
    lines = _lines(capsys)
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    for name in registry.recipes():
        assert any(line.startswith(f"{name}: ") for line in lines), name
