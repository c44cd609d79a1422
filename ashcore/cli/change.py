"""Commands that change snapshots: commands and shells in them, packages, whole trees."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import AshError
from .app import COMMAND_ARGS, Command, Packages, Snap, Tree_, command, state

if TYPE_CHECKING:
    from ..ops.system import System
    from ..ops.trees import TreeReport
    from ..store.tree import Tree


def _run_exit(status: int) -> None:
    if status:
        raise typer.Exit(status)


@command("chroot", "chr", "cr")
def chroot_cmd(snapshot: Snap) -> None:
    """Open a shell in a snapshot; changes are kept only if the shell exits with status 0."""
    from ..ops import packages

    s = state()
    with s.system.changing() as tree:
        sid = s.store.require(tree, snapshot).id
        _run_exit(packages.run_in(s.system, tree, sid, [login_shell(s.store.snapshot_path(sid))]))


def login_shell(root: Path) -> str:
    """root's login shell in the root filesystem at ``root``, if it has it, else ``/bin/sh``."""
    from ..fs.files import in_root

    try:
        for line in in_root(root, "etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == "root" and len(fields) > 6 and in_root(root, fields[6]).exists():
                return fields[6]
    except OSError:
        pass
    return "/bin/sh"


@command("run", context_settings=COMMAND_ARGS)
def run_cmd(snapshot: Snap, argv: Command) -> None:
    """Run a command in a snapshot; changes are kept only if it exits with status 0."""
    from ..ops import packages

    s = state()
    with s.system.changing() as tree:
        _run_exit(packages.run_in(s.system, tree, s.store.require(tree, snapshot).id, argv))


@command("tree-run", "trun", context_settings=COMMAND_ARGS)
def tree_run_cmd(tree_: Tree_, argv: Command) -> None:
    """Run a command in a snapshot and each of its descendants (each its own transaction)."""
    from ..ops import packages
    from ..ops.trees import for_each

    s = state()
    with s.system.changing() as tree:
        root = s.store.require(tree, tree_).id

        def action(sid: int) -> None:
            if packages.run_in(s.system, tree, sid, argv):
                raise AshError(f"'{argv[0]}' failed")

        report = for_each(tree, root, action)
    report.print("tree-run")
    report.check("tree-run")


# -- packages (through the package-manager plugin of each snapshot's distribution) --------------

Change = Callable[["System", "Tree", int], None]  # work on one snapshot


def _change(snapshot: str, what: str, work: Change, allow_base: bool = False, done: str = "updated") -> None:
    """Apply ``work(system, tree, sid)`` to one snapshot (never the base, unless allowed)."""
    from ..ops.packages import refuse_base

    s = state()
    with s.system.changing() as tree:
        sid = s.store.require(tree, snapshot).id
        if not allow_base:
            refuse_base(sid, what)
        work(s.system, tree, sid)
    print(f"{what}: snapshot {sid} {done}")


PACKAGE_ARGS = {"ignore_unknown_options": True}


@command("install", "in", context_settings=PACKAGE_ARGS)
def install_cmd(
    snapshot: Snap,
    names: Packages,
    live: Annotated[
        bool,
        typer.Option("--live", "-l", help="Also install into the running system (SNAPSHOT must be the one it runs)."),
    ] = False,
) -> None:
    """Install packages into a snapshot (and with --live into the running system too)."""
    from ..ops import live as live_ops
    from ..ops import packages

    names = packages.check_names(names)
    if not live:
        _change(snapshot, "install", lambda system, tree, sid: packages.install(system, tree, sid, names))
    else:
        _change(
            snapshot,
            "install",
            lambda system, tree, sid: live_ops.install_live(system, tree, sid, names),
            done="updated, and the running system too",
        )


@command("remove", "uninstall", "rmpkg", context_settings=PACKAGE_ARGS)
def remove_cmd(snapshot: Snap, names: Packages) -> None:
    """Remove packages from a snapshot (those it has; none of them is an error)."""
    from ..ops import packages

    names = packages.check_names(names)
    _change(snapshot, "remove", lambda system, tree, sid: packages.remove(system, tree, sid, names))


@command("upgrade", "up")
def upgrade_cmd(snapshot: Snap) -> None:
    """Refresh the package indexes and upgrade every package of a snapshot."""
    from ..ops import packages

    _change(snapshot, "upgrade", packages.upgrade)


@command("refresh", "ref")
def refresh_cmd(snapshot: Snap) -> None:
    """Refresh the package indexes of a snapshot."""
    from ..ops import packages

    _change(snapshot, "refresh", packages.refresh)


@command("base-update", "bu")
def base_update_cmd() -> None:
    """Upgrade the base snapshot 0 (the only way to change it)."""
    from ..ops import packages

    _change("0", "base-update", packages.upgrade, allow_base=True)


def _tree_op(tree_arg: str, what: str, work: Callable[[System, Tree, int], TreeReport]) -> None:
    s = state()
    with s.system.changing() as tree:
        report = work(s.system, tree, s.store.require(tree, tree_arg).id)
    report.print(what)
    report.check(what)


@command("sync", "tree-sync", "tsync")
def sync_cmd(tree_: Tree_) -> None:
    """Upgrade a tree, then install into each descendant what its parent has and it lacks."""
    from ..ops import packages

    _tree_op(tree_, "sync", lambda system, tree, root: packages.sync(system, tree, root, upgrade=True))


@command("force-sync", "fsync")
def force_sync_cmd(tree_: Tree_) -> None:
    """Like sync, without upgrading first."""
    from ..ops import packages

    _tree_op(tree_, "force-sync", lambda system, tree, root: packages.sync(system, tree, root, upgrade=False))


@command("tree-upgrade", "tupgrade", "tup")
def tree_upgrade_cmd(tree_: Tree_) -> None:
    """Upgrade a snapshot and each of its descendants."""
    from ..ops import packages
    from ..ops.trees import for_each

    def work(system: System, tree: Tree, root: int) -> TreeReport:
        return for_each(tree, root, lambda sid: packages.upgrade(system, tree, sid))

    _tree_op(tree_, "tree-upgrade", work)


@command("tree-rmpkg", "tremove", context_settings=PACKAGE_ARGS)
def tree_rmpkg_cmd(tree_: Tree_, names: Packages) -> None:
    """Remove packages from a snapshot and each of its descendants (skipping those without them)."""
    from ..ops import packages
    from ..ops.trees import for_each

    names = packages.check_names(names)

    def work(system: System, tree: Tree, root: int) -> TreeReport:
        return for_each(tree, root, lambda sid: packages.remove(system, tree, sid, names))

    _tree_op(tree_, "tree-rmpkg", work)
