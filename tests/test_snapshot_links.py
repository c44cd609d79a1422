"""A snapshot's links lead within it when ash reads it from the host: an absolute link means the
snapshot's own file, never the host's (here the host is whatever runs the tests, e.g. Debian)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from ash_testing.campaign import Case
from ash_testing.fixtures import APPLETS
from ash_testing.plugins import TPM, env_with, make_plugin, pip_install
from ash_testing.roots import busybox_tree
from ash_testing.snapshots import digest


def test_os_release_through_an_absolute_link_is_the_snapshots_own(ash, busybox_root, tmp_path, plugin_site):
    root = tmp_path / "root"
    shutil.copytree(busybox_root, root, symlinks=True)
    (root / "usr/lib").mkdir(parents=True, exist_ok=True)
    (root / "etc/os-release").rename(root / "usr/lib/os-release")
    (root / "etc/os-release").symlink_to("/usr/lib/os-release")  # as on most distros, but absolute
    (root / "var/lib/tpm").mkdir(parents=True)
    (root / "var/lib/tpm/hello").write_text("1.0\n")
    assert "(testos)" in ash("init", "--from", root).stdout
    assert ash.tree_json()["distro"] == "testos"
    pip_install(make_plugin(tmp_path, "ash-tpm", "ash_tpm", TPM), plugin_site)
    out = ash("list", "0", env=env_with(plugin_site), check=False)  # tpm's, not apt's (the host's)
    assert (out.returncode, out.stdout) == (0, "hello 1.0\n"), out.stderr


def test_copy_into_replaces_links_in_the_destination_never_writes_through(tmp_path):
    """An overlay copied into a snapshot (``replace``) replaces a link there, whatever it leads to;
    without ``replace`` the link is kept; either way the file it leads to is untouched."""
    from ashcore.fs.files import copy_into

    outside = tmp_path / "outside"
    (outside / "etc").mkdir(parents=True)
    (outside / "etc/hostname").write_text("outside\n")
    (outside / "motd").write_text("outside\n")
    overlay, root = tmp_path / "overlay", tmp_path / "root"
    (overlay / "etc").mkdir(parents=True)
    (overlay / "etc/hostname").write_text("overlay\n")
    (overlay / "opt").mkdir()
    (overlay / "opt/motd").write_text("overlay\n")
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").symlink_to(outside / "etc/hostname")
    (root / "opt").symlink_to(outside)  # a directory link: replaced whole, never entered
    copy_into(overlay, root, replace=True)
    assert (outside / "etc/hostname").read_text() == "outside\n" and (outside / "motd").read_text() == "outside\n"
    assert not (root / "etc/hostname").is_symlink() and (root / "etc/hostname").read_text() == "overlay\n"
    assert not (root / "opt").is_symlink() and (root / "opt/motd").read_text() == "overlay\n"
    assert sorted(p.name for p in outside.iterdir()) == ["etc", "motd"]
    (root / "etc/hostname").unlink()
    (root / "etc/hostname").symlink_to(outside / "etc/hostname")
    copy_into(overlay, root, replace=False)
    assert (root / "etc/hostname").is_symlink() and (outside / "etc/hostname").read_text() == "outside\n"


# -- host-side cleanups never follow links a command left ------------------------------------------
#
# Every operation that touches a working copy (or a deployment) from the host side after a command
# ran in it: the paths it touches are found by running it once on a benign snapshot (what exists
# while the command runs but not once it is committed: the plugins' on_exit cleanups; what a deploy
# writes into the deployment), so a cleanup added later is attacked too. Then, for each such path
# and each directory above it, a command replaces it with a link to a host directory that looks
# like what ash expects there and holds a canary; the operation must leave that directory alone.

LINK_APPLETS = (*APPLETS, "ln", "cp")
#: the distributions of the first-party package-manager plugins (whose chroot_enter hooks run in
#: every transaction of their snapshots), and one that none manages
DISTROS = {"debian": "ID=debian\n", "arch": "ID=arch\n", "testos": "ID=testos\n"}
PROBE = ".ash-link-probe"


@pytest.fixture(scope="module")
def distro_roots(tmp_path_factory) -> dict[str, Path]:
    roots = {}
    for name, os_release in DISTROS.items():
        root = busybox_tree(
            tmp_path_factory.mktemp(f"links-{name}") / "root",
            os_release,
            applets=LINK_APPLETS,
            dirs=("usr/sbin", "var/lib", "var/cache", "etc/pacman.d"),
        )
        (root / "etc/pacman.conf").write_text("[options]\nCacheDir = /var/cache/pacman/pkg/\n")
        roots[name] = root
    return roots


def ancestors(rel: str) -> list[str]:
    """``rel`` and every directory above it (not the root itself)."""
    parts = Path(rel).parts
    return ["/".join(parts[: i + 1]) for i in range(len(parts) - 1, -1, -1)]


def changed_paths(first: dict[str, str], then: dict[str, str]) -> set[str]:
    """What is in ``first`` but gone or different in ``then``."""
    return {p for p, entry in first.items() if then.get(p) != entry and PROBE not in p}


def host_copy(source: Path, where: Path) -> Path:
    """A host directory that looks like ``source`` (a copy of it, or holding a copy of the file) and
    holds a canary."""
    host = where / f"host-{len(list(where.iterdir()))}"
    if source.is_dir() and not source.is_symlink():
        shutil.copytree(source, host, symlinks=True)
    else:
        host.mkdir()
        if source.exists():
            shutil.copy2(source, host / source.name)
    (host / "canary").write_text("the host's\n")
    return host


def link_cases(touched: set[str], seen_in: Path, tmp_path: Path) -> list[tuple[str, Path, str]]:
    """(path to replace, host directory, what to link) for every touched path and directory above it:
    a link to the host directory, and for a file also a link to the host's copy of it."""
    cases = []
    for rel in sorted({a for p in touched for a in ancestors(p)}):
        host = host_copy(seen_in / rel, tmp_path)
        cases.append((rel, host, os.fspath(host)))
        if (host / Path(rel).name).is_file():
            cases.append((rel, host, os.fspath(host / Path(rel).name)))
    return cases


