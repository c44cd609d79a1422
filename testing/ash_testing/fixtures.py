"""The fixtures, loaded into every pytest run by the ``pytest11`` entry point: root and its tools,
real btrfs on a loop-mounted sparse image (one per session), a fresh sysroot per test, the real CLI
against it, a tiny busybox root and a store made from it, a directory for throwaway plugins, HTTP
servers, and Debian's os-prober package."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ashcore.fs import btrfs

from . import campaign as _campaign
from .cli import Ash
from .deploys import KERNEL
from .http import Server
from .mounts import mounts_under
from .require import require, require_root_tools
from .roots import CACHE, busybox_tree

_counter = itertools.count()
#: the busybox root's commands (not all of busybox's: its ``ash`` is a shell)
APPLETS = ("sh", "touch", "ls", "cat", "echo", "true", "false", "sleep", "mkdir", "rm", "printf", "id", "env")


@pytest.fixture(scope="session")
def root_tools() -> Callable[..., None]:
    """Root, btrfs's tools and loop devices: every fixture that needs them depends on this one, which
    marks its tests ``root``. It returns :func:`~ash_testing.require.require_root_tools`, to ask for
    more tools."""
    require_root_tools()
    return require_root_tools


@pytest.fixture(scope="session")
def btrfs_mount(root_tools: Callable[..., None], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real btrfs filesystem on a loop-mounted sparse image, shared by the whole session."""
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
    root = tmp_path_factory.mktemp("busybox-root")
    return busybox_tree(root, 'ID=testos\nNAME="ash test OS"\n', applets=APPLETS, dirs=("var/lib",))


@pytest.fixture
def ash(sysroot: Path) -> Ash:
    return Ash(sysroot)


@pytest.fixture
def store(ash: Ash, busybox_root: Path) -> Ash:
    """A store whose base snapshot 0 is the busybox root."""
    ash("init", "--from", busybox_root)
    return ash


@pytest.fixture(scope="session")
def bootable_root(busybox_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox root with what a bootable snapshot has: a kernel and initramfs in /boot (dummy
    files: nothing boots them here), /etc/default/grub, and state under /var."""
    root = tmp_path_factory.mktemp("bootable") / "root"
    shutil.copytree(busybox_root, root, symlinks=True)
    (root / "boot").mkdir()
    for name in (f"vmlinuz-{KERNEL}", f"initrd.img-{KERNEL}", "vmlinuz-5.10.0-1-amd64", "initrd.img-5.10.0-1-amd64"):
        (root / "boot" / name).write_text(name)
    (root / "etc/default").mkdir()
    (root / "etc/default/grub").write_text('GRUB_TIMEOUT=3\nGRUB_CMDLINE_LINUX="console=ttyS0,115200"\n')
    (root / "var/log").mkdir()
    (root / "var/log/base.log").write_text("from the snapshot\n")
    return root


@pytest.fixture
def system(sysroot: Path, bootable_root: Path) -> Ash:
    """A store of :func:`bootable_root` on a sysroot laid out like an installed system: shared ``home``
    and ``var`` subvolumes (deploys write the menu with ash-grub)."""
    for name in ("home", "var"):
        btrfs.create(sysroot / name)
    ash = Ash(sysroot)
    ash("init", "--from", bootable_root)
    return ash


@pytest.fixture
def plugin_site(tmp_path: Path) -> Path:
    """A directory on the tested ash's ``PYTHONPATH`` for plugins installed by the test."""
    require(subprocess.run([sys.executable, "-c", "import setuptools"]).returncode == 0, "needs setuptools")
    path = tmp_path / "site"
    path.mkdir()
    return path


@pytest.fixture
def http_server() -> Iterator[Callable[[Path], Server]]:
    """Serve a directory over HTTP on 127.0.0.1 until the test ends: ``http_server(path)`` is a
    :class:`~ash_testing.http.Server`."""
    servers: list[Server] = []

    def serve(directory: Path) -> Server:
        servers.append(Server(directory))
        return servers[-1]

    yield serve
    for server in servers:
        server.stop()


@pytest.fixture
def campaign() -> Callable[[str], _campaign.Campaign]:
    """``campaign(name)``: one class of the reliability campaign (:mod:`~ash_testing.campaign`), its
    cases counted into the table printed at the end of the run."""
    return _campaign.Campaign


def pytest_terminal_summary(terminalreporter) -> None:
    """The reliability campaign's table, when any of its classes ran (in the normal output)."""
    _campaign.report(terminalreporter.write_line, terminalreporter.write_sep)


@pytest.fixture(scope="session")
def os_prober_deb() -> Path:
    """Debian's os-prober package, downloaded once into the test cache."""
    cached = sorted(CACHE.glob("os-prober_*.deb"))
    if cached:
        return cached[-1]
    require(shutil.which("apt-get") is not None, "needs apt-get to download os-prober")
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        subprocess.run(["apt-get", "download", "os-prober"], cwd=tmp, check=True, capture_output=True)
        (deb,) = Path(tmp).glob("os-prober_*.deb")
        return deb.rename(CACHE / deb.name)
