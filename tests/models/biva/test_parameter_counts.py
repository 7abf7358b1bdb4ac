"""docs/biva_parameter_counts.md holds the counts of freshly built models."""

import re
from pathlib import Path

from keras_hvae.models.biva.biva_architectures import PAPER_TABLE1_PARAMETERS
from keras_hvae.models.biva.biva_model import table1_parameter_counts

DOC = Path(__file__).resolve().parents[3] / "docs" / "biva_parameter_counts.md"


def test_documented_counts_match_built_models():
    text = DOC.read_text()
    documented = {
        m.group(1): (int(m.group(2).replace(",", "")), float(m.group(3)))
        for m in re.finditer(r"^\| (\S+ L=\d+) \| [\d.]+M \(([\d,]+)\) \| [\d.]+M \| ([\d.]+)M \|", text, re.M)
    }
    assert set(documented) == set(PAPER_TABLE1_PARAMETERS)
    for name, ours, paper in table1_parameter_counts():
        assert documented[name][0] == ours, (name, documented[name][0], ours)
        assert abs(documented[name][1] * 1e6 - paper) < 1e4