def replaced_by_link(rel: str, target: str) -> list[str]:
    return ["sh", "-c", 'rm -rf "/$1" && mkdir -p "/$(dirname "$1")" && ln -s "$2" "/$1"', "sh", rel, target]


def clean_or_one_line(proc) -> str | None:
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ash: error:")]
    if proc.returncode == 0 or (len(errors) == 1 and "Traceback" not in proc.stderr):
        return None
    return f"exited {proc.returncode}: {proc.stderr[-300:]}"


def paused_run(ash, sid: int, keep: Path) -> dict[str, str]:
    """Run a command in snapshot ``sid`` that waits until the host has looked at (and copied to
    ``keep``) the working copy as ash prepared it; return its digest."""
    proc = ash.popen("run", str(sid), "sh", "-c", f"touch /{PROBE}; while [ -e /{PROBE} ]; do sleep 0.05; done")
    work = ash.store / f"rootfs/.work-{sid}"
    deadline = time.monotonic() + 30
    while not (work / PROBE).exists():
        assert time.monotonic() < deadline and proc.poll() is None, "the command never started"
        time.sleep(0.05)
    during = digest(work)
    subprocess.run(["cp", "-a", work, keep], check=True)
    (work / PROBE).unlink()
    assert proc.wait(60) == 0
    return during


@pytest.mark.parametrize("distro", DISTROS)
def test_transaction_cleanups_never_follow_a_commands_links(ash, distro_roots, tmp_path, distro, campaign):
    """What ash (its plugins' on_exit cleanups, the commit) does in a working copy after the command:
    found by difference, then each path and its directories made a link to a host directory."""
    run = campaign("host-side links: cleanups after a command")
    ash("init", "--from", distro_roots[distro])
    ash("clone", "0")
    ash("run", "1", "true")  # the sandbox's mount points, made once
    during = paused_run(ash, 1, tmp_path / "during")
    touched = changed_paths(during, digest(ash.snapshot(1)))
    if distro == "debian":
        assert "usr/sbin/policy-rc.d" in touched, "ash-apt's policy-rc.d is removed after every command"
    hosts = tmp_path / "hosts"
    hosts.mkdir()
    for rel, host, target in link_cases(touched, tmp_path / "during", hosts):
        with run.case(Case(run, run.tally.tried + 1)) as case:
            case.tried = f"{distro}: ash run replaces /{rel} with a link to {target}"
            sid = int(ash("clone", "0").stdout)
            before = digest(host)
            proc = ash("run", str(sid), *replaced_by_link(rel, target), check=False)
            problems = [why] if (why := clean_or_one_line(proc)) else []
            if digest(host) != before:
                problems.append(f"the host directory changed: {sorted(set(digest(host)) ^ set(before))}")
            case.lost_nothing(problems)
            case.ended("committed" if proc.returncode == 0 else "refused")
            ash("del", "-y", str(sid))


def test_deploy_writes_never_follow_a_snapshots_links(system, tmp_path, campaign):
    """What ``ash deploy`` writes into the new deployment (found as what differs from its snapshot):
    each path and each directory above it made, by a command, a link to a host directory."""
    run = campaign("host-side links: cleanups after a command")
    system("clone", "0")
    system("deploy", "1")
    deployment = system.store / "deploy/1-1"
    touched = changed_paths(digest(deployment), digest(system.snapshot(1)))
    assert {"etc/fstab", "usr/lib/ash/snapshot"} <= touched, touched
    hosts = tmp_path / "hosts"
    hosts.mkdir()
    for rel, host, target in link_cases(touched, deployment, hosts):
        with run.case(Case(run, run.tally.tried + 1)) as case:
            case.tried = f"deploy of a snapshot whose /{rel} is a link to {target}"
            sid = int(system("clone", "0").stdout)
            system("run", str(sid), *replaced_by_link(rel, target))
            before = digest(host)
            proc = system("deploy", str(sid), check=False)
            problems = [why] if (why := clean_or_one_line(proc)) else []
            if digest(host) != before:
                problems.append(f"the host directory changed: {sorted(set(digest(host)) ^ set(before))}")
            case.lost_nothing(problems)
            case.ended("committed" if proc.returncode == 0 else "refused")
            system("deploy", "1")
            system("deploy", "1")  # the fallback is 1 again: the case's snapshot can go
            system("del", "-y", str(sid))


def test_a_snapshots_package_cache_stays_in_the_sysroot(ash, distro_roots, tmp_path):
    """ash-pacman binds ``<sysroot>/<CacheDir>`` into every chroot, CacheDir read from the snapshot's
    pacman.conf (which a command may have written): a '..' there never leads out of the sysroot."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "canary").write_text("the host's\n")
    ash("init", "--from", distro_roots["arch"])
    ash("clone", "0")
    escape = "/.." * (len(ash.sysroot.parts) + 2) + os.fspath(host)
    ash("run", "1", "sh", "-c", f'echo "[options]\nCacheDir = {escape}/" > /etc/pacman.conf')
    proc = ash("run", "1", "sh", "-c", f"echo pwned > {escape}/canary; echo made > {escape}/new", check=False)
    assert (host / "canary").read_text() == "the host's\n" and sorted(p.name for p in host.iterdir()) == ["canary"]
    assert proc.returncode == 0, proc.stderr
