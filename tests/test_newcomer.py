"""The README as a newcomer follows it, in a fresh virtual environment
(issue 15): `tests/newcomer_check.sh` clones the repository, runs the
README's install-and-demo line word for word, then `keras-hvae presets`,
and checks the printed scores, their labels and the pictures. It installs
TensorFlow from PyPI, so it is `slow` (about 10 minutes here); CI runs it.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_readme_works_for_a_newcomer(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout to clone")
    result = subprocess.run(["bash", str(ROOT / "tests" / "newcomer_check.sh"), str(ROOT), str(tmp_path)],
                            capture_output=True, text=True, timeout=3600,
                            env={k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "newcomer check passed" in result.stdout
