"""The code passes ruff, whose rules include the bans on shell=True (S602, S604)."""

import shutil
import subprocess
import sys
from pathlib import Path

from ash_testing.require import require

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    require(Path(ruff).exists(), "needs ruff (pip install ruff)")
    out = subprocess.run([ruff, "check", "--no-cache", ROOT], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
