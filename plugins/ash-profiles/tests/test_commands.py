"""The profile commands against real snapshots on btrfs: what an install does and records, what a
failure leaves (nothing), removal, the plan, and profiles from pip-installed distributions and the
user's directory. The package manager is tpm (ash_testing.plugins.TPM); services are enabled with
the host's ``systemctl --root`` (the busybox snapshots have no systemctl of their own)."""

from __future__ import annotations

import json
import shutil

import pytest
from ash_testing.plugins import make_plugin, pip_install
from ash_testing.require import require
from ash_testing.snapshots import digest

DESK = """\
    [profile]
    name = "desk"
    description = "a test desktop"
    [packages]
    testos = ["alpha", "beta", "shared"]
    [services]
    enable = ["demo.service"]
    default_target = "multi-user.target"
    [post]
    commands = ["echo ran > /etc/desk-post", "test -e /var/lib/tpm/alpha"]
"""
TOOLS = """\
    [profile]
    name = "tools"
    [packages]
    testos = ["gamma", "shared"]
    [services]
    enable = ["other.service"]
"""
WANTS = "etc/systemd/system/multi-user.target.wants"


@pytest.fixture(autouse=True)
def _systemctl() -> None:
    require(shutil.which("systemctl") is not None, "needs systemctl (apt-get install systemd)")


def test_install_does_packages_services_post_in_one_commit_and_records_the_profile(testos):
    testos.profile("desk", DESK)
    testos("install", "1", "beta")  # installed explicitly before: not the profile's to remove
    out = testos("install-profile", "desk", "1").stdout
    assert "packages: alpha beta shared" in out and "services (systemctl enable): demo.service" in out
    assert out.endswith("install-profile: profile desk installed in snapshot 1; boot it with 'ash deploy 1'\n")
    root = testos.snapshot(1)
    assert testos.packages(1) == {"alpha", "beta", "shared"}
    assert (root / WANTS / "demo.service").readlink().name == "demo.service"
    assert (root / "etc/systemd/system/default.target").readlink().name == "multi-user.target"
    assert (root / "etc/desk-post").read_text() == "ran\n"
    assert testos.profiles_of(1) == [{"name": "desk", "packages": ["alpha", "shared"], "services": ["demo.service"]}]
    assert testos.profiles_of(0) == [] and not (testos.snapshot(0) / WANTS).exists()
    assert not (testos.ash.store / "deploy").exists() or not any((testos.ash.store / "deploy").iterdir()), "deployed"
    listed = {p["name"]: p for p in json.loads(testos("profile", "list", "--json").stdout)}
    assert listed["desk"]["installed_in"] == [1] and listed["desk"]["distros"] == ["testos"]
    assert listed["server"]["installed_in"] == [] and listed["server"]["source"].startswith("ash-profiles (")
    diff = testos("diff", "0", "1").stdout.splitlines()
    assert diff[0] == "+ profile desk" and "+ alpha 1.0" in diff and "+ beta 1.0" in diff
    assert json.loads(testos("diff", "1", "0", "--json").stdout)["profiles"] == {"added": [], "removed": ["desk"]}
    assert testos("branch", "1").stdout == "2\n"
    assert testos.profiles_of(2) == testos.profiles_of(1), "a branch inherits the record with the files"
    refused = testos.fail("profile", "install", "desk", "1")
    assert refused == "ash: error: profile desk is already installed in snapshot 1"
    assert (
        testos.fail("install-profile", "desk", "0", status=2) == "ash: error: cannot change snapshot 0: it is the base"
    )


def test_a_failing_post_command_leaves_the_snapshot_exactly_as_it_was(testos):
    testos.profile("desk", DESK.replace('"test -e /var/lib/tpm/alpha"', '"echo half > /etc/half; exit 3"'))
    before, tree_before = digest(testos.snapshot(1)), testos.profiles_of(1)
    error = testos.fail("install-profile", "desk", "1")
    assert error == (
        "ash: error: profile desk: the post command 'echo half > /etc/half; exit 3' exited with status 3;"
        " snapshot 1 was left as it was"
    )
    assert digest(testos.snapshot(1)) == before and testos.profiles_of(1) == tree_before == []


