"""Fixtures for the pacman plugin's tests, all real: Arch packages built here in pure Python (no
makepkg), a repository indexed with repo-add, and snapshot stores whose base is a tiny Arch-like
root (static busybox, ``ID=arch``) either without pacman, so that ash runs the host's pacman from
outside with ``--root``, or with the host's pacman copied in, so that ash runs it in the chroot.

The repository is served as ``file://`` to the host's pacman and over HTTP on 127.0.0.1 to a pacman
in a chroot (which shares the host's network but sees only the snapshot's files). Every test has a
fresh sysroot and so a fresh package cache. ``SigLevel = Never`` is set here only: the test packages
are not signed.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
from ash_testing.cli import Ash
from ash_testing.http import Server
from ash_testing.require import require
from ash_testing.roots import busybox_tree, copy_programs

from ashcore.fs import btrfs

REPO = "test"
PACMAN_CONF = f"""\
[options]
Architecture = auto
SigLevel = Never

[{REPO}]
Include = /etc/pacman.d/{REPO}-repo.conf
"""
#: pacman-key is a bash script that needs gpg (and gpg-agent to make its master key), pacman-conf,
#: vercmp and two files of makepkg's library.
KEYRING_PROGRAMS = ("pacman-key", "vercmp", "bash", "gpg", "gpg-agent")
MAKEPKG_LIBRARY = "usr/share/makepkg/util"


def build_package(
    path: Path,
    name: str,
    version: str,
    files: dict[str, str | bytes] | None = None,
    *,
    depends: tuple[str, ...] = (),
    links: dict[str, str] | None = None,
    install: str | None = None,
) -> None:
    """Write an Arch package: ``.PKGINFO``, an optional ``.INSTALL`` scriptlet, then the files (those
    under a ``bin/`` executable) and symbolic links. pacman needs no ``.MTREE`` to install or remove."""
    contents = {p: c.encode() if isinstance(c, str) else c for p, c in (files or {}).items()}
    links = links or {}
    now = int(time.time())
    info = [
        f"pkgname = {name}",
        f"pkgbase = {name}",
        f"pkgver = {version}",
        "pkgdesc = ash test package",
        f"builddate = {now}",
        "packager = ash tests",
        f"size = {sum(map(len, contents.values()))}",
        "arch = any",
        *(f"depend = {d}" for d in depends),
    ]
    dirs = sorted({str(Path(p).parents[i]) for p in [*contents, *links] for i in range(len(Path(p).parents) - 1)})

    def member(path: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644) -> tarfile.TarInfo:
        entry = tarfile.TarInfo(path)
        entry.type, entry.mode, entry.mtime, entry.uname, entry.gname = kind, mode, now, "root", "root"
        return entry

    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        meta = {".PKGINFO": "\n".join(info) + "\n", ".INSTALL": install}
        for name_, text in meta.items():
            if text is not None:
                data = text.encode()
                entry = member(name_)
                entry.size = len(data)
                tar.addfile(entry, io.BytesIO(data))
        for d in dirs:
            tar.addfile(member(d, tarfile.DIRTYPE, 0o755))
        for p, data in sorted(contents.items()):
            entry = member(p, mode=0o755 if "bin/" in p else 0o644)
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))
        for p, target in sorted(links.items()):
            entry = member(p, tarfile.SYMTYPE, 0o777)
            entry.linkname = target
            tar.addfile(entry)


class Repo:
    """A pacman repository made by the test: :meth:`add` builds a package and indexes it."""

    def __init__(self, path: Path, name: str = REPO) -> None:
        self.path, self.name = path, name
        path.mkdir(parents=True)
        self.db = path / f"{name}.db.tar.gz"
        self._stamp = int(time.time())
        self.file_url = f"file://{path}"

    def add(self, name: str, version: str, files: dict[str, str | bytes] | None = None, **kwargs) -> None:
        """Build ``name-version`` (``files`` default to ``usr/share/<name>/version``) into the repository,
        replacing any older version. Never rebuild a version with other contents: a cached copy would
        then fail its checksum."""
        package = self.path / f"{name}-{version}-any.pkg.tar.gz"
        build_package(package, name, version, files or {f"usr/share/{name}/version": f"{version}\n"}, **kwargs)
        subprocess.run(["repo-add", "-q", "-R", self.db, package], check=True, capture_output=True)
        # pacman -Sy fetches a database only if it is newer than its copy, to the second: date each
        # rebuild a second after the last, or one made within the same second would go unseen.
        self._stamp = max(self._stamp + 1, int(time.time()))
        os.utime(self.db, (self._stamp, self._stamp))


@pytest.fixture
def repo(tmp_path: Path, root_tools: Callable[..., None]) -> Repo:
    root_tools("pacman", "repo-add")
    return Repo(tmp_path / "repo")


@pytest.fixture
def mirror(tmp_path: Path) -> Callable[[str], Repo]:
    """Make repositories side by side under ``tmp_path/mirror``, as on an Arch mirror (``$repo``)."""
    return lambda name: Repo(tmp_path / "mirror" / name, name)


@pytest.fixture
def repo_server(repo: Repo, http_server: Callable[[Path], Server]) -> Server:
    """The repository over HTTP on 127.0.0.1, for a pacman that runs in a chroot; a snapshot's
    pacman can say who asks by fetching under ``/snapshot-N/`` (see ``Server.visits``)."""
    return http_server(repo.path)


def _arch_tree(root: Path) -> Path:
    """Static busybox with all its applets in /bin, an Arch os-release and an empty pacman database."""
    return busybox_tree(root, 'NAME="Arch Linux"\nID=arch\n', dirs=("etc/pacman.d", "tmp", "var/lib/pacman"))


@pytest.fixture(scope="session")
def busybox_arch_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Arch-like root without pacman: ash runs the host's pacman on it from outside."""
    return _arch_tree(tmp_path_factory.mktemp("arch-busybox") / "root")


