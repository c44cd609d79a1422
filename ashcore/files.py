"""Crash-safe file writes and the failpoints that prove them."""

from __future__ import annotations

import os
import signal
from pathlib import Path


def failpoint(name: str) -> None:
    """Die here, as a power cut would, when ``ASH_FAILPOINT`` names this point (crash tests only)."""
    if os.environ.get("ASH_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, text: str | bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text`` so that a crash leaves the old or the new file, never a torn one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)
        f.flush()
        os.fchmod(f.fileno(), mode)
        os.fsync(f.fileno())
    failpoint(f"write:{path.name}")
    os.replace(tmp, path)
    fsync_dir(path.parent)
