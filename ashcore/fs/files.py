"""Files in a root that is not ours (a snapshot, a deployment): found as that root sees them,
written so that a crash leaves the old or the new version, copied without following its links;
and the failpoints that prove the crash safety."""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path

from ..process import run


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


def free_bytes(path: Path) -> int:
    """The bytes free for new data on the filesystem of ``path``."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def atomic_write(path: Path, text: str | bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text`` so that a crash leaves the old or the new file, never a torn one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
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


def write_in(root: Path, rel: str | Path, text: str) -> None:
    """Replace the file ``rel`` of ``root`` with ``text`` (atomically). Its directory is found as the
    root sees it (:func:`in_root`: links lead within ``root``); a link in the file's own place is
    replaced, not written through, as ``sed -i`` does, so ash's file is where it means it to be."""
    rel = Path(rel)
    atomic_write(in_root(root, rel.parent) / rel.name, text)


def copy_into(source: Path, dest: Path, *, replace: bool, skip: tuple[str, ...] = (), rel: str = "") -> None:
    """Copy the tree ``source`` into the directory ``dest``, entering directories both have.

    What ``dest`` lacks is copied whole; a file it has is replaced only with ``replace``; a directory
    it has keeps its own owner and mode. A symbolic link in ``dest`` is never followed: it is replaced
    with ``replace``, else kept (``dest`` may be a snapshot, whose links lead elsewhere on the host);
    links in ``source`` are copied as links. Directories in ``skip`` (paths like ``var/lib/dpkg``,
    relative to ``rel``'s root) are never copied: when missing they are made empty, as mount points
    (a package database in the shared ``/var`` would not match a snapshot booted from the menu).
    """
    for entry in sorted(os.scandir(source), key=lambda e: e.name):
        target, sub = dest / entry.name, f"{rel}/{entry.name}".lstrip("/")
        is_dir = entry.is_dir(follow_symlinks=False)
        if sub in skip:
            target.mkdir(exist_ok=True)
            continue
        if is_dir and not os.path.lexists(target) and any(p.startswith(f"{sub}/") for p in skip):
            st = entry.stat(follow_symlinks=False)  # made rather than copied whole: it holds a skipped path
            target.mkdir()
            os.chown(target, st.st_uid, st.st_gid)
            os.chmod(target, st.st_mode & 0o7777)
        if is_dir and target.is_dir() and not target.is_symlink():
            copy_into(Path(entry.path), target, replace=replace, skip=skip, rel=sub)
        elif replace or not os.path.lexists(target):
            if target.is_symlink():
                target.unlink()  # cp would write through it
            run(["cp", "-a", "--reflink=auto", "--no-target-directory", entry.path, target])
