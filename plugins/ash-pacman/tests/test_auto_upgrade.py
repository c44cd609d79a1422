"""``ash auto-upgrade`` decided for real: a store whose snapshots pacman manages (the host's pacman,
from outside the snapshot), a local repository whose packages the tests bump, deploys with ash-grub,
and the health checks of the plugins, of ash and of the user, each run in a throwaway copy."""

from __future__ import annotations

import json

import pytest
from ash_testing.cli import error_lines
from ash_testing.deploys import deploy_state
from ash_testing.plugins import env_with, make_plugin, pip_install
from ash_testing.snapshots import digest

REQUIRED = """#!/bin/sh
grep -qx 1.0-1 /usr/share/liba/version && exit 0
echo "liba $(cat /usr/share/liba/version) is not the tested one" >&2
exit 1
"""


def said(proc) -> list[str]:
    """ash's own lines on stdout (pacman's come before them)."""
    return [line for line in proc.stdout.splitlines() if line.startswith("auto-upgrade: ")]


def status(arch) -> dict:
    return json.loads(arch.ash("status", "--json").stdout)


def config(arch, text: str) -> None:
    path = arch.ash.sysroot / "etc/ash/update.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def user_check(arch, sid: int, kind: str, name: str, script: str) -> None:
    arch.ash("run", str(sid), "sh", "-c", f'mkdir -p /etc/ash/health.d/{kind}.d && cat > "$1" && chmod +x "$1"', "sh",
             f"/etc/ash/health.d/{kind}.d/{name}", input=script)  # fmt: skip


def test_a_good_update_is_deployed_and_recorded(deployed):
    """A newer liba: snapshot 2 is 1 upgraded, passes every check and is deployed; 1 is untouched.
    Run again with nothing newer, nothing is deployed and no snapshot is left behind."""
    arch = deployed
    before = digest(arch.root(1))
    arch.repo.add("liba", "1.1-1")
    out = arch.ash("auto-upgrade")
    assert said(out) == ["auto-upgrade: deployed snapshot 2 (snapshot 1 upgraded); it boots next"]
    assert arch.packages(2) == {"liba": ("1.1-1", True)} and digest(arch.root(1)) == before
    assert deploy_state(arch.ash)["default"]["snapshot"] == 2
    assert next(n for n in arch.ash.tree_json()["tree"] if n["id"] == 2)["description"].startswith("automatic update ")
    last = status(arch)["last_update"]
    assert (last["outcome"], last["base"], last["snapshot"]) == ("deployed", 1, 2)
    assert last["changes"]["changed"] == [{"name": "liba", "from": "1.0-1", "to": "1.1-1"}]
    assert {(c["name"], c["passed"]) for c in last["checks"]} == {
        ("pacman database", True),
        ("kernel and initramfs", True),
        ("fstab", True),
    }
    assert "  ~ liba 1.0-1 -> 1.1-1" in arch.ash("status").stdout
    assert "completed: deployed snapshot 2 (from 1)" in arch.ash("check").stdout

    again = arch.ash("auto-upgrade")
    assert said(again) == ["auto-upgrade: snapshot 2 is up to date; nothing was deployed"]
    assert arch.ash.ids() == {0, 1, 2} and deploy_state(arch.ash)["default"]["snapshot"] == 2
    assert status(arch)["last_update"]["outcome"] == "unchanged"
    assert not [p for p in (arch.ash.store / "rootfs").iterdir() if p.name.startswith(".")]


def test_a_failing_required_check_stops_the_deploy(deployed):
    """The user's required check fails on the upgraded candidate: nothing is deployed, the candidate
    is kept for inspection (or, with keep_failed = false, deleted), and the failure is recorded; a
    failing wanted check is only reported."""
    arch = deployed
    user_check(arch, 1, "required", "10-liba", REQUIRED)
    user_check(arch, 1, "wanted", "20-optional", "#!/bin/sh\necho 'not fatal' >&2\nexit 3\n")
    before, state = digest(arch.root(1)), deploy_state(arch.ash)
    arch.repo.add("liba", "1.1-1")
    proc = arch.ash("auto-upgrade", check=False)
    assert proc.returncode == 1
    assert error_lines(proc) == [
        "ash: error: the update was not deployed: checks failed (required.d/10-liba: exited with status 1:"
        " liba 1.1-1 is not the tested one); snapshot 2 is kept for inspection"
    ]
    assert (
        "ash: warning: check wanted.d/20-optional failed (wanted, not required): exited with status 3: not fatal"
        in (proc.stderr)
    )
    assert deploy_state(arch.ash) == state and digest(arch.root(1)) == before
    assert arch.packages(2) == {"liba": ("1.1-1", True)}
    text = arch.ash("status").stdout
    assert "last update" in text and "failed: checks failed" in text
    assert "  check required.d/10-liba: FAILED: exited with status 1: liba 1.1-1 is not the tested one" in text

    config(arch, "keep_failed = false\n")
    proc = arch.ash("auto-upgrade", check=False)
    assert proc.returncode == 1 and "kept for inspection" not in proc.stderr
    assert arch.ash.ids() == {0, 1, 2}, "the second candidate (3) was deleted"
    assert deploy_state(arch.ash) == state


