"""Real installs of the shipped ``server`` profile, through the real package managers:

* into a Debian bookworm snapshot (the bootable base the boot tests cache, with systemd), its
  packages fetched from deb.debian.org by apt in the chroot, its services enabled by the
  snapshot's own systemctl, and no daemon started (the apt plugin's policy-rc.d refuses);
* into an Arch-like snapshot (busybox, ``ID=arch``) with the host's pacman, from a local repository
  built here of the profile's Arch names (so this checks the mechanism, not that Arch has those
  packages), services enabled with the host's ``systemctl --root``.

Gentoo cannot be installed here: there is no ash-portage plugin yet and no Gentoo mirror.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from ash_testing.cli import Ash
from ash_testing.roots import busybox_tree
from ash_testing.snapshots import digest

WANTS = "etc/systemd/system/multi-user.target.wants"
PACMAN_TESTS = Path(__file__).parents[2] / "ash-pacman/tests/conftest.py"


def _pacman_fixtures() -> ModuleType:
    """ash-pacman's test helpers (building Arch packages and a repository with repo-add)."""
    spec = importlib.util.spec_from_file_location("ash_pacman_test_helpers", PACMAN_TESTS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _unit(description: str) -> str:
    return f"[Unit]\nDescription={description}\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"


@pytest.fixture
def arch(ash: Ash, tmp_path: Path, root_tools: Callable[..., None]) -> Ash:
    """A store whose base is an Arch-like busybox root using a local repository of the ``server``
    profile's Arch packages (openssh and chrony with their units), changed by the host's pacman."""
    root_tools("pacman", "repo-add", "systemctl")
    helpers = _pacman_fixtures()
    repo = helpers.Repo(tmp_path / "repo")
    repo.add("openssh", "9.9p1-1", {"usr/bin/sshd": "#!/bin/sh\n", "usr/lib/systemd/system/sshd.service": _unit("ssh")})
    repo.add("chrony", "4.6-1", {"usr/lib/systemd/system/chronyd.service": _unit("chrony")})
    repo.add("sudo", "1.9.16-1")
    repo.add("curl", "8.11.0-1")
    base = busybox_tree(
        tmp_path / "base", 'NAME="Arch Linux"\nID=arch\n', dirs=("etc/pacman.d", "tmp", "var/lib/pacman")
    )
    (base / "usr/lib/systemd/system").mkdir(parents=True)
    (base / "usr/lib/systemd/system/multi-user.target").write_text("[Unit]\nDescription=Multi-User System\n")
    (base / "etc/pacman.conf").write_text(helpers.PACMAN_CONF)
    (base / f"etc/pacman.d/{helpers.REPO}-repo.conf").write_text(f"Server = {repo.file_url}\n")
    ash("init", "--from", base)
    assert ash("clone", "0").stdout == "1\n"
    return ash


def _profiles(ash: Ash, sid: int) -> list[dict]:
    nodes = json.loads(ash("tree", "--json").stdout)["tree"]
    while nodes:
        node = nodes.pop()
        if node["id"] == sid:
            return node["profiles"]
        nodes += node["children"]
    raise AssertionError(f"no snapshot {sid}")


def _installed(ash: Ash, sid: int) -> dict[str, bool]:
    return {p["name"]: p["explicit"] for p in json.loads(ash("list", str(sid), "--json").stdout)}


def test_the_server_profile_into_an_arch_snapshot_and_out_again(arch: Ash):
    out = arch("install-profile", "server", "1").stdout
    assert "profile server on arch:" in out and "services (systemctl enable): sshd.service chronyd.service" in out
    root = arch.snapshot(1)
    assert set(_installed(arch, 1)) == {"openssh", "sudo", "curl", "chrony"}
    assert (root / WANTS / "sshd.service").readlink() == Path("/usr/lib/systemd/system/sshd.service")
    assert (root / WANTS / "chronyd.service").is_symlink()
    assert _profiles(arch, 1) == [
        {
            "name": "server",
            "packages": ["openssh", "sudo", "curl", "chrony"],
            "services": ["sshd.service", "chronyd.service"],
        }
    ]
    out = arch("profile", "remove", "server", "1").stdout
    assert "removed packages: openssh sudo curl chrony; disabled services: sshd.service chronyd.service" in out
    assert _installed(arch, 1) == {} and not (root / WANTS / "sshd.service").exists()
    assert _profiles(arch, 1) == []


def test_a_failing_post_command_in_an_arch_snapshot_leaves_it_untouched(arch: Ash):
    mine = arch.sysroot / "etc/ash/profiles/hardened.toml"
    mine.parent.mkdir(parents=True)
    mine.write_text(
        '[profile]\nname = "hardened"\n[packages]\narch = ["openssh"]\n[services]\nenable = ["sshd.service"]\n'
        '[post]\ncommands = ["grep -q PermitRootLogin /etc/ssh/sshd_config"]\n'
    )
    before = digest(arch.snapshot(1))
    error = arch.fail("install-profile", "hardened", "1")
    assert error.startswith(
        "ash: error: profile hardened: the post command 'grep -q PermitRootLogin /etc/ssh/sshd_config'"
    )
    assert "exited with status 2; snapshot 1 was left as it was" in error
    assert digest(arch.snapshot(1)) == before and _installed(arch, 1) == {} and _profiles(arch, 1) == []


def test_the_server_profile_into_a_debian_snapshot_from_debians_archive(ash: Ash, debian_base: Path, btrfs_mount):
    plain = btrfs_mount / "debian-bootable.tar"
    if not plain.exists():
        with open(plain, "wb") as out:
            subprocess.run(["zstd", "-dcq", debian_base], stdout=out, check=True)
    ash("init", "--from", plain)
    assert ash("clone", "0").stdout == "1\n"
    assert not (ash.snapshot(1) / "usr/sbin/sshd").exists()
    proc = ash("install-profile", "server", "1", timeout=1500)
    root = ash.snapshot(1)
    assert (root / "usr/sbin/sshd").is_file() and (root / "usr/sbin/chronyd").is_file()
    assert {"openssh-server", "sudo", "curl", "chrony"} <= {n for n, explicit in _installed(ash, 1).items() if explicit}
    assert (root / WANTS / "ssh.service").readlink() == Path("/lib/systemd/system/ssh.service")
    assert (root / WANTS / "chrony.service").is_symlink()
    # no daemon was started in the chroot: every start went through the apt plugin's policy-rc.d,
    # which refused it (invoke-rc.d says so), and the policy is gone from the committed snapshot
    assert "policy-rc.d denied execution of start" in proc.stdout + proc.stderr, proc.stdout[-3000:]
    assert not (root / "usr/sbin/policy-rc.d").exists() and not (root / "run/sshd.pid").exists()
    record = _profiles(ash, 1)
    assert record[0]["name"] == "server" and record[0]["services"] == ["ssh.service", "chrony.service"]
    assert set(record[0]["packages"]) == {"openssh-server", "sudo", "curl", "chrony"}
    assert "boot it with 'ash deploy 1'" in proc.stdout and not (ash.store / "deploy").exists(), "deployed"
    # Debian's sudo refuses to go while root has no password (its prerm says why): the removal
    # fails in one line and the snapshot is left exactly as it was
    before = digest(root)
    error = ash.fail("profile", "remove", "server", "1")
    assert "error processing package sudo (--remove)" in error, error
    assert digest(root) == before and _profiles(ash, 1) == record
    ash("run", "1", "sh", "-c", "echo root:ash-test | chpasswd")
    ash("profile", "remove", "server", "1", timeout=900)
    assert not {"openssh-server", "sudo", "curl", "chrony"} & set(_installed(ash, 1))
    assert not (root / WANTS / "ssh.service").exists() and _profiles(ash, 1) == []
