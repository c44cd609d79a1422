"""The fixtures, loaded into every pytest run by the ``pytest11`` entry point: real btrfs on a
loop-mounted sparse image (one per session), a fresh sysroot per test, the real CLI against it, a
tiny busybox root and a store made from it, and a directory for throwaway plugins."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cli import Ash
from .mounts import mounts_under
from .require import require, require_root_tools

_counter = itertools.count()


@pytest.fixture(scope="session")
def btrfs_mount(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real btrfs filesystem on a loop-mounted sparse image, shared by the whole session."""
    require_root_tools()
    base = tmp_path_factory.mktemp("btrfs")
    image, mnt = base / "fs.img", base / "mnt"
    mnt.mkdir()
    with open(image, "wb") as f:
        f.truncate(int(os.environ.get("ASH_TEST_FS_SIZE", 16 << 30)))
    subprocess.run(["mkfs.btrfs", "-q", "-f", image], check=True, capture_output=True)
    subprocess.run(["mount", "-o", "loop,compress=zstd:1", image, mnt], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", mnt], check=False)
        image.unlink(missing_ok=True)


def _delete_subvolume_tree(path: Path) -> None:
    """Delete a subvolume and every subvolume below it (deepest first)."""
    if not path.exists():
        return
    nested = [p for p, _, _ in os.walk(path) if Path(p).stat().st_ino == 256]
    for sub in sorted(nested, key=lambda p: p.count("/"), reverse=True):
        subprocess.run(["btrfs", "property", "set", "-ts", sub, "ro", "false"], check=False, capture_output=True)
        subprocess.run(["btrfs", "subvolume", "delete", sub], check=False, capture_output=True)


@pytest.fixture
def sysroot(btrfs_mount: Path) -> Iterator[Path]:
    """A fresh, empty system root: its own subvolume on the session's btrfs filesystem."""
    path = btrfs_mount / f"sysroot-{os.getpid()}-{next(_counter)}"
    subprocess.run(["btrfs", "subvolume", "create", path], check=True, capture_output=True)
    yield path
    leaked = mounts_under(path)
    _delete_subvolume_tree(path)
    assert not leaked, f"mounts leaked into the host: {leaked}"


@pytest.fixture(scope="session")
def busybox_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny root filesystem (static busybox, os-release ID=testos) for tests of the core."""
    busybox = shutil.which("busybox")
    require(busybox is not None, "needs busybox (apt-get install busybox-static)")
    root = tmp_path_factory.mktemp("busybox-root")
    for d in ("bin", "etc", "root", "usr/bin", "var/lib"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy(busybox, root / "bin/busybox")
    for applet in ("sh", "touch", "ls", "cat", "echo", "true", "false", "sleep", "mkdir", "rm", "printf", "id", "env"):
        (root / "bin" / applet).symlink_to("busybox")
    (root / "etc/os-release").write_text('ID=testos\nNAME="ash test OS"\n')
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    return root


@pytest.fixture
def ash(sysroot: Path) -> Ash:
    return Ash(sysroot)


@pytest.fixture
def store(ash: Ash, busybox_root: Path) -> Ash:
    """A store whose base snapshot 0 is the busybox root."""
    ash("init", "--from", busybox_root)
    return ash


@pytest.fixture
def plugin_site(tmp_path: Path) -> Path:
    """A directory on the tested ash's ``PYTHONPATH`` for plugins installed by the test."""
    require(subprocess.run([sys.executable, "-c", "import setuptools"]).returncode == 0, "needs setuptools")
    path = tmp_path / "site"
    path.mkdir()
    return path
