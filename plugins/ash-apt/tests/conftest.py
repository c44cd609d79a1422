"""Fixtures for the apt plugin's tests, all real: a Debian minbase root made by debootstrap once per
machine (cached as a tarball), an apt repository built with dpkg-deb and served over HTTP on
127.0.0.1, and snapshot stores whose base is that root with apt pointed at that repository."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from ash_testing.cli import Ash
from ash_testing.http import Server
from ash_testing.roots import CACHE, cached_root

RELEASE, MIRROR = "bookworm", "http://deb.debian.org/debian"
DEBOOTSTRAP_CACHE = CACHE / "debootstrap"  # downloaded .debs, reused by every debootstrap here


@pytest.fixture(scope="session")
def debootstrap_cache(root_tools: Callable[..., None]) -> Path:
    """Where debootstrap keeps the .debs it downloaded, between test runs."""
    root_tools("debootstrap")
    DEBOOTSTRAP_CACHE.mkdir(parents=True, exist_ok=True)
    return DEBOOTSTRAP_CACHE


@pytest.fixture(scope="session")
def minbase_tarball(root_tools: Callable[..., None]) -> Path:
    """Debian minbase as a zstd tarball in the persistent cache, debootstrapped only when missing."""
    root_tools("debootstrap", "zstd", "dpkg-deb", "apt-ftparchive")

    def debootstrap(root: Path) -> None:
        DEBOOTSTRAP_CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--cache-dir={DEBOOTSTRAP_CACHE}", RELEASE, root, MIRROR], check=True
        )
        # The tests point apt at their own repository; Debian's indexes and archives would only slow them.
        for rel in ("var/lib/apt/lists", "var/cache/apt/archives"):
            for entry in (root / rel).iterdir():
                if entry.is_file():
                    entry.unlink()

    return cached_root(f"debian-{RELEASE}-minbase", debootstrap)


@pytest.fixture(scope="session")
def minbase_tar(minbase_tarball: Path, btrfs_mount: Path) -> Path:
    """The tarball uncompressed on the test filesystem, so that each test copies it as a reflink."""
    plain = btrfs_mount / "debian-minbase.tar"
    with open(plain, "wb") as out:
        subprocess.run(["zstd", "-dcq", minbase_tarball], stdout=out, check=True)
    return plain


class AptRepo:
    """A flat apt repository of packages built with dpkg-deb, served over HTTP on 127.0.0.1."""

    def __init__(self, path: Path, serve: Callable[[Path], Server]) -> None:
        self.path = path
        self.build = path.with_name("build")
        self.path.mkdir()
        self.server = serve(path)

    def add(
        self,
        name: str,
        version: str,
        *,
        control: dict[str, str] | None = None,
        postinst: str | None = None,
        files: dict[str, str] | None = None,
    ) -> None:
        """Build ``name_version_all.deb``: it ships /usr/share/NAME/version, ``files`` and ``postinst``."""
        tree = self.build / f"{name}_{version}"
        for rel, text in {f"usr/share/{name}/version": f"{version}\n", **(files or {})}.items():
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            (tree / rel).write_text(text)
            if rel.startswith(("usr/bin/", "etc/init.d/")):
                (tree / rel).chmod(0o755)
        fields = {
            "Package": name,
            "Version": version,
            "Architecture": "all",
            "Maintainer": "ash tests <t@example.invalid>",
            **(control or {}),
            "Description": f"ash test package {name}",
        }
        (tree / "DEBIAN").mkdir()
        (tree / "DEBIAN/control").write_text("".join(f"{k}: {v}\n" for k, v in fields.items()))
        if postinst is not None:
            (tree / "DEBIAN/postinst").write_text(f"#!/bin/sh\nset -e\n{postinst}\n")
            (tree / "DEBIAN/postinst").chmod(0o755)
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", tree, self.path / f"{name}_{version}_all.deb"],
            check=True,
            capture_output=True,
        )

    def publish_version_2(self) -> None:
        """New upstream versions: fooapp 2.0 needs libfoo 2.0 and a new package, libbar."""
        self.add("libbar", "1.0")
        self.add("libfoo", "2.0")
        self.add("fooapp", "2.0", control={"Depends": "libfoo (>= 2.0), libbar"}, files=_program("fooapp", "2.0"))
        self.index()

    def index(self) -> None:
        """(Re)write Packages and Release, as a repository does when it publishes."""
        for kind in ("packages", "release"):
            out = subprocess.run(
                ["apt-ftparchive", kind, "."], cwd=self.path, check=True, capture_output=True, text=True
            ).stdout
            (self.path / kind.capitalize()).write_text(out)


def _program(name: str, version: str) -> dict[str, str]:
    return {f"usr/bin/{name}": f"#!/bin/sh\necho {name} {version}\n"}


@pytest.fixture
def repo(tmp_path: Path, http_server: Callable[[Path], Server]) -> AptRepo:
    """The test repository, version 1 of everything:

    * ``fooapp`` needs ``libfoo``; ``tinypkg`` needs nothing; ``redpkg`` conflicts with ``bluepkg``;
    * ``failpkg``'s postinst fails; ``svcpkg``'s postinst records what policy-rc.d says about starting it.
    """
    r = AptRepo(tmp_path / "repo", http_server)
    r.add("libfoo", "1.0")
    r.add("fooapp", "1.0", control={"Depends": "libfoo (>= 1.0)"}, files=_program("fooapp", "1.0"))
    r.add("tinypkg", "1.0")
    r.add("redpkg", "1.0", control={"Conflicts": "bluepkg"})
    r.add("bluepkg", "1.0")
    r.add("failpkg", "1.0", postinst="echo 'failpkg: refusing to configure' >&2; exit 1")
    r.add("svcpkg", "1.0", postinst="policy-rc.d svcpkg start || echo $? > /usr/share/svcpkg/policy-rc.d-said")
    r.index()
    return r


@pytest.fixture
def debian(ash: Ash, minbase_tar: Path, repo: AptRepo, tmp_path: Path) -> Ash:
    """A store whose base snapshot 0 is Debian minbase with apt's only source being ``repo``: made
    with ``ash init --from`` a copy of the cached tarball with the apt configuration appended."""
    tarball = ash.sysroot.with_name(f"{ash.sysroot.name}.tar")
    subprocess.run(["cp", "--reflink=auto", minbase_tar, tarball], check=True)
    overlay = {
        "etc/apt/sources.list": f"deb [trusted=yes] {repo.server.url}/ ./\n",
        "etc/apt/apt.conf.d/99ash-tests": 'Acquire::Retries "0";\n',  # fail at once when the repo is down
    }
    for rel, text in overlay.items():
        (tmp_path / "overlay" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "overlay" / rel).write_text(text)
    subprocess.run(
        [
            "tar",
            "--append",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--file",
            tarball,
            "--directory",
            tmp_path / "overlay",
            *(f"./{rel}" for rel in overlay),
        ],
        check=True,
    )
    try:
        ash("init", "--from", tarball)
    finally:
        tarball.unlink()
    return ash
