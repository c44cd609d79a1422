"""Installing and removing a profile: each one transaction of the core on one snapshot.

An install runs, in the snapshot's working copy: the portage profile (Gentoo), the packages through
the snapshot's package-manager plugin, the services enabled offline (nothing is started: the
chroot has no running init, and on Debian the apt plugin's policy-rc.d refuses every start), the
default target, then each post command, checked. The profile is recorded in the tree's entry of the
snapshot with the commit. Any failure drops the working copy: the snapshot stays exactly as it was.
Nothing is deployed.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ashcore.api import AshError, InstalledProfile, UsageError, current_system, distro_ids, in_root, run, transaction

from .catalog import OPENRC, Catalog, Plan, collect, init_system, plan

if TYPE_CHECKING:
    from ashcore.api import Chroot

    from .model import Profile

#: where systemd looks for unit files, as a root sees them
UNIT_DIRS = ("etc/systemd/system", "usr/lib/systemd/system", "lib/systemd/system")


def catalog() -> Catalog:
    system = current_system()
    return collect(system.store.sysroot, system.plugins.profile_files())


def plan_on(profile: Profile, root: Path) -> Plan:
    return plan(profile, distro_ids(root), init_system(root))


def install(name: str, snapshot: str) -> tuple[int, Plan]:
    """Install profile ``name`` into ``snapshot`` (as the user typed it); return the snapshot and the plan."""
    system = current_system()
    known = catalog()
    profile = known.get(name)
    record: list[InstalledProfile] = []
    with transaction(snapshot, profiles=record) as (sid, chroot):
        _refuse_base(sid)
        _check_relations(profile, record, known, sid)
        steps = plan_on(profile, chroot.root)
        for line in steps.lines():
            print(line, flush=True)
        pm = chroot.package_manager
        assert pm is not None  # transaction() found the package manager or raised
        before = {p.name for p in system.plugins.list_packages(pm, chroot.root)}
        if steps.portage_profile:
            # the profile decides USE flags, so it is selected before anything is built
            target = f"../../var/db/repos/gentoo/profiles/{steps.portage_profile}"
            chroot.run(["ln", "-sfn", "--", target, "/etc/portage/make.profile"])
        system.plugins.install(pm, chroot, steps.packages)
        enable(chroot, steps.init, steps.services)
        if steps.default_target:
            systemctl(chroot, "set-default", steps.default_target)
        for command in steps.post:
            status = chroot.run(["/bin/sh", "-c", command], check=False).returncode
            if status != 0:
                raise AshError(
                    f"profile {name}: the post command {command!r} exited with status {status};"
                    f" snapshot {sid} was left as it was",
                    hint=f"fix the command in {profile.source}",
                )
        added = tuple(p for p in steps.packages if p not in before)
        record.append(InstalledProfile(name=name, packages=added, services=steps.services))
    return sid, steps


def remove(name: str, snapshot: str) -> tuple[int, list[str], list[str]]:
    """Remove profile ``name`` from ``snapshot``: the packages its install added that no other installed
    profile lists, then the services no other one enables. Returns the snapshot, packages and services."""
    system = current_system()
    known = catalog()
    record: list[InstalledProfile] = []
    with transaction(snapshot, profiles=record) as (sid, chroot):
        _refuse_base(sid)
        entry = next((r for r in record if r.name == name), None)
        if entry is None:
            have = ", ".join(r.name for r in record) or "none"
            raise AshError(f"profile {name!r} is not installed in snapshot {sid} (it has: {have})")
        others = [r for r in record if r.name != name]
        needing = [r.name for r in others if r.name in known.profiles and name in known.profiles[r.name].requires]
        if needing:
            raise AshError(
                f"profile {', '.join(needing)} in snapshot {sid} requires {name}",
                hint=f"remove {needing[0]} first ('ash profile remove {needing[0]} {sid}')",
            )
        # what another installed profile lists stays, even if that one found it already there: it
        # becomes that profile's, to go when that one goes
        wanted: dict[str, tuple[set[str], set[str]]] = {}
        for other in others:
            lists, units = set(other.packages), set(other.services)
            if other.name in known.profiles:
                try:
                    steps = plan_on(known.profiles[other.name], chroot.root)
                    lists, units = lists | set(steps.packages), units | set(steps.services)
                except AshError:
                    pass
            wanted[other.name] = (lists, units)
        pm = chroot.package_manager
        assert pm is not None
        installed = {p.name for p in system.plugins.list_packages(pm, chroot.root)}
        keep_packages = {p for lists, _ in wanted.values() for p in lists}
        keep_services = {s for _, units in wanted.values() for s in units}
        packages = [p for p in entry.packages if p not in keep_packages and p in installed]
        services = [s for s in entry.services if s not in keep_services]
        disable(chroot, init_system(chroot.root), services)
        if packages:
            system.plugins.remove(pm, chroot, packages)
        record[:] = [_inherit(other, entry, wanted[other.name], installed) for other in others]
    return sid, packages, services


def sync_into(chroot: Chroot, inherited: Sequence[InstalledProfile], profiles: list[InstalledProfile]) -> None:
    """In a child's sync transaction, after its parent's packages came in: do for each of the parent's
    profiles in ``inherited`` what an install does besides packages, and add it to ``profiles``."""
    system = current_system()
    known = catalog()
    pm = chroot.package_manager
    assert pm is not None
    installed = {p.name for p in system.plugins.list_packages(pm, chroot.root)}
    init = init_system(chroot.root)
    for record in inherited:
        profile = known.profiles.get(record.name)
        for other in profiles:
            theirs = known.profiles[other.name].conflicts if other.name in known.profiles else ()
            if record.name in theirs or (profile is not None and other.name in profile.conflicts):
                raise AshError(
                    f"the parent's profile {record.name} conflicts with profile {other.name}"
                    f" of snapshot {chroot.snapshot}",
                    hint=f"remove one of them ('ash profile remove {other.name} {chroot.snapshot}')",
                )
        enable(chroot, init, record.services)
        steps = plan_on(profile, chroot.root) if profile is not None else None
        if steps is not None and steps.default_target:
            systemctl(chroot, "set-default", steps.default_target)
        for command in steps.post if steps is not None else ():
            status = chroot.run(["/bin/sh", "-c", command], check=False).returncode
            if status != 0:
                raise AshError(
                    f"profile {record.name}: the post command {command!r} exited with status {status}"
                    f" in snapshot {chroot.snapshot}, which was left as it was"
                )
        packages = tuple(p for p in record.packages if p in installed)
        profiles.append(InstalledProfile(name=record.name, packages=packages, services=record.services))


def _refuse_base(sid: int) -> None:
    if sid == 0:
        raise UsageError("cannot change snapshot 0: it is the base", hint="clone it and install into the clone")


def _inherit(
    other: InstalledProfile, gone: InstalledProfile, wanted: tuple[set[str], set[str]], installed: set[str]
) -> InstalledProfile:
    """``other``'s record, with what the removed profile ``gone`` had added and ``other`` lists."""
    packages = [p for p in gone.packages if p in wanted[0] and p in installed and p not in other.packages]
    services = [s for s in gone.services if s in wanted[1] and s not in other.services]
    if not packages and not services:
        return other
    return InstalledProfile(other.name, (*other.packages, *packages), (*other.services, *services))


