"""Every hook the core calls, exercised through a real plugin distribution installed with pip.

The plugin ("tpm", ``ash_testing.plugins.TPM``) is a minimal package manager for the busybox test root:
its database is one file per package under /var/lib/tpm. It lets these tests check what the core does around the
hooks (which plugin is called, transactions, tree order, failure reports); the real package
managers are tested with their plugins (plugins/ash-apt, plugins/ash-pacman).
"""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path

import pytest
from ash_testing.cli import Ash
from ash_testing.plugins import TPM, env_with, make_plugin, pip_install
from ash_testing.snapshots import digest

from ashcore.fs import btrfs
from ashcore.hooks import specs as hookspecs


@pytest.fixture
def tpm(store, tmp_path, plugin_site):
    pip_install(make_plugin(tmp_path, "ash-tpm", "ash_tpm", TPM), plugin_site)
    env = env_with(plugin_site)

    def ash(*args, **kw):
        return store(*args, env=env, **kw)

    ash.store = store
    return ash


def packages_of(ash, sid: int) -> dict[str, str]:
    return {p["name"]: p["version"] for p in json.loads(ash("list", str(sid), "--json").stdout)}


def test_hook_ash_package_manager(tpm):
    records = {r["name"]: r for r in json.loads(tpm("plugins", "--json").stdout)}
    assert "ash_package_manager" in records["tpm"]["hooks"]
    tpm("clone", "0")
    tpm("install", "1", "x")  # the core found the plugin through the snapshot's os-release


def test_hook_ash_bootstrap(sysroot, tmp_path, plugin_site):
    pip_install(make_plugin(tmp_path, "ash-tpm", "ash_tpm", TPM), plugin_site)
    ash = Ash(sysroot)
    ash(
        "init",
        "--bootstrap",
        "testos",
        "--release",
        "r1",
        "--mirror",
        "http://m",
        "--include",
        "a",
        "--include",
        "b",
        env=env_with(plugin_site),
    )
    options = json.loads((ash.snapshot(0) / "etc/bootstrap.json").read_text())
    assert options == {"release": "r1", "mirror": "http://m", "variant": None, "packages": ["a", "b"]}
    assert ash.tree_json()["distro"] == "testos"
    assert btrfs.is_readonly(ash.snapshot(0))


def test_hook_ash_install(tpm):
    tpm("clone", "0")
    tpm("install", "1", "vim", "a;b$(c)")
    assert packages_of(tpm, 1) == {"vim": "1.0", "a;b$(c)": "1.0"}
    assert btrfs.is_readonly(tpm.store.snapshot(1))
    refused = tpm("install", "0", "vim", check=False)
    assert refused.returncode == 2 and "base" in refused.stderr
    for bad in ("-o", "two words", ""):
        out = tpm("install", "1", "--", bad, check=False)
        assert out.returncode == 2 and "invalid package name" in out.stderr


def test_failed_install_changes_nothing(tpm):
    tpm("clone", "0")
    tpm("install", "1", "vim")
    before = digest(tpm.store.snapshot(1))
    out = tpm("install", "1", "emacs", "broken", check=False)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("ash: error: 'sh' exited with status 1")
    assert digest(tpm.store.snapshot(1)) == before


def test_hook_ash_remove(tpm):
    tpm("clone", "0")
    tpm("install", "1", "vim", "emacs")
    tpm("remove", "1", "vim")
    assert packages_of(tpm, 1) == {"emacs": "1.0"}


def test_hook_ash_upgrade(tpm):
    tpm("clone", "0")
    tpm("install", "1", "vim")
    tpm("upgrade", "1")
    assert packages_of(tpm, 1) == {"vim": "2.0"}
    tpm("base-update")  # the one way to change snapshot 0
    assert packages_of(tpm, 0) == {}
    assert btrfs.is_readonly(tpm.store.snapshot(0))


def test_hook_ash_refresh(tpm):
    tpm("clone", "0")
    tpm("refresh", "1")
    assert (tpm.store.snapshot(1) / "var/lib/tpm.refreshed").exists()


def test_hook_ash_list_packages(tpm):
    tpm("clone", "0")
    tpm("install", "1", "vim")
    assert tpm("list", "1").stdout == "vim 1.0\n"
    tpm("clone", "1")
    tpm("remove", "2", "vim")
    tpm("install", "2", "emacs")
    tpm("upgrade", "1")
    tpm("install", "1", "nano")
    tpm("install", "2", "nano")
    assert tpm("diff", "1", "2").stdout == "+ emacs 1.0\n- vim 2.0\n"
    tpm("upgrade", "1")
    assert tpm("diff", "2", "1").stdout == "+ vim 2.0\n- emacs 1.0\n~ nano 1.0 -> 2.0\n"
    assert json.loads(tpm("diff", "2", "1", "--json").stdout) == {
        "added": [{"name": "vim", "version": "2.0", "explicit": True}],
        "removed": [{"name": "emacs", "version": "1.0", "explicit": True}],
        "changed": [{"name": "nano", "from": "1.0", "to": "2.0"}],
        "profiles": {"added": [], "removed": []},
    }


