"""``ash --version`` says what the package metadata says (what pip installed), not a copy in the source."""

from __future__ import annotations

import os
import subprocess

from ash_testing.cli import ASH


def test_version_comes_from_the_package_metadata(tmp_path):
    info = tmp_path / "ashcore-9.8.7.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ashcore\nVersion: 9.8.7\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([*ASH, "--version"], capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    assert out.stdout == "ash 9.8.7\n"
