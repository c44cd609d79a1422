"""Crash-safe file writes and the failpoints that prove them."""

from __future__ import annotations

import errno
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


def in_root(root: Path, path: str | os.PathLike[str]) -> Path:
    """``path`` as a process chrooted at ``root`` sees it: symbolic links on the way (absolute ones
    too) are followed within ``root``, and ``..`` stops at it, so the result never leaves ``root``.
    What does not exist yet is kept as given. Use it for every host-side read or write of a file in
    a snapshot, whose links were made for the snapshot, not for the host."""
    todo = [p for p in Path(path).parts if p != "/"]
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            done = done[:-1]
            continue
        if part in ("", "."):
            continue
        candidate = root.joinpath(*done, part)
        if not candidate.is_symlink():
            done.append(part)
            continue
        links += 1
        if links > 40:
            raise OSError(errno.ELOOP, "too many levels of symbolic links", str(candidate))
        target = os.readlink(candidate)
        if target.startswith("/"):
            done = []
        todo = [p for p in Path(target).parts if p != "/"] + todo
    return root.joinpath(*done)