def test_a_failing_package_or_unknown_unit_leaves_the_snapshot_as_it_was(testos):
    testos.profile("desk", DESK.replace('"shared"]', '"broken"]'))  # tpm refuses a package named broken
    testos.profile("tools", TOOLS.replace("other.service", "nosuch.service"))
    before = digest(testos.snapshot(1))
    assert "ash: error:" in testos.fail("install-profile", "desk", "1")
    assert "nosuch.service" in testos.fail("install-profile", "tools", "1")
    assert digest(testos.snapshot(1)) == before and testos.profiles_of(1) == []


def test_dry_run_and_show_print_the_plan_and_change_nothing(testos):
    testos.profile("desk", DESK)
    before = digest(testos.snapshot(1))
    dry = testos("install-profile", "desk", "1", "--dry-run").stdout
    shown = testos("profile", "show", "desk", "1").stdout
    assert dry == shown + "dry run: nothing was changed\n"
    assert shown.splitlines() == [
        "snapshot 1: profile desk on testos:",
        "  packages: alpha beta shared",
        "  services (systemctl enable): demo.service",
        "  default target: multi-user.target",
        "  post: echo ran > /etc/desk-post",
        "  post: test -e /var/lib/tpm/alpha",
    ]
    plan = json.loads(testos("profile", "show", "desk", "1", "--json").stdout)
    assert plan["snapshot"] == 1 and plan["packages"] == ["alpha", "beta", "shared"] and plan["init"] == "systemd"
    assert digest(testos.snapshot(1)) == before and testos.profiles_of(1) == []
    server = testos("profile", "show", "server").stdout
    assert "packages (debian): openssh-server sudo curl chrony" in server
    assert "packages (gentoo): net-misc/openssh app-admin/sudo net-misc/curl net-misc/chrony" in server
    assert testos.fail("profile", "show", "server", "1") == (
        "ash: error: profile 'server' has nothing for distribution 'testos' (it has arch, debian, gentoo)"
    )


def test_conflicts_and_requirements_are_refused_before_anything_changes(testos):
    testos.profile("desk", DESK)
    testos.profile("rival", '[profile]\nname = "rival"\nconflicts = ["desk"]\n[packages]\ntestos = ["r"]\n')
    testos.profile("addon", '[profile]\nname = "addon"\nrequires = ["desk"]\n[packages]\ntestos = ["a"]\n')
    assert testos.fail("install-profile", "addon", "1") == (
        "ash: error: profile addon requires profile desk, which snapshot 1 does not have"
    )
    testos("install-profile", "desk", "1")
    before = digest(testos.snapshot(1))
    assert testos.fail("install-profile", "rival", "1") == (
        "ash: error: profile rival conflicts with profile desk, which snapshot 1 has"
    )
    testos("install-profile", "addon", "1")
    assert testos.fail("profile", "remove", "desk", "1") == "ash: error: profile addon in snapshot 1 requires desk"
    assert [p["name"] for p in testos.profiles_of(1)] == ["desk", "addon"]
    assert digest(testos.snapshot(1)) != before  # addon went in


def test_remove_takes_only_what_no_other_profile_or_explicit_install_needs(testos):
    testos.profile("desk", DESK)
    testos.profile("tools", TOOLS)
    testos("install", "1", "beta")
    testos("install-profile", "desk", "1")
    testos("profile", "install", "tools", "1")
    assert testos.profiles_of(1)[1] == {"name": "tools", "packages": ["gamma"], "services": ["other.service"]}
    out = testos("profile", "remove", "desk", "1").stdout
    assert "removed packages: alpha; disabled services: demo.service" in out, out
    assert out.endswith("boot it with 'ash deploy 1'\n")
    root = testos.snapshot(1)
    assert testos.packages(1) == {"beta", "shared", "gamma"}, "beta was explicit, shared is also tools'"
    assert not (root / WANTS / "demo.service").exists() and (root / WANTS / "other.service").is_symlink()
    assert [p["name"] for p in testos.profiles_of(1)] == ["tools"]
    testos("profile", "remove", "tools", "1")
    assert testos.packages(1) == {"beta"}, "desk's shared went to tools when desk was removed, and now with tools"
    assert testos.profiles_of(1) == [] and not (root / WANTS / "other.service").exists()


