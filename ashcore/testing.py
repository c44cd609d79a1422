"""pytest fixtures for testing ash and its plugins against real btrfs (opt in with
``pytest_plugins = ["ashcore.testing"]``).

Tests that need root, btrfs or loop devices use :func:`require`: they skip on a developer machine
that lacks them, and *fail* when ``CI`` is set, so CI can never pass by skipping.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

ASH = [sys.executable, "-m", "ashcore"]
_counter = itertools.count()


def require(condition: bool, reason: str) -> None:
    """Skip (or, under CI, fail) the current test unless ``condition`` holds."""
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


def require_root_tools(*tools: str) -> None:
    require(os.geteuid() == 0, "needs root")
    for tool in ("btrfs", "mkfs.btrfs", "losetup", *tools):
        require(shutil.which(tool) is not None, f"needs {tool}")


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` in this process's mount namespace."""
    prefix = os.fspath(path)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


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


def delete_subvolume_tree(path: Path) -> None:
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
    delete_subvolume_tree(path)
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


class Ash:
    """Runs the real ``ash`` CLI in a subprocess against one sysroot."""

    def __init__(self, sysroot: Path) -> None:
        self.sysroot = sysroot

    @property
    def store(self) -> Path:
        return self.sysroot / ".snapshots"

    def snapshot(self, sid: int) -> Path:
        return self.store / "rootfs" / f"snapshot-{sid}"

    def argv(self, *args: str) -> list[str]:
        return [*ASH, "--sysroot", os.fspath(self.sysroot), *map(os.fspath, args)]

    def __call__(
        self, *args: str, check: bool = True, input: str | None = None, env: dict | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self.argv(*args),
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"ash {' '.join(map(str, args))} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def popen(self, *args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*args), env={**os.environ, **(env or {})}, text=True, **kwargs)

    def tree_json(self) -> dict:
        import json

        return json.loads(self("tree", "--json").stdout)

    def ids(self) -> set[int]:
        def walk(nodes: Sequence[dict]) -> Iterator[int]:
            for n in nodes:
                yield n["id"]
                yield from walk(n["children"])

        return set(walk(self.tree_json()["tree"]))


@pytest.fixture
def ash(sysroot: Path) -> Ash:
    return Ash(sysroot)


@pytest.fixture
def store(ash: Ash, busybox_root: Path) -> Ash:
    """A store whose base snapshot 0 is the busybox root."""
    ash("init", "--from", busybox_root)
    return ash


def digest(root: Path) -> dict[str, str]:
    """Every path below ``root`` with its type, mode and (for files) content hash: equal digests
    mean bit-identical trees."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = path.lstat()
            rel = os.fspath(path.relative_to(root))
            if path.is_symlink():
                out[rel] = f"link {os.readlink(path)}"
            elif path.is_file():
                out[rel] = f"file {st.st_mode:o} {st.st_uid}:{st.st_gid} {hashlib.sha256(path.read_bytes()).hexdigest()}"
            else:
                out[rel] = f"dir {st.st_mode:o} {st.st_uid}:{st.st_gid}"
    return out


def make_plugin(where: Path, dist: str, module: str, code: str, extra_files: dict[str, str] | None = None) -> Path:
    """Write the source of a distribution ``dist`` whose ``ash.plugins`` entry point is ``module``."""
    src = where / f"src-{dist}"
    (src / module).mkdir(parents=True)
    (src / "pyproject.toml").write_text(
        textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "{dist}"
        version = "1.2.3"
        [project.entry-points."ash.plugins"]
        {module.removeprefix("ash_")} = "{module}"
        [tool.setuptools]
        packages = ["{module}"]
        """)
    )
    (src / module / "__init__.py").write_text(textwrap.dedent(code))
    for name, text in (extra_files or {}).items():
        (src / module / name).write_text(textwrap.dedent(text))
    return src


def pip_install(src: Path, target: Path) -> None:
    """Really build and install a distribution, into a directory that ash then imports plugins from."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps",
         "--disable-pip-version-check", "--target", target, src],
        check=True, capture_output=True,
    )  # fmt: skip


@pytest.fixture
def plugin_site(tmp_path: Path) -> Path:
    """A directory on the tested ash's ``PYTHONPATH`` for plugins installed by the test."""
    require(subprocess.run([sys.executable, "-c", "import setuptools"]).returncode == 0, "needs setuptools")
    path = tmp_path / "site"
    path.mkdir()
    return path


def env_with(site: Path, **extra: str) -> dict:
    """Environment for ``Ash`` calls that see the plugins in ``site``."""
    return {"PYTHONPATH": os.fspath(site), **extra}


#: A minimal package-manager plugin for the busybox test root (``ID=testos``): one file per package
#: under /var/lib/tpm, holding its version. A stand-in for apt or pacman where a test is about the
#: core around the package hooks; install it with ``make_plugin(..., TPM)`` and ``pip_install``.
TPM = """\
    import json
    from ashcore.api import hookimpl
    from ashcore.api import Package, PackageManagerInfo

    DB = "/var/lib/tpm"

    @hookimpl
    def ash_package_manager():
        return PackageManagerInfo(name="tpm", distros=("testos",), state_paths=("var/lib/tpm",))

    @hookimpl
    def ash_bootstrap(target, options):
        (target / "etc").mkdir()
        (target / "etc/os-release").write_text("ID=testos\\n")
        (target / "etc/bootstrap.json").write_text(json.dumps(
            {"release": options.release, "mirror": options.mirror, "variant": options.variant,
             "packages": list(options.packages)}))

    def _put(chroot, packages, version):
        chroot.run(["mkdir", "-p", DB])
        for p in packages:
            # the package name travels as an argument of the shell, never as part of its script
            chroot.run(["sh", "-c", 'test "$1" != broken && echo "$2" > "/var/lib/tpm/$1"', "sh", p, version])

    @hookimpl
    def ash_install(chroot, packages):
        _put(chroot, packages, "1.0")

    @hookimpl
    def ash_remove(chroot, packages):
        chroot.run(["rm", *(DB + "/" + p for p in packages)])

    @hookimpl
    def ash_upgrade(chroot):
        chroot.run(["sh", "-c", 'for f in /var/lib/tpm/*; do [ -e "$f" ] && echo 2.0 > "$f"; done; true'])

    @hookimpl
    def ash_refresh(chroot):
        chroot.run(["touch", "/var/lib/tpm.refreshed"])

    @hookimpl
    def ash_list_packages(root):
        db = root / DB.lstrip("/")
        return [Package(p.name, p.read_text().strip()) for p in db.iterdir()] if db.is_dir() else []

    @hookimpl
    def ash_sync(chroot, parent, packages):
        for p in packages:
            _put(chroot, [p.name], p.version)
"""
