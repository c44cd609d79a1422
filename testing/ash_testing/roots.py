"""Root filesystems for tests: tiny busybox roots, host programs copied into a root, and expensive
roots cached as tarballs between test runs."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from .require import require

#: where expensive roots are kept between test runs
CACHE = Path(os.environ.get("ASH_TEST_CACHE", "/var/cache/ash-tests")).resolve()


def busybox() -> Path:
    """The host's static busybox."""
    found = shutil.which("busybox")
    require(found is not None, "needs busybox (apt-get install busybox-static)")
    assert found is not None  # require() stopped the test otherwise
    return Path(found)


def busybox_tree(
    root: Path, os_release: str, *, applets: Iterable[str] | None = None, dirs: Iterable[str] = ()
) -> Path:
    """Make a tiny root at ``root``: static busybox in /bin with links for ``applets`` (every one it
    has by default), ``os_release`` as /etc/os-release, a root user and group, and ``dirs``."""
    for d in ("bin", "etc", "root", "usr/bin", *dirs):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy(busybox(), root / "bin/busybox")
    if applets is None:
        applets = subprocess.run(
            [root / "bin/busybox", "--list"], check=True, capture_output=True, text=True
        ).stdout.split()
    for applet in applets:
        if not (root / "bin" / applet).exists():
            (root / "bin" / applet).symlink_to("busybox")
    (root / "etc/os-release").write_text(os_release)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\n")
    return root


def copy_programs(root: Path, *programs: str | Path) -> None:
    """Copy host programs (names on ``PATH``, or paths) to the same paths in ``root``, with every
    shared library they load."""
    require(shutil.which("ldd") is not None, "needs ldd")
    for program in programs:
        path = Path(program) if Path(program).is_absolute() else Path(shutil.which(program) or program)
        require(path.is_file(), f"needs {program}")
        ldd = subprocess.run(["ldd", path], capture_output=True, text=True).stdout  # fails for scripts: no libraries
        for source in (path, *map(Path, re.findall(r"(/\S+) \(0x", ldd))):
            target = root / str(source).lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def cached_file(name: str, url: str) -> Path:
    """The file at ``url``, downloaded once into ``CACHE/<name>`` (under the cache's lock) and kept."""
    import urllib.request

    path = CACHE / name
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            partial = path.with_name(f".{name}.partial")
            try:
                with urllib.request.urlopen(url, timeout=120) as response, open(partial, "wb") as out:
                    shutil.copyfileobj(response, out)
            except OSError as exc:
                partial.unlink(missing_ok=True)
                require(False, f"needs {url} ({exc})")
            partial.rename(path)
    return path


def cached_root(name: str, build: Callable[[Path], None]) -> Path:
    """The root that ``build`` makes in the empty directory it is given, as the zstd tarball
    ``CACHE/<name>.tar.zst``: built only when missing, under a lock (another run may be building it)."""
    tarball = CACHE / f"{name}.tar.zst"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not tarball.exists():
            with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
                root, partial = Path(tmp, "root"), Path(tmp, "root.tar.zst")
                root.mkdir()
                build(root)
                subprocess.run(
                    [
                        "tar",
                        "--create",
                        "--zstd",
                        "--numeric-owner",
                        "--xattrs",
                        "--xattrs-include=*",
                        "--acls",
                        "--file",
                        partial,
                        "--directory",
                        root,
                        ".",
                    ],
                    check=True,
                )
                partial.rename(tarball)
    return tarball
