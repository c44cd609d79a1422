"""Package operations on snapshots and on whole trees, each change a transaction of its own."""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from .errors import AshError, UsageError
from .models import Package
from .run import say_error
from .system import System
from .tree import BASE, Tree

_BAD_NAME = re.compile(r"^-|[\s\x00-\x1f\x7f]")


def check_names(packages: Sequence[str]) -> list[str]:
    """Refuse package names a package manager could take for an option, or that cannot be names."""
    for name in packages:
        if not name or _BAD_NAME.search(name):
            raise UsageError(f"invalid package name {name!r}", hint="package names cannot start with '-' or hold spaces")
    return list(packages)


def refuse_base(sid: int, what: str) -> None:
    if sid == BASE:
        raise UsageError(f"cannot {what} snapshot 0: it is the base", hint="change it only with 'ash base-update'")


def change(system: System, tree: Tree, sid: int, hook: str, **kwargs) -> None:
    """Run one package-manager hook on snapshot ``sid`` inside a transaction."""
    with system.transaction(tree, sid, package_manager=True) as chroot:
        system.plugins.call_package_manager(chroot.package_manager, hook, chroot=chroot, **kwargs)


def install_live(system: System, tree: Tree, sid: int, packages: Sequence[str]) -> None:
    """Install into snapshot ``sid`` (a transaction), then the same into the running deployment,
    which must have been deployed from ``sid``: the packages work at once, without a reboot."""
    from .deploy import in_step, mark_in_step, running

    booted = running(system)
    if booted.snapshot != sid:
        raise UsageError(
            f"--live installs only into the snapshot the system runs, {booted.snapshot}, not {sid}",
            hint=f"drop --live, or deploy {sid} and reboot first",
        )
    was_in_step = in_step(system, booted)
    change(system, tree, sid, "ash_install", packages=packages)
    try:
        with system.live_chroot(tree) as chroot:
            plugin = chroot.package_manager or system.plugins.package_manager_of(chroot.root, tree.distro)
            system.plugins.call_package_manager(plugin, "ash_install", chroot=chroot, packages=packages)
    except AshError as exc:
        raise AshError(
            f"installed into snapshot {sid}, but not into the running system: {exc.message}",
            hint="the packages arrive with the next boot of a deployment of that snapshot",
        ) from None
    if was_in_step:  # both had the same change: 'ash etc-update' may still save /etc into it
        mark_in_step(system, booted)


def installed(system: System, tree: Tree, sid: int) -> list[Package]:
    return installed_at(system, tree, system.store.snapshot_path(sid))


def installed_at(system: System, tree: Tree, root: Path) -> list[Package]:
    """The packages of the root filesystem at ``root`` (a snapshot or a working copy)."""
    plugin = system.plugins.package_manager_of(root, tree.distro)
    return sorted(system.plugins.call_package_manager(plugin, "ash_list_packages", root=root) or [], key=lambda p: p.name)


class NothingToDo(AshError):
    """The snapshot has nothing the command could change; tree operations skip it."""


def remove(system: System, tree: Tree, sid: int, packages: Sequence[str]) -> None:
    """Remove from snapshot ``sid`` those of ``packages`` it has (none: :class:`NothingToDo`)."""
    have = {p.name for p in installed(system, tree, sid)}
    present = [name for name in packages if name in have or name.split(":")[0] in have]  # apt's name:arch
    if not present:
        raise NothingToDo(
            f"snapshot {sid} has none of {', '.join(packages)} installed", hint=f"see 'ash list {sid}'"
        )
    change(system, tree, sid, "ash_remove", packages=present)


@attrs.define
class Diff:
    added: list[Package]
    removed: list[Package]
    changed: list[tuple[Package, Package]]

    def to_json(self) -> dict:
        return {
            "added": [attrs.asdict(p) for p in self.added],
            "removed": [attrs.asdict(p) for p in self.removed],
            "changed": [{"name": a.name, "from": a.version, "to": b.version} for a, b in self.changed],
        }


