"""The gates the repository promises: ruff's rules (among them the bans on shell=True, S602 and
S604, and lines of at most 120 characters), ruff's formatting, and mypy on the runtime code, the
plugins and the test package (the files listed in pyproject.toml), which ship ``py.typed``."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ash_testing.require import require

ROOT = Path(__file__).resolve().parents[1]


def tool(name: str) -> str:
    path = shutil.which(name) or str(Path(sys.executable).with_name(name))
    require(Path(path).exists(), f"needs {name} (pip install {name})")
    return path


@pytest.mark.parametrize(
    "argv",
    [["ruff", "check", "--no-cache", "."], ["ruff", "format", "--check", "--no-cache", "."], ["mypy"]],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_the_code_passes(argv: list[str]):
    out = subprocess.run([tool(argv[0]), *argv[1:]], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