def test_a_check_that_hangs_is_stopped(deployed):
    arch = deployed
    user_check(arch, 1, "required", "10-hang", "#!/bin/sh\nsleep 600\n")
    config(arch, "check_timeout = 1\nkeep_failed = false\n")
    arch.repo.add("liba", "1.1-1")
    proc = arch.ash("auto-upgrade", check=False)
    assert error_lines(proc) == [
        "ash: error: the update was not deployed: checks failed (required.d/10-hang: '/etc/ash/health.d/required.d/"
        "10-hang' did not finish within 1 s and was stopped)"
    ]
    assert arch.ash.ids() == {0, 1}


def test_older_automatic_snapshots_are_deleted_but_not_those_that_boot(deployed):
    """keep = 1: after three updates (2, 3, 4), 2 is deleted; 3 is the fallback deployment's and stays."""
    arch = deployed
    config(arch, "keep = 1\n")
    for version in ("1.1-1", "1.2-1", "1.3-1"):
        arch.repo.add("liba", version)
        out = arch.ash("auto-upgrade")
    assert said(out) == [
        "auto-upgrade: deployed snapshot 4 (snapshot 3 upgraded); it boots next",
        "auto-upgrade: deleted the older automatic snapshot 2",
    ]
    assert arch.ash.ids() == {0, 1, 3, 4}
    assert arch.ash("rollback").stdout.startswith("rolled back to snapshot 3")


def test_an_upgrade_that_fails_deploys_nothing_and_leaves_nothing(deployed):
    arch = deployed
    state = deploy_state(arch.ash)
    (arch.repo.path / "test.db").unlink()  # the repository is unreachable
    proc = arch.ash("auto-upgrade", check=False)
    assert proc.returncode == 1 and error_lines(proc)[0].startswith(
        "ash: error: the update was not deployed: upgrade failed ("
    ), proc.stderr
    assert arch.ash.ids() == {0, 1} and deploy_state(arch.ash) == state
    assert status(arch)["last_update"]["outcome"] == "upgrade failed"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('reboot = "sometimes"\n', "reboot = 'sometimes' is not one of never, window, immediately"),
        ("keep = 0\n", "keep = 0 is not a whole number of 1 or more"),
        ("kept = 3\n", "unknown setting 'kept'"),
        ('window = "3-5"\n', "window = '3-5' is not HH:MM-HH:MM"),
        ("keep = \n", "Invalid value (at line 1, column 8)"),
    ],
)
def test_a_bad_update_conf_is_one_line_naming_the_setting(deployed, text, error):
    arch = deployed
    config(arch, text)
    proc = arch.ash("auto-upgrade", check=False)
    path = arch.ash.sysroot / "etc/ash/update.conf"
    assert proc.returncode == 2 and error_lines(proc) == [f"ash: error: {path}: {error}"], proc.stderr
    assert arch.ash.ids() == {0, 1}


def test_the_timer_does_nothing_when_disabled(deployed):
    """enabled = false stops the timer's runs (--scheduled), not a person's."""
    arch = deployed
    config(arch, "enabled = false\n")
    arch.repo.add("liba", "1.1-1")
    assert said(arch.ash("auto-upgrade", "--scheduled")) == ["auto-upgrade: disabled in /etc/ash/update.conf"]
    assert arch.ash.ids() == {0, 1}
    assert said(arch.ash("auto-upgrade"))[0].startswith("auto-upgrade: deployed snapshot 2")


def test_nothing_deployed_is_refused(bare, busybox_arch_root):
    bare.init(busybox_arch_root, bare.repo.file_url)
    proc = bare.ash("auto-upgrade", check=False)
    assert error_lines(proc) == ["ash: error: nothing is deployed to update"] and proc.returncode == 1
    assert "hint: deploy a snapshot first ('ash deploy N')" in proc.stderr
    assert bare.ash.ids() == {0}


VENDOR = """\
from ashcore.api import HealthCheck, hookimpl, in_root


def _version(chroot):
    version = in_root(chroot.root, "usr/share/liba/version").read_text().strip()
    return None if version == "1.0-1" else f"liba {version} is not certified"


@hookimpl
def ash_health_checks():
    return [HealthCheck("vendor certification", _version), HealthCheck("apt only", _version, package_manager="apt")]
"""
BROKEN = """\
from ashcore.api import hookimpl


@hookimpl
def ash_health_checks():
    raise RuntimeError("no checks today")
"""


def test_hook_ash_health_checks(deployed, tmp_path, plugin_site):
    """A third-party plugin's required check stops the deploy (its check for another package manager
    does not run); a plugin whose hook raises is reported and counts as a failed check."""
    arch = deployed
    pip_install(make_plugin(tmp_path, "ash-vendor", "ash_vendor", VENDOR), plugin_site)
    env = env_with(plugin_site)
    arch.repo.add("liba", "1.1-1")
    proc = arch.ash("auto-upgrade", env=env, check=False)
    assert error_lines(proc) == [
        "ash: error: the update was not deployed: checks failed (vendor certification: liba 1.1-1 is not"
        " certified); snapshot 2 is kept for inspection"
    ]
    names = [c["name"] for c in status(arch)["last_update"]["checks"]]
    assert "vendor certification" in names and "apt only" not in names

    pip_install(make_plugin(tmp_path, "ash-broken-checks", "ash_broken_checks", BROKEN), plugin_site)
    proc = arch.ash("auto-upgrade", env=env, check=False)
    assert "ash: warning: plugin 'broken_checks' failed to list its health checks (no checks today)" in proc.stderr
    assert "plugin broken_checks: its health checks could not be listed" in error_lines(proc)[0]