def test_hook_ash_profile_files(testos, tmp_path, env_of):
    """Profiles from a pip-installed distribution (its package data), and a clash naming both sources."""
    code = """\
        from pathlib import Path
        from ashcore.api import ProfileFile, hookimpl

        @hookimpl
        def ash_profile_files():
            return [ProfileFile(Path(__file__).parent / "community.toml")]
    """
    toml = '[profile]\nname = "community"\ndescription = "shipped with pip"\n[packages]\ntestos = ["c1"]\n'
    src = make_plugin(tmp_path, "ash-community-profiles", "ash_community", code, {"community.toml": toml})
    (src / "pyproject.toml").write_text(
        (src / "pyproject.toml").read_text() + '[tool.setuptools.package-data]\nash_community = ["*.toml"]\n'
    )
    site = tmp_path / "community-site"
    pip_install(src, site)
    env = env_of(site, PYTHONPATH=f"{site}:{testos.env['PYTHONPATH']}")  # with tpm's site too
    listed = {p["name"]: p for p in json.loads(testos("profile", "list", "--json", env=env).stdout)}
    assert listed["community"]["description"] == "shipped with pip"
    assert listed["community"]["source"].startswith("plugin 'community' (")
    testos("install-profile", "community", "1", env=env)
    assert testos.packages(1) == {"c1"} and testos.profiles_of(1)[0]["name"] == "community"
    mine = testos.profile("community", toml)
    error = testos.fail("profile", "show", "community", env=env)
    assert error.startswith("ash: error: profile 'community' is defined by plugin 'community' (")
    assert error.endswith(f"community.toml) and by {mine}")
    warned = testos("profile", "list", env=env)
    assert "ash: warning: profile 'community' is defined by plugin 'community'" in warned.stderr
    assert "community" not in warned.stdout


def test_a_broken_profile_file_is_named_in_one_line(testos):
    bad = testos.profile("bad", '[profile]\nname = "bad"\n[packages]\ntestos = "alpha"\n')
    listed = testos("profile", "list")
    assert f"ash: warning: {bad}: packages.testos: expected a list of strings, got a string; skipped" in listed.stderr
    assert "server" in listed.stdout and "bad" not in listed.stdout
    assert testos.fail("install-profile", "bad", "1").startswith("ash: error: no profile named 'bad' (known: ")


@pytest.mark.parametrize(("point", "kept"), [("tx:recorded", False), ("tx:exchanged", True)])
def test_a_crash_during_the_commit_keeps_the_record_with_the_files(testos, point: str, kept: bool):
    testos.profile("desk", DESK)
    proc = testos("install-profile", "desk", "1", check=False, env={"ASH_FAILPOINT": point})
    assert proc.returncode == -9, proc
    proc = testos("check")
    checked = proc.stdout + proc.stderr
    assert ("took its installed profiles back" in checked) is not kept, checked
    assert (testos.packages(1) == {"alpha", "beta", "shared"}) is kept
    assert [p["name"] for p in testos.profiles_of(1)] == (["desk"] if kept else [])


def test_hook_ash_sync_profiles(testos):
    """ash sync brings a parent's profile into its children: packages (tpm's sync), services, the
    default target, post commands and the record; a child that has it already is skipped."""
    testos.profile("desk", DESK)
    assert testos("branch", "1").stdout == "2\n"
    assert testos("branch", "2").stdout == "3\n"
    testos("install-profile", "desk", "1")
    out = testos("sync", "1")
    assert "sync: done in 1, 2, 3" in out.stdout, out  # sync upgrades the root too
    for sid in (2, 3):
        root = testos.snapshot(sid)
        assert testos.packages(sid) == {"alpha", "beta", "shared"}
        assert (root / WANTS / "demo.service").is_symlink() and (root / "etc/desk-post").read_text() == "ran\n"
        assert (root / "etc/systemd/system/default.target").readlink().name == "multi-user.target"
        assert testos.profiles_of(sid) == testos.profiles_of(1)
    assert "skipped 2 (it has its parent's packages)" in testos("force-sync", "1").stdout
    testos.profile("rival", '[profile]\nname = "rival"\nconflicts = ["desk"]\n[packages]\ntestos = ["r"]\n')
    assert testos("branch", "1").stdout == "4\n"
    testos("profile", "remove", "desk", "4")
    testos("install-profile", "rival", "4")
    before = digest(testos.snapshot(4))
    failed = testos("force-sync", "1", check=False)
    assert (
        failed.returncode == 1
        and "the parent's profile desk conflicts with profile rival of snapshot 4" in failed.stderr
    )
    assert digest(testos.snapshot(4)) == before and [p["name"] for p in testos.profiles_of(4)] == ["rival"]
