"""The plugin's markers, in a pytest run of a directory that knows nothing of ash: ``root`` is put
by the fixtures, and both markers are registered (``--strict-markers`` refuses any other)."""

from __future__ import annotations

import subprocess
import sys

import pytest

SAMPLE = """\
import pytest

def test_plain(tmp_path):
    pass

def test_on_a_store(store):
    pass

@pytest.mark.usefixtures("root_tools")
def test_asking_for_root():
    pass

@pytest.mark.slow
def test_slow(busybox_root):
    pass
"""


@pytest.mark.parametrize(
    "expression, selected",
    [("root", ["test_on_a_store", "test_asking_for_root"]), ("not root", ["test_plain", "test_slow"])],
)
def test_root_is_marked_by_the_fixtures(tmp_path, expression, selected):
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--strict-markers",
            "--collect-only",
            "-q",
            "-m",
            expression,
            "test_sample.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert [line.removeprefix("test_sample.py::") for line in out.stdout.splitlines() if "::" in line] == selected
