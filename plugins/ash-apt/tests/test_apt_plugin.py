"""The apt plugin against real apt and dpkg, in real chroots of real btrfs snapshots, through the
real ``ash`` CLI. Fixtures (the Debian root, the repository) are in this directory's conftest.py."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from ash_apt import dpkgdb, plugin
from ash_testing.cli import error_lines
from ash_testing.snapshots import fingerprint

from ashcore.api import Package
from ashcore.errors import UsageError
from ashcore.fs import btrfs
from ashcore.sandbox.chroot import Chroot


def dpkg_status(root: Path) -> dict[str, tuple[str, str]]:
    """{package: (version, status)} as dpkg itself reads the snapshot's database."""
    out = subprocess.run(
        [
            "dpkg-query",
            f"--admindir={root}/var/lib/dpkg",
            "--show",
            "--showformat=${Package} ${Version} ${db:Status-Abbrev}\n",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {
        name: (version, abbrev.strip()) for name, version, abbrev in (line.split(" ", 2) for line in out.splitlines())
    }


def installed(root: Path) -> dict[str, str]:
    return {name: version for name, (version, abbrev) in dpkg_status(root).items() if abbrev == "ii"}


def listed(ash, sid: int) -> dict[str, dict]:
    return {p["name"]: p for p in json.loads(ash("list", str(sid), "--json").stdout)}


def test_list_matches_dpkg(debian):
    base = debian.snapshot(0)
    packages = listed(debian, 0)
    assert {name: p["version"] for name, p in packages.items()} == installed(base)
    assert "apt" in packages and "dpkg" in packages
    assert all(p["explicit"] for p in packages.values()), "debootstrap marks nothing as automatic"
    assert debian.tree_json()["distro"] == "debian"
    text = debian("list", "0").stdout.splitlines()
    assert f"dpkg {packages['dpkg']['version']}" in text


STATUS = """\
Package: dpkg
Status: install ok installed
Architecture: amd64
Version: 1.21.22
Conffiles:
 /etc/dpkg/dpkg.cfg f4413ffb515f8f753624ae3bb365b81b

Package: libc6
Status: hold ok installed
Architecture: amd64
Version: 2.36-9
Description: GNU C Library
 Status: not a field, a continuation line

Package: libc6
Status: install ok installed
Architecture: i386
Version: 2.36-9

Package: gone
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: broken
Status: install reinstreq half-installed
Architecture: all
Version: 2.0

Package: docs
Status: install ok installed
Architecture: all
Version: 3.0
"""
EXTENDED_STATES = """\
Package: docs
Architecture: amd64
Auto-Installed: 1

Package: libc6
Architecture: i386
Auto-Installed: 1

Package: libc6
Architecture: amd64
Auto-Installed: 0
"""


def test_database_reading(tmp_path):
    """Held packages count, removed and half-installed ones do not; foreign ones carry their arch."""
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/apt").mkdir(parents=True)
    (tmp_path / dpkgdb.STATUS).write_text(STATUS)
    (tmp_path / dpkgdb.EXTENDED_STATES).write_text(EXTENDED_STATES)
    assert dpkgdb.installed(tmp_path) == [
        Package("dpkg", "1.21.22"),
        Package("libc6", "2.36-9"),
        Package("libc6:i386", "2.36-9", explicit=False),
        Package("docs", "3.0", explicit=False),
    ]
    (tmp_path / dpkgdb.EXTENDED_STATES).unlink()
    assert all(p.explicit for p in dpkgdb.installed(tmp_path))


def test_install_with_dependency(debian):
    debian("clone", "0")
    out = debian("install", "1", "fooapp")
    root = debian.snapshot(1)
    assert "Setting up fooapp (1.0)" in out.stdout, "apt's output reaches the user"
    assert (root / "usr/share/libfoo/version").read_text() == "1.0\n"
    assert (root / "usr/bin/fooapp").read_text().startswith("#!/bin/sh")
    assert installed(root)["fooapp"] == "1.0" and installed(root)["libfoo"] == "1.0"
    packages = listed(debian, 1)
    assert packages["fooapp"]["explicit"] and not packages["libfoo"]["explicit"]
    assert btrfs.is_readonly(root)
    assert not list((root / "var/cache/apt/archives").glob("*.deb")), "no archives kept in the snapshot"
    assert not (root / "usr/sbin/policy-rc.d").exists()
    assert "fooapp" not in installed(debian.snapshot(0))
    assert debian("run", "1", "fooapp").stdout == "fooapp 1.0\n"


def test_remove_takes_unneeded_dependencies(debian):
    debian("clone", "0")
    debian("install", "1", "fooapp", "tinypkg")
    debian("remove", "1", "fooapp")
    root = debian.snapshot(1)
    assert "fooapp" not in installed(root) and "libfoo" not in installed(root)
    assert "tinypkg" in installed(root)
    assert not (root / "usr/bin/fooapp").exists() and not (root / "usr/share/libfoo/version").exists()
    assert set(listed(debian, 1)) == set(installed(root))


def test_upgrade_installs_new_versions_and_new_dependencies(debian, repo):
    debian("clone", "0")
    debian("install", "1", "fooapp")
    repo.publish_version_2()
    debian("upgrade", "1")
    root = debian.snapshot(1)
    assert installed(root)["fooapp"] == "2.0" and installed(root)["libfoo"] == "2.0"
    assert installed(root)["libbar"] == "1.0", "a real upgrade takes new dependencies (dist-upgrade)"
    assert (root / "usr/share/fooapp/version").read_text() == "2.0\n"


def test_refresh_fetches_indexes_only(debian, repo):
    debian("clone", "0")
    debian("install", "1", "fooapp")
    repo.publish_version_2()
    debian("refresh", "1")
    root = debian.snapshot(1)
    assert installed(root)["fooapp"] == "1.0"
    indexes = "".join(p.read_text() for p in (root / "var/lib/apt/lists").glob("*_Packages"))
    assert "Version: 2.0" in indexes


def test_unreachable_repository_fails_the_refresh(debian, repo):
    debian("clone", "0")
    before = fingerprint(debian.snapshot(1))
    repo.server.stop()
    assert "Failed to fetch" in debian.fail("refresh", "1")
    assert fingerprint(debian.snapshot(1)) == before


def test_base_update_is_the_way_to_change_the_base(debian):
    assert debian("install", "0", "tinypkg", check=False).returncode == 2
    before = fingerprint(debian.snapshot(0))
    debian("base-update")
    after = fingerprint(debian.snapshot(0))
    assert after["readonly"] and after["uuid"] != before["uuid"]
    assert list((debian.snapshot(0) / "var/lib/apt/lists").glob("127.0.0.1*_Packages"))


def test_diff_between_snapshots(debian, repo):
    debian("clone", "0")
    debian("install", "1", "fooapp", "tinypkg")
    debian("clone", "1")
    repo.publish_version_2()
    debian("remove", "2", "tinypkg")
    debian("install", "2", "redpkg")
    debian("upgrade", "2")
    diff = json.loads(debian("diff", "1", "2", "--json").stdout)
    assert [p["name"] for p in diff["added"]] == ["libbar", "redpkg"]
    assert [p["name"] for p in diff["removed"]] == ["tinypkg"]
    assert diff["changed"] == [
        {"name": "fooapp", "from": "1.0", "to": "2.0"},
        {"name": "libfoo", "from": "1.0", "to": "2.0"},
    ]
    text = debian("diff", "1", "2").stdout.splitlines()
    assert "+ redpkg 1.0" in text and "- tinypkg 1.0" in text and "~ fooapp 1.0 -> 2.0" in text


PARENT_OF = {2: 1, 3: 1, 4: 2, 5: 3}


def make_tree(ash) -> None:
    """1 ─┬─ 2 ── 4      and 6, a separate tree. All but 6 have the repository's indexes, and each
    └─ 3 ── 5      snapshot's apt names it in its User-Agent (the server records who asked)."""
    ash("clone", "0")  # 1
    ash("refresh", "1")
    ash("branch", "1")  # 2
    ash("branch", "1")  # 3
    ash("branch", "2")  # 4
    ash("branch", "3")  # 5
    ash("clone", "0")  # 6
    for sid in range(1, 7):
        ash(
            "run",
            str(sid),
            "tee",
            "/etc/apt/apt.conf.d/99ash-test",
            input=f'Acquire::http::User-Agent "snapshot-{sid}";\n',
        )


def assert_parents_first(order: list[int], parent_of: dict[int, int]) -> None:
    for child, parent in parent_of.items():
        if child in order and parent in order:
            assert order.index(parent) < order.index(child), order


def test_sync_three_levels(debian, repo):
    make_tree(debian)
    debian("install", "1", "fooapp")
    debian("install", "2", "tinypkg")
    debian("install", "3", "redpkg")
    repo.publish_version_2()
    repo.server.requests.clear()
    out = debian("sync", "1")
    upgraded = repo.server.visits("/Release")
    assert sorted(upgraded) == [1, 2, 3, 4, 5], "the upgrade visits every snapshot of the tree once"
    assert_parents_first(upgraded, PARENT_OF)
    assert sorted(repo.server.visits("fooapp_2.0_all.deb")) == [1, 2, 3, 4, 5]
    assert_parents_first(repo.server.visits("fooapp_2.0_all.deb"), PARENT_OF)
    expected = {
        1: {"fooapp"},
        2: {"fooapp", "tinypkg"},
        3: {"fooapp", "redpkg"},
        4: {"fooapp", "tinypkg"},
        5: {"fooapp", "redpkg"},
    }
    for sid, names in expected.items():
        have = installed(debian.snapshot(sid))
        assert {n for n in ("fooapp", "tinypkg", "redpkg") if n in have} == names, sid
        assert have["fooapp"] == "2.0" and have["libbar"] == "1.0", sid
    assert "fooapp" not in installed(debian.snapshot(6)), "outside the tree"
    assert "sync: done in 1, 2, 3, 4, 5" in out.stdout


def test_force_sync_does_not_upgrade(debian, repo):
    make_tree(debian)
    debian("install", "1", "fooapp")
    debian("install", "2", "tinypkg")
    repo.publish_version_2()
    repo.server.requests.clear()
    debian("force-sync", "1")
    assert repo.server.visits("/Release") == [], "no index was refreshed"
    for sid in (2, 3, 4, 5):
        assert installed(debian.snapshot(sid))["fooapp"] == "1.0", sid
    assert "tinypkg" in installed(debian.snapshot(4)) and "tinypkg" not in installed(debian.snapshot(5))
    assert installed(debian.snapshot(1))["fooapp"] == "1.0"


@pytest.mark.parametrize("command", ["sync", "force-sync"])
def test_sync_never_removes_a_childs_own_package(debian, command):
    """1 ─┬─ 2 (bluepkg)   1's redpkg conflicts with 2's own bluepkg: apt must refuse to remove
    └─ 3             bluepkg, so 2 fails and stays as it was, while 3 gets redpkg."""
    debian("clone", "0")  # 1
    debian("install", "1", "tinypkg")
    debian("branch", "1")  # 2
    debian("branch", "1")  # 3
    debian("install", "2", "bluepkg")
    debian("install", "1", "redpkg")
    before = fingerprint(debian.snapshot(2))
    out = debian(command, "1", check=False)
    assert out.returncode == 1
    assert f"{command}: FAILED in 2: 'apt-get' exited with status 100: " in out.stderr
    assert "bluepkg" in error_lines(out)[0], "apt's reason names the package it would remove"
    assert error_lines(out)[-1] == f"ash: error: {command} failed in snapshot(s) 2; the others were done"
    assert installed(debian.snapshot(2))["bluepkg"] == "1.0" and "redpkg" not in installed(debian.snapshot(2))
    assert fingerprint(debian.snapshot(2)) == before
    assert installed(debian.snapshot(3))["redpkg"] == "1.0"


def test_tree_upgrade_and_tree_rmpkg(debian, repo):
    make_tree(debian)
    for sid in (1, 2, 3, 4, 5, 6):
        debian("install", str(sid), "fooapp")
    repo.publish_version_2()
    repo.server.requests.clear()
    debian("tree-upgrade", "2")
    assert repo.server.visits("/Release") == [2, 4]
    assert {sid: installed(debian.snapshot(sid))["fooapp"] for sid in range(1, 7)} == {
        1: "1.0",
        2: "2.0",
        3: "1.0",
        4: "2.0",
        5: "1.0",
        6: "1.0",
    }
    debian("tree-rmpkg", "1", "fooapp")
    for sid in range(1, 6):
        assert "fooapp" not in installed(debian.snapshot(sid)) and "libfoo" not in installed(debian.snapshot(sid)), sid
    assert "fooapp" in installed(debian.snapshot(6))


def test_tree_operation_with_one_failure(debian, repo):
    make_tree(debian)
    for sid in (1, 2, 3):
        debian("install", str(sid), "fooapp")
    debian("install", "3", "tinypkg")
    repo.add("tinypkg", "2.0", postinst="echo 'tinypkg 2.0: broken upgrade' >&2; exit 3")
    repo.publish_version_2()
    before = fingerprint(debian.snapshot(3))
    out = debian("tree-upgrade", "1", check=False)
    assert out.returncode != 0
    assert "tree-upgrade: done in 1, 2, 4, 5" in out.stdout
    assert "tree-upgrade: FAILED in 3: " in out.stderr and "post-installation script" in out.stderr
    assert error_lines(out)[-1] == "ash: error: tree-upgrade failed in snapshot(s) 3; the others were done"
    assert fingerprint(debian.snapshot(3)) == before, "the failed snapshot is untouched"
    assert installed(debian.snapshot(2))["fooapp"] == "2.0"


def test_failing_maintainer_script_leaves_snapshot_identical(debian):
    debian("clone", "0")
    debian("install", "1", "tinypkg")
    before = fingerprint(debian.snapshot(1))
    out = debian("install", "1", "failpkg", check=False)
    assert out.returncode == 1
    assert "failpkg: refusing to configure" in out.stderr, "the script's own output reaches the user"
    assert error_lines(out) == [
        "ash: error: 'apt-get' exited with status 100: error processing package failpkg (--configure): "
        "installed failpkg package post-installation script subprocess returned error exit status 1"
    ]
    assert fingerprint(debian.snapshot(1)) == before
    assert sorted(p.name for p in (debian.store / "rootfs").iterdir()) == ["snapshot-0", "snapshot-1"]


@pytest.mark.parametrize(
    "names, reason",
    [
        (["nosuchpkg"], "Unable to locate package nosuchpkg"),
        (["redpkg", "bluepkg"], "redpkg : Conflicts: bluepkg but 1.0 is to be installed"),
    ],
)
def test_impossible_install_gives_one_line_and_changes_nothing(debian, names, reason):
    debian("clone", "0")
    before = fingerprint(debian.snapshot(1))
    assert debian.fail("install", "1", *names, status=1) == f"ash: error: 'apt-get' exited with status 100: {reason}"
    assert fingerprint(debian.snapshot(1)) == before


HOSTILE = [
    "foo;touch /pwned",
    "$(touch /pwned)",
    "`touch /pwned`",
    "x|touch${IFS}/pwned",
    "$(id)",
    "-o=APT::x",
    "--option=Dir::Etc::sourcelist=/pwned",
    "fooapp-",
    "../../pwned.deb",
    "foo\ntouch /pwned",
]


def test_shell_metacharacters_are_never_interpreted(debian):
    debian("clone", "0")
    debian("install", "1", "fooapp")
    before = fingerprint(debian.snapshot(1))
    for name in HOSTILE:
        assert "invalid package name" in debian.fail("install", "1", "--", name, status=2), name
        out = debian("remove", "1", "--", name, check=False)  # the core refuses first: none is installed
        assert out.returncode in (1, 2) and len(error_lines(out)) == 1, (name, out.stderr)
    with pytest.raises(UsageError, match="invalid package name 'tinypkg[+]'"):  # '+' would mean "install"
        plugin.ash_remove(Chroot(root=debian.snapshot(1), snapshot=1), ["tinypkg+"])
    assert fingerprint(debian.snapshot(1)) == before
    assert not any(Path(p).exists() for p in ("/pwned", "/pwned.deb"))
    found = subprocess.run(["find", debian.sysroot, "-name", "pwned*"], check=True, capture_output=True, text=True)
    assert found.stdout == ""


def test_services_are_not_started(debian):
    debian("clone", "0")
    debian("install", "1", "svcpkg")
    root = debian.snapshot(1)
    assert (root / "usr/share/svcpkg/policy-rc.d-said").read_text() == "101\n"
    assert not (root / "usr/sbin/policy-rc.d").exists(), "the policy never reaches the snapshot"
    debian("clone", "0")
    own = "#!/bin/sh\nexit 0\n"
    debian("run", "2", "install", "-m", "755", "/dev/stdin", "/usr/sbin/policy-rc.d", input=own)
    debian("install", "2", "svcpkg")
    assert (debian.snapshot(2) / "usr/sbin/policy-rc.d").read_text() == own, "a snapshot's own policy stays"
    assert not (debian.snapshot(2) / "usr/share/svcpkg/policy-rc.d-said").exists(), "and is the one obeyed"


@pytest.mark.parametrize(
    "option, value",
    [
        ("--release", "../bookworm"),
        ("--mirror", "deb.debian.org;touch /pwned"),
        ("--include", "hello,evil"),
        ("--variant", "minbase --foreign"),
    ],
)
def test_init_bootstrap_refuses_bad_arguments(ash, option, value):
    out = ash("init", "--bootstrap", "debian", option, value, check=False)
    assert out.returncode == 2 and error_lines(out)[0].startswith("ash: error: invalid "), out.stderr
    assert not ash.snapshot(0).exists() and not Path("/pwned").exists()


@pytest.mark.slow
def test_init_bootstrap_debian(ash, debootstrap_cache):
    ash(
        "init",
        "--bootstrap",
        "debian",
        "--release",
        "bookworm",
        "--mirror",
        "http://deb.debian.org/debian",
        "--variant",
        "minbase",
        "--include",
        "hello",
        "--cache-dir",
        debootstrap_cache,
        timeout=1800,
    )
    base = ash.snapshot(0)
    assert ash.tree_json()["distro"] == "debian" and btrfs.is_readonly(base)
    assert "VERSION_CODENAME=bookworm" in (base / "etc/os-release").read_text()
    assert "hello" in installed(base) and listed(ash, 0)["hello"]["explicit"]
    assert (base / "usr/bin/hello").exists()
    assert not list((base / "var/cache/apt/archives").glob("*.deb"))
    assert os.access(base / "usr/bin/apt-get", os.X_OK)