def _check_relations(profile: Profile, record: Sequence[InstalledProfile], known: Catalog, sid: int) -> None:
    have = [r.name for r in record]
    if profile.name in have:
        raise AshError(
            f"profile {profile.name} is already installed in snapshot {sid}",
            hint=f"to install it anew, remove it first ('ash profile remove {profile.name} {sid}')",
        )
    for other in have:
        theirs = known.profiles[other].conflicts if other in known.profiles else ()
        if other in profile.conflicts or profile.name in theirs:
            raise AshError(
                f"profile {profile.name} conflicts with profile {other}, which snapshot {sid} has",
                hint=f"remove it first ('ash profile remove {other} {sid}'), or install into another snapshot",
            )
    for needed in profile.requires:
        if needed not in have:
            raise AshError(
                f"profile {profile.name} requires profile {needed}, which snapshot {sid} does not have",
                hint=f"install it first: 'ash install-profile {needed} {sid}'",
            )


def systemctl(chroot: Chroot, *args: str) -> None:
    """``systemctl ARGS`` offline on the working copy: the snapshot's own in its chroot (which has no
    running systemd, so systemctl only changes files), else the host's with ``--root``."""
    if any(in_root(chroot.root, p).is_file() for p in ("usr/bin/systemctl", "bin/systemctl")):
        chroot.run(["systemctl", *args], env={"SYSTEMD_OFFLINE": "1"})
        return
    host = shutil.which("systemctl")
    if host is None:
        raise AshError(
            f"snapshot {chroot.snapshot} has no systemctl, and neither has this machine, to enable services with",
            hint="install systemd into the snapshot first",
        )
    run([host, f"--root={chroot.root}", *args])


def enable(chroot: Chroot, init: str, services: Sequence[str]) -> None:
    if not services:
        return
    if init == OPENRC:
        for service in services:
            chroot.run(["rc-update", "add", service, "default"])
    else:
        systemctl(chroot, "enable", "--", *services)


def disable(chroot: Chroot, init: str, services: Sequence[str]) -> None:
    """Disable ``services`` that are still there (a unit file the user removed is no error)."""
    if init == OPENRC:
        for service in services:
            if in_root(chroot.root, f"etc/init.d/{service}").exists():
                chroot.run(["rc-update", "del", service, "default"])
        return
    present = [s for s in services if any(in_root(chroot.root, f"{d}/{s}").exists() for d in UNIT_DIRS)]
    if present:
        systemctl(chroot, "disable", "--", *present)
