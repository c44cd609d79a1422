"""Package operations on snapshots and on whole trees, each change a transaction of its own."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from ..errors import UsageError
from ..hooks.records import Package
from ..store.tree import BASE, InstalledProfile, Tree
from .system import System
from .trees import NothingToDo, TreeReport, for_each

if TYPE_CHECKING:
    from ..sandbox.chroot import Chroot

_BAD_NAME = re.compile(r"^-|[\s\x00-\x1f\x7f]")


def check_names(packages: Sequence[str]) -> list[str]:
    """Refuse package names a package manager could take for an option, or that cannot be names."""
    for name in packages:
        if not name or _BAD_NAME.search(name):
            raise UsageError(
                f"invalid package name {name!r}", hint="package names cannot start with '-' or hold spaces"
            )
    return list(packages)


def refuse_base(sid: int, what: str) -> None:
    if sid == BASE:
        raise UsageError(f"cannot {what} snapshot 0: it is the base", hint="change it only with 'ash base-update'")


def install(system: System, tree: Tree, sid: int, packages: Sequence[str]) -> None:
    """Install ``packages`` into snapshot ``sid`` (a transaction)."""
    with system.transaction(tree, sid, package_manager=True) as chroot:
        system.plugins.install(_plugin(chroot), chroot, packages)


def upgrade(system: System, tree: Tree, sid: int) -> None:
    """Refresh the indexes of snapshot ``sid`` and upgrade all its packages (a transaction)."""
    with system.transaction(tree, sid, package_manager=True) as chroot:
        system.plugins.upgrade(_plugin(chroot), chroot)


def refresh(system: System, tree: Tree, sid: int) -> None:
    """Refresh the package indexes of snapshot ``sid`` (a transaction)."""
    with system.transaction(tree, sid, package_manager=True) as chroot:
        system.plugins.refresh(_plugin(chroot), chroot)


def _plugin(chroot: Chroot) -> str:
    assert chroot.package_manager is not None  # transaction(package_manager=True) found one
    return chroot.package_manager


def installed(system: System, tree: Tree, sid: int) -> list[Package]:
    return installed_at(system, tree, system.store.snapshot_path(sid))


def installed_at(system: System, tree: Tree, root: Path) -> list[Package]:
    """The packages of the root filesystem at ``root`` (a snapshot or a working copy)."""
    plugin = system.plugins.package_manager_of(root, tree.distro)
    return sorted(system.plugins.list_packages(plugin, root), key=lambda p: p.name)


def remove(system: System, tree: Tree, sid: int, packages: Sequence[str]) -> None:
    """Remove from snapshot ``sid`` those of ``packages`` it has (none: :class:`NothingToDo`)."""
    have = {p.name for p in installed(system, tree, sid)}
    present = [name for name in packages if name in have or name.split(":")[0] in have]  # apt's name:arch
    if not present:
        raise NothingToDo(f"snapshot {sid} has none of {', '.join(packages)} installed", hint=f"see 'ash list {sid}'")
    with system.transaction(tree, sid, package_manager=True) as chroot:
        system.plugins.remove(_plugin(chroot), chroot, present)


@attrs.define
class Diff:
    added: list[Package]
    removed: list[Package]
    changed: list[tuple[Package, Package]]
    #: names of the installed profiles (the tree's records) the new snapshot has and the old lacks, and back
    profiles_added: list[str] = attrs.field(factory=list)
    profiles_removed: list[str] = attrs.field(factory=list)

    def to_json(self) -> dict:
        return {
            "added": [attrs.asdict(p) for p in self.added],
            "removed": [attrs.asdict(p) for p in self.removed],
            "changed": [{"name": a.name, "from": a.version, "to": b.version} for a, b in self.changed],
            "profiles": {"added": self.profiles_added, "removed": self.profiles_removed},
        }


def diff(
    old: list[Package], new: list[Package], old_profiles: Sequence[str] = (), new_profiles: Sequence[str] = ()
) -> Diff:
    a, b = {p.name: p for p in old}, {p.name: p for p in new}
    return Diff(
        added=[b[n] for n in sorted(b.keys() - a.keys())],
        removed=[a[n] for n in sorted(a.keys() - b.keys())],
        changed=[(a[n], b[n]) for n in sorted(a.keys() & b.keys()) if a[n].version != b[n].version],
        profiles_added=[n for n in new_profiles if n not in old_profiles],
        profiles_removed=[n for n in old_profiles if n not in new_profiles],
    )


def missing_from(parent: list[Package], child: list[Package]) -> list[Package]:
    """Packages the parent installed explicitly and the child does not have at all."""
    have = {p.name for p in child}
    return [p for p in parent if p.explicit and p.name not in have]


def sync(system: System, tree: Tree, root: int, *, upgrade: bool) -> TreeReport:
    """Upgrade ``root`` and its descendants (with ``upgrade``) and install into each descendant what
    its parent has and it lacks, parents first. Each snapshot changes in one transaction, so one
    that fails is left exactly as it was."""

    def missing(child_root: Path, sid: int) -> list[Package]:
        parent = tree[sid].parent
        if sid == root or parent is None:
            return []
        return missing_from(installed(system, tree, parent), installed_at(system, tree, child_root))

    def lacking(sid: int) -> list[InstalledProfile]:
        """The parent's installed profiles that the child's record does not have."""
        parent = tree[sid].parent
        if sid == root or parent is None or not system.plugins.implementers("ash_sync_profiles"):
            return []
        have = {p.name for p in tree[sid].profiles}
        return [p for p in tree[parent].profiles if p.name not in have]

    def step(sid: int) -> None:
        packages = None if upgrade else missing(system.store.snapshot_path(sid), sid)
        if packages == [] and not lacking(sid):
            raise NothingToDo(
                "it has its parent's packages" if sid != root else "the root of the tree: nothing to sync it from"
            )
        profiles: list[InstalledProfile] = []
        with system.transaction(tree, sid, package_manager=True, profiles=profiles) as chroot:
            plugin = _plugin(chroot)
            if upgrade:
                system.plugins.upgrade(plugin, chroot)
                packages = missing(chroot.root, sid)  # what the upgraded copy lacks
            parent = tree[sid].parent
            if packages:
                assert parent is not None  # missing() found packages only below the root
                system.plugins.sync(plugin, chroot, system.store.snapshot_path(parent), packages)
            if inherited := lacking(sid):  # after the packages: what the parent's profiles did besides
                system.plugins.sync_profiles(chroot, inherited, profiles)

    return for_each(tree, root, step)


def run_in(system: System, tree: Tree, sid: int, argv: Sequence[str]) -> int:
    """Run ``argv`` in a transaction on ``sid``; keep the change only if it exits 0."""
    refuse_base(sid, "change")
    if not argv or not argv[0]:
        raise UsageError("no command to run", hint="give the program and its arguments after the snapshot")
    status = 0

    class Discard(Exception):
        pass

    try:
        with system.transaction(tree, sid) as chroot:
            status = chroot.run(argv, check=False, stdin=None).returncode
            if status != 0:
                raise Discard
    except Discard:
        print(f"ash: '{argv[0]}' exited with status {status}; snapshot {sid} left unchanged", file=sys.stderr)
    return status