def test_hook_ash_sync(tpm):
    """sync: three levels with siblings; every descendant once, parents before children."""
    tpm("clone", "0")  # 1
    tpm("branch", "1")  # 2 under 1
    tpm("branch", "1")  # 3 under 1
    tpm("branch", "2")  # 4 under 2
    tpm("install", "1", "base-tools")
    tpm("install", "2", "editor")
    out = tpm("force-sync", "1")
    assert "done in 2, 3, 4" in out.stdout
    assert packages_of(tpm, 2) == {"base-tools": "1.0", "editor": "1.0"}
    assert packages_of(tpm, 3) == {"base-tools": "1.0"}
    assert packages_of(tpm, 4) == {"base-tools": "1.0", "editor": "1.0"}, "4 gets 2's packages, 2 got 1's first"
    tpm("install", "1", "late")
    tpm("sync", "1")  # upgrades the whole tree first, then syncs
    assert packages_of(tpm, 4) == {"base-tools": "2.0", "editor": "2.0", "late": "2.0"}


def test_sync_leaves_a_failed_snapshot_as_it_was(tpm):
    """The upgrade and the sync of a snapshot are one transaction: no half-synced snapshot."""
    tpm("clone", "0")  # 1
    tpm("branch", "1")  # 2
    tpm("install", "2", "vim")
    tpm("run", "1", "sh", "-c", "mkdir -p /var/lib/tpm && echo 1.0 > /var/lib/tpm/broken")  # cannot be synced
    before = digest(tpm.store.snapshot(2))
    out = tpm("sync", "1", check=False)
    assert out.returncode == 1 and "sync: done in 1\n" in out.stdout and "FAILED in 2" in out.stderr
    assert packages_of(tpm, 1) == {"broken": "2.0"}
    assert digest(tpm.store.snapshot(2)) == before, "not upgraded either"


def test_tree_operations_report_partial_failure(tpm):
    tpm("clone", "0")  # 1
    tpm("branch", "1")  # 2
    tpm("branch", "1")  # 3
    tpm("branch", "1")  # 4
    tpm("install", "1", "vim")
    tpm("force-sync", "1")
    tpm("remove", "3", "vim")
    tpm("mutable", "4")
    subprocess.run(["chattr", "+i", tpm.store.snapshot(4) / "var/lib/tpm/vim"], check=True)  # its removal fails
    before = {sid: digest(tpm.store.snapshot(sid)) for sid in (3, 4)}
    out = tpm("tree-rmpkg", "1", "vim", check=False)
    assert out.returncode == 1
    assert "tree-rmpkg: done in 1, 2" in out.stdout
    assert "tree-rmpkg: skipped 3 (snapshot 3 has none of vim installed)" in out.stdout
    assert "FAILED in 4" in out.stderr
    assert "failed in snapshot(s) 4; the others were done" in out.stderr
    assert packages_of(tpm, 1) == {} and packages_of(tpm, 2) == {}
    assert {sid: digest(tpm.store.snapshot(sid)) for sid in (3, 4)} == before
    out = tpm("remove", "3", "vim", check=False)
    assert out.returncode == 1 and out.stderr.splitlines()[0] == "ash: error: snapshot 3 has none of vim installed"
    tpm("install", "2", "nano")
    tpm("tree-upgrade", "1")
    assert packages_of(tpm, 2) == {"nano": "2.0"}
    out = tpm("tree-run", "1", "sh", "-c", 'test "$ASH_SNAPSHOT" != 2 && touch /ran', check=False)
    assert out.returncode == 1 and "FAILED in 2" in out.stderr
    assert (tpm.store.snapshot(1) / "ran").exists() and (tpm.store.snapshot(3) / "ran").exists()
    assert not (tpm.store.snapshot(2) / "ran").exists()


def hook_names() -> list[str]:
    return sorted(n for n in dir(hookspecs) if n.startswith("ash_"))


@pytest.mark.parametrize("name", hook_names())
def test_every_hook_is_documented_and_tested(name):
    """Each hook says when it fires, what it gets and returns, and has a test_hook_<name> somewhere."""
    doc = getattr(hookspecs, name).__doc__ or ""
    assert len(doc.split()) >= 15, f"{name} needs a real docstring"
    root = Path(__file__).resolve().parents[1]
    tests = [*root.glob("tests/test_*.py"), *root.glob("plugins/*/tests/test_*.py")]
    defined = {
        node.name
        for path in tests
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef)
    }
    assert f"test_hook_{name}" in defined, f"no test_hook_{name} in tests/ or plugins/*/tests/"
