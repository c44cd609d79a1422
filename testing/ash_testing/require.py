"""What a test needs of the machine: it skips without it on a developer machine, and *fails* when
``CI`` is set, so that CI can never pass by skipping."""

from __future__ import annotations

import os
import shutil

import pytest


def require(condition: bool, reason: str) -> None:
    """Skip (or, under CI, fail) the current test unless ``condition`` holds."""
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


def require_root_tools(*tools: str) -> None:
    """Root, btrfs's tools and loop devices' (and ``tools``)."""
    require(os.geteuid() == 0, "needs root")
    for tool in ("btrfs", "mkfs.btrfs", "losetup", *tools):
        require(shutil.which(tool) is not None, f"needs {tool}")
