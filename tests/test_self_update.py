"""``ash self-update`` (and the installer's step that puts ash into snapshot 0), on real snapshots that
can run it: ash is copied from the installation that runs, never fetched from an index.

The snapshots are the busybox root plus the host's Debian python3 of the tested ash's minor version
(and the libraries it loads), so the copied ash really runs there. The booted proof is in test_boot.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest
from ash_testing.require import require
from ash_testing.roots import copy_programs
from ash_testing.snapshots import digest

from ashcore.install.selfcopy import LAUNCHER

REPO = Path(__file__).resolve().parents[1]
PYTHON = Path("/usr/bin/python{}.{}".format(*sys.version_info))
#: pip configured with nothing but an index where nothing answers
OFFLINE = {
    "PIP_CONFIG_FILE": os.devnull,
    "PIP_INDEX_URL": "http://127.0.0.1:9/",
    "PIP_EXTRA_INDEX_URL": "",
    "PIP_FIND_LINKS": "",
}


@pytest.fixture(scope="session")
def python_root(busybox_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox root with the host's python3 (same minor version as the tested ash), its standard
    library and every shared library it and its extension modules load."""
    require(PYTHON.is_file(), f"needs {PYTHON}")
    root = tmp_path_factory.mktemp("python-root") / "root"
    shutil.copytree(busybox_root, root, symlinks=True)
    stdlib = Path("/usr/lib", PYTHON.name)
    shutil.copytree(stdlib, root / stdlib.relative_to("/"), symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    copy_programs(root, PYTHON, *(stdlib / "lib-dynload").glob("*.so"))
    (root / "usr/bin/python3").symlink_to(PYTHON.name)
    return root


@pytest.fixture(scope="module")
def installed_ash(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ash, ash-apt and ash-grub installed NOT editable into a new venv without pip, offline: wheels
    built from copies of this checkout. The dependencies are the tested environment's (not its ash
    nor pip), seen through a .pth file. Returns the venv's site directory."""
    require(
        subprocess.run([sys.executable, "-c", "import setuptools, wheel"]).returncode == 0, "needs setuptools and wheel"
    )
    where = tmp_path_factory.mktemp("installed-ash")
    sources = []
    for project, package in (
        (REPO, "ashcore"),
        (REPO / "plugins/ash-apt", "ash_apt"),
        (REPO / "plugins/ash-grub", "ash_grub"),
    ):
        src = where / "src" / package
        shutil.copytree(project / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(project / name, src)
        sources.append(src)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-index", "--no-build-isolation", "--wheel-dir", where / "wheels", *sources],
        check=True,
        capture_output=True,
    )
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    subprocess.run(
        [
            *pip,
            "--python",
            venv / "bin/python",
            "install",
            "--no-deps",
            "--no-index",
            *(where / "wheels").glob("*.whl"),
        ],
        check=True,
        capture_output=True,
    )
    site = venv / "lib" / PYTHON.name / "site-packages"
    dependencies = where / "dependencies"
    dependencies.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(("ash", "__editable__", "pip")):
            (dependencies / entry.name).symlink_to(entry)
    (site / "dependencies.pth").write_text(f"{dependencies}\n")
    return site


def files(directory: Path) -> dict[str, bytes]:
    """Every file below ``directory`` with its content, bytecode caches aside."""
    return {
        os.fspath(p.relative_to(directory)): p.read_bytes()
        for p in directory.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_self_update_copies_the_installed_ash_without_an_index(ash, python_root, installed_ash, tmp_path):
    """From an ash installed from wheels, as on an installed system: ashcore and the plugins are copied
    file by file with their dependencies; an index that does not answer does not matter, and the
    copy can update another snapshot in turn."""
    ash("init", "--from", python_root)
    sid = ash("clone", "0").stdout.strip()
    ash("run", sid, "mkdir", "-p", "/usr/lib/ash/site")
    ash("run", sid, "touch", "/usr/lib/ash/site/stale.py")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | OFFLINE
    argv = [installed_ash.parents[2] / "bin/ash", "--sysroot", ash.sysroot, "self-update", sid]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert out.returncode == 0 and out.stdout == f"self-update: snapshot {sid} has ash 0.1.0\n", out
    site = ash.snapshot(int(sid)) / "usr/lib/ash/site"
    assert not (site / "stale.py").exists()
    assert files(site / "ashcore") == files(installed_ash / "ashcore")
    assert files(site / "ash_grub") == files(installed_ash / "ash_grub")
    copied = {p.name.split("-")[0] for p in site.glob("*.dist-info")}
    assert {"ashcore", "ash_grub", "typer", "pluggy", "attrs", "rich"} <= copied
    assert not copied & {"ash_apt", "pip", "setuptools"}  # apt does not manage testos; no pip is needed
    assert not (site / "ashcore-0.1.0.dist-info/direct_url.json").exists()
    assert (site / "ashcore/__pycache__").is_dir()  # compiled by the snapshot's python3
    assert ash("run", sid, "ash", "--version").stdout == "ash 0.1.0\n"
    timer = ash.snapshot(int(sid)) / "usr/lib/systemd/system/ash-auto-upgrade.timer"
    assert "OnCalendar=daily" in timer.read_text(), "the automatic update's units come with ash"
    assert not (ash.snapshot(int(sid)) / "etc/systemd/system/timers.target.wants").exists(), "only setup enables it"
    assert (ash.snapshot(int(sid)) / "usr/share/man/man8/ash.8").read_text().startswith(".TH ASH 8 ")
    assert "complete -F _ash ash" in (ash.snapshot(int(sid)) / "usr/share/bash-completion/completions/ash").read_text()
    # that copy, run by the host's system python3 as an installed system runs it, updates a snapshot too
    again = ash("clone", "0").stdout.strip()
    launcher = f"import sys; sys.path.insert(0, {os.fspath(site)!r}); from ashcore.cli.main import main; main()"
    argv = [PYTHON, "-I", "-B", "-c", launcher, "--sysroot", ash.sysroot, "self-update", again]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out
    assert files(ash.snapshot(int(again)) / "usr/lib/ash/site") == files(site)


def test_self_update_from_a_checkout(ash, python_root):
    """The tested ash is an editable install of this checkout: its packages come from the sources."""
    ash("init", "--from", python_root)
    sid = ash("clone", "0").stdout.strip()
    ash("self-update", sid, env=OFFLINE)
    site = ash.snapshot(int(sid)) / "usr/lib/ash/site"
    assert files(site / "ashcore") == files(REPO / "ashcore")
    info = site / "ashcore-0.1.0.dist-info"
    assert "ashcore/cli/main.py,," in (info / "RECORD").read_text().splitlines()  # what the next self-update copies
    assert not (info / "direct_url.json").exists() and not list(site.glob("__editable__*"))
    assert ash("run", sid, "ash", "--version").stdout == "ash 0.1.0\n"
    timer = ash.snapshot(int(sid)) / "usr/lib/systemd/system/ash-auto-upgrade.timer"
    assert "OnCalendar=daily" in timer.read_text(), "the automatic update's units come with ash"
    assert not (ash.snapshot(int(sid)) / "etc/systemd/system/timers.target.wants").exists(), "only setup enables it"
    assert (ash.snapshot(int(sid)) / "usr/share/man/man8/ash.8").read_text().startswith(".TH ASH 8 ")
    assert "complete -F _ash ash" in (ash.snapshot(int(sid)) / "usr/share/bash-completion/completions/ash").read_text()


def test_self_update_copies_only_runtime_code(ash, python_root):
    """The tested environment also holds ash-testing and pytest (installed like ashcore, from this
    checkout): neither lands on the system, nor any test module, and ashcore's metadata asks for neither."""
    assert not [r for r in metadata.requires("ashcore") or () if re.match(r"ash[-_]testing|pytest", r)]
    ash("init", "--from", python_root)
    sid = ash("clone", "0").stdout.strip()
    ash("self-update", sid, env=OFFLINE)
    site = ash.snapshot(int(sid)) / "usr/lib/ash/site"
    names = {p.name.split("-")[0] for p in site.iterdir()}
    assert {"ashcore", "ash_grub"} <= names  # testos needs no package manager plugin, and ash-grub deploys
    assert not names & {"ash_testing", "ash_apt", "ash_pacman", "pytest", "_pytest", "iniconfig"}, sorted(names)
    ours = [p for package in ("ashcore", "ash_grub") for p in (site / package).rglob("*.py")]
    assert not [p for p in ours if p.name in ("testing.py", "qemu.py") or "tests" in p.parts]


def test_self_update_writes_through_links_only_inside_the_snapshot(ash, python_root, tmp_path):
    """A snapshot whose /usr/lib/ash and /usr/bin/ash are absolute links to host paths: the host
    paths are not touched; ash lands where the links lead inside the snapshot."""
    host_dir, host_file = tmp_path / "host-dir", tmp_path / "host-file"
    (host_dir / "site").mkdir(parents=True)
    (host_dir / "site/mine.py").write_text("the host's\n")
    host_file.write_text("the host's\n")
    before = digest(tmp_path)
    ash("init", "--from", python_root)
    sid = ash("clone", "0").stdout.strip()
    ash("run", sid, "busybox", "ln", "-s", host_dir, "/usr/lib/ash")
    ash("run", sid, "busybox", "ln", "-s", host_file, "/usr/bin/ash")
    ash("self-update", sid)
    assert digest(tmp_path) == before
    snapshot = ash.snapshot(int(sid))
    assert (snapshot / "usr/lib/ash").is_symlink() and (snapshot / "usr/bin/ash").is_symlink()
    assert (snapshot / host_dir.relative_to("/") / "site/ashcore/cli/main.py").is_file()
    assert not (snapshot / host_dir.relative_to("/") / "site/mine.py").exists()
    assert (snapshot / host_file.relative_to("/")).read_text() == LAUNCHER


def test_self_update_needs_the_same_python(store):
    """A snapshot whose python3 is another minor version is refused in one line, and left as it was."""
    sid = store("clone", "0").stdout.strip()
    store("run", sid, "mkdir", "-p", "/usr/bin")
    store("run", sid, "touch", "/usr/bin/python3.99")
    store("run", sid, "busybox", "ln", "-s", "python3.99", "/usr/bin/python3")
    before = digest(store.snapshot(int(sid)))
    out = store("self-update", sid, check=False)
    running = "{}.{}".format(*sys.version_info)
    assert out.returncode == 1 and out.stderr.splitlines()[0] == (
        f"ash: error: the target has Python 3.99, but this ash runs on Python {running}"
    ), out.stderr
    assert digest(store.snapshot(int(sid))) == before