@pytest.fixture(scope="session")
def pacman_arch_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Arch-like root with the host's pacman in it: ash runs pacman in its chroot."""
    root = _arch_tree(tmp_path_factory.mktemp("arch-pacman") / "root")
    copy_programs(root, "pacman", "pacman-conf")
    return root


@pytest.fixture(scope="session")
def keyring_arch_root(pacman_arch_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:func:`pacman_arch_root` with the host's pacman-key and what it needs."""
    root = tmp_path_factory.mktemp("arch-keyring") / "root"
    shutil.copytree(pacman_arch_root, root, symlinks=True)
    copy_programs(root, *KEYRING_PROGRAMS)
    (root / "bin/bash").symlink_to("../usr/bin/bash")  # pacman-key starts with #!/bin/bash
    require((Path("/") / MAKEPKG_LIBRARY).is_dir(), "needs makepkg's library (apt-get install makepkg)")
    shutil.copytree(Path("/") / MAKEPKG_LIBRARY, root / MAKEPKG_LIBRARY)
    return root


@attrs.define
class Arch:
    """A sysroot for a snapshot store whose base (snapshot 0) is an Arch-like root using the test's repository."""

    ash: Ash
    repo: Repo
    mode: str | None = None

    def init(self, template: Path, server: str, *, before_init: Callable[[Path], None] | None = None) -> None:
        """``ash init`` from a copy of ``template`` whose pacman.conf points at ``server``."""
        base = self.ash.sysroot / "base-root"
        subprocess.run(["cp", "-a", "--reflink=auto", template, base], check=True)
        (base / "etc/pacman.conf").write_text(PACMAN_CONF)
        (base / f"etc/pacman.d/{REPO}-repo.conf").write_text(f"Server = {server}\n")
        if before_init:
            before_init(base)
        self.ash("init", "--from", base)
        shutil.rmtree(base)

    def root(self, sid: int) -> Path:
        return self.ash.snapshot(sid)

    def packages(self, sid: int) -> dict[str, tuple[str, bool]]:
        """``{name: (version, explicit)}`` as ``ash list --json`` reports them."""
        return {
            p["name"]: (p["version"], p["explicit"]) for p in json.loads(self.ash("list", str(sid), "--json").stdout)
        }


@pytest.fixture
def bare(ash: Ash, repo: Repo) -> Arch:
    """An empty sysroot and a repository: the test makes the store."""
    return Arch(ash, repo)


@pytest.fixture(params=["outside", "inside"])
def arch(request: pytest.FixtureRequest, bare: Arch) -> Arch:
    """A store in each mode: pacman from outside with ``--root``, and pacman in the snapshot's chroot."""
    if request.param == "outside":
        bare.init(request.getfixturevalue("busybox_arch_root"), bare.repo.file_url)
    else:
        bare.init(request.getfixturevalue("pacman_arch_root"), request.getfixturevalue("repo_server").url)
    bare.mode = request.param
    return bare


def _bootable(base: Path) -> None:
    """Make an Arch-like root deployable with ash-grub: a kernel and initramfs (dummies: nothing
    boots them) and /etc/default/grub."""
    (base / "boot").mkdir()
    for name in ("vmlinuz-6.1.0-9-amd64", "initrd.img-6.1.0-9-amd64"):
        (base / "boot" / name).write_text(name)
    (base / "etc/default").mkdir(parents=True, exist_ok=True)
    (base / "etc/default/grub").write_text("GRUB_TIMEOUT=1\n")


@pytest.fixture
def deployed(bare: Arch, busybox_arch_root: Path) -> Arch:
    """0 an Arch-like base with a kernel, 1 a clone with liba 1.0-1, deployed; home and var shared
    subvolumes, as the installer makes them. pacman runs from outside the snapshots."""
    for name in ("home", "var"):
        btrfs.create(bare.ash.sysroot / name)
    bare.repo.add("liba", "1.0-1")
    bare.init(busybox_arch_root, bare.repo.file_url, before_init=_bootable)
    bare.ash("clone", "0")
    bare.ash("install", "1", "liba")
    bare.ash("deploy", "1")
    return bare
