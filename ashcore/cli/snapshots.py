"""Commands that make, describe and remove snapshots."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from ..console import interactive, unbytes
from ..errors import AshError, UsageError
from .app import DescOpt, Snap, YesOpt, command, state


@command("desc", "description")
def desc_cmd(snapshot: Snap, text: Annotated[list[str], typer.Argument(metavar="TEXT...")]) -> None:
    """Set the description of a snapshot."""
    s = state()
    with s.system.changing() as tree:
        s.store.require(tree, snapshot).description = unbytes(" ".join(text))
        s.store.save(tree)


def _copy(snapshot: str, parent_of: Callable, description: Callable[[int], str]) -> None:
    from ..ops import snapshots

    s = state()
    with s.system.changing() as tree:
        source = s.store.require(tree, snapshot).id
        new = snapshots.copy(s.system, tree, source, parent_of(tree, source), unbytes(description(source)))
    print(new)


@command("clone", "cl", "tree-clone")
def clone_cmd(snapshot: Snap, desc: DescOpt = None) -> None:
    """Copy a snapshot as the root of a new tree; prints the new number."""
    _copy(snapshot, lambda tree, src: None, lambda src: desc or f"clone of {src}")


@command("branch", "add-branch")
def branch_cmd(snapshot: Snap, desc: DescOpt = None) -> None:
    """Copy a snapshot as a new child of itself."""
    _copy(snapshot, lambda tree, src: src, lambda src: desc or f"branch of {src}")


@command("cbranch", "clone-branch", "cb")
def cbranch_cmd(snapshot: Snap, desc: DescOpt = None) -> None:
    """Copy a snapshot as a sibling (a new child of its parent)."""
    _copy(snapshot, lambda tree, src: tree[src].parent, lambda src: desc or f"clone of {src}")


@command("ubranch", "clone-under", "cu")
def ubranch_cmd(
    parent: Annotated[str, typer.Argument(metavar="PARENT", help="The new snapshot's parent.")],
    snapshot: Snap,
    desc: DescOpt = None,
) -> None:
    """Copy SNAPSHOT as a new child of PARENT (sync the tree afterwards)."""
    _copy(snapshot, lambda tree, src: state().store.require(tree, parent).id, lambda src: desc or f"clone of {src}")


@command("clone-tree", "ct")
def clone_tree_cmd(snapshot: Snap) -> None:
    """Copy a snapshot and all its descendants, keeping their shape."""
    from ..ops import snapshots

    s = state()
    with s.system.changing() as tree:
        new = snapshots.copy_tree(s.system, tree, s.store.require(tree, snapshot).id)
    print(new)


@command("new", "new-tree")
def new_cmd(desc: DescOpt = None) -> None:
    """Start a new tree from the base snapshot 0."""
    _copy("0", lambda tree, src: None, lambda src: desc or "clone of base")


@command("del", "delete", "rm-snapshot")
def del_cmd(snapshots_: Annotated[list[str], typer.Argument(metavar="SNAPSHOT...")], yes: YesOpt = False) -> None:
    """Delete snapshots with all their descendants."""
    from ..ops import snapshots

    s = state()
    with s.system.changing() as tree:
        doomed = snapshots.deletable(s.system, tree, [s.store.require(tree, t).id for t in snapshots_])
        if not yes:
            if not interactive():
                raise UsageError("refusing to delete without confirmation", hint="pass -y to delete without asking")
            if not typer.confirm(f"Delete snapshot(s) {', '.join(map(str, sorted(doomed)))}?", default=False):
                raise AshError("nothing deleted")
        for sid in snapshots.delete(s.system, tree, doomed):
            print(f"deleted snapshot {sid}")


def _set_mutable(snapshot: str, mutable: bool) -> None:
    from ..ops import snapshots

    s = state()
    with s.system.changing() as tree:
        snapshots.set_mutable(s.system, tree, s.store.require(tree, snapshot).id, mutable)


@command("mutable", "immdis", "disable-immutability")
def mutable_cmd(snapshot: Snap) -> None:
    """Make a snapshot mutable (writable when deployed; its later children are mutable too)."""
    _set_mutable(snapshot, True)


@command("immutable", "immen", "enable-immutability")
def immutable_cmd(snapshot: Snap) -> None:
    """Make a snapshot immutable (read-only) again."""
    _set_mutable(snapshot, False)