def diff(old: list[Package], new: list[Package]) -> Diff:
    a, b = {p.name: p for p in old}, {p.name: p for p in new}
    return Diff(
        added=[b[n] for n in sorted(b.keys() - a.keys())],
        removed=[a[n] for n in sorted(a.keys() - b.keys())],
        changed=[(a[n], b[n]) for n in sorted(a.keys() & b.keys()) if a[n].version != b[n].version],
    )


def missing_from(parent: list[Package], child: list[Package]) -> list[Package]:
    """Packages the parent installed explicitly and the child does not have at all."""
    have = {p.name for p in child}
    return [p for p in parent if p.explicit and p.name not in have]


@attrs.define
class TreeReport:
    """What a tree-wide operation did to each snapshot."""

    done: list[int] = attrs.field(factory=list)
    failed: dict[int, str] = attrs.field(factory=dict)
    skipped: dict[int, str] = attrs.field(factory=dict)

    def print(self, what: str) -> None:
        if self.done:
            print(f"{what}: done in {', '.join(map(str, sorted(self.done)))}")
        for sid, why in self.skipped.items():
            print(f"{what}: skipped {sid} ({why})")
        for sid, why in self.failed.items():
            print(f"{what}: FAILED in {sid}: {why}", file=sys.stderr)

    def fail(self, sid: int, error: Exception) -> None:
        """Record why snapshot ``sid`` failed, and say it at once (with --debug, where it came from
        too, unless it is an :class:`AshError`)."""
        self.failed[sid] = say_error(error, f"snapshot {sid}: ")

    def check(self, what: str) -> None:
        if self.failed:
            raise AshError(f"{what} failed in snapshot(s) {', '.join(map(str, self.failed))}; the others were done")


def for_each(tree: Tree, root: int, action: Callable[[int], None], report: TreeReport | None = None) -> TreeReport:
    """Apply ``action`` to ``root`` and every descendant, parents first; a failure in one snapshot,
    whatever it is, stops no other (only Ctrl-C and exits stop them all)."""
    report = report or TreeReport()
    for sid in tree.subtree(root):
        if sid == BASE:
            report.skipped[sid] = "the base changes only with base-update"
            continue
        try:
            action(sid)
        except NothingToDo as exc:
            report.skipped[sid] = exc.message
        except Exception as exc:
            report.fail(sid, exc)
        else:
            report.done.append(sid)
    return report


def sync(system: System, tree: Tree, root: int, *, upgrade: bool) -> TreeReport:
    """Upgrade ``root`` and its descendants (with ``upgrade``) and install into each descendant what
    its parent has and it lacks, parents first. Each snapshot changes in one transaction, so one
    that fails is left exactly as it was."""

    def missing(child_root: Path, sid: int) -> list[Package]:
        parent = tree[sid].parent
        if sid == root or parent is None:
            return []
        return missing_from(installed(system, tree, parent), installed_at(system, tree, child_root))

    def step(sid: int) -> None:
        packages = None if upgrade else missing(system.store.snapshot_path(sid), sid)
        if packages == []:
            raise NothingToDo("it has its parent's packages" if sid != root else "the root of the tree: nothing to sync it from")
        with system.transaction(tree, sid, package_manager=True) as chroot:
            call = functools.partial(system.plugins.call_package_manager, chroot.package_manager, chroot=chroot)
            if upgrade:
                call("ash_upgrade")
                packages = missing(chroot.root, sid)  # what the upgraded copy lacks
            if packages:
                call("ash_sync", parent=system.store.snapshot_path(tree[sid].parent), packages=packages)

    return for_each(tree, root, step)


def run_in(system: System, tree: Tree, sid: int, argv: Sequence[str]) -> int:
    """Run ``argv`` in a transaction on ``sid``; keep the change only if it exits 0."""
    refuse_base(sid, "change")
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
