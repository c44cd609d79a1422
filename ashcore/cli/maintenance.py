"""Commands that create and repair the store: init, check, tmp, unlock."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import AshError
from .app import Snap, command, state


@command("tmp", "tmpclear")
def tmp_cmd() -> None:
    """Remove working copies left behind by an interrupted ash, and wait until their space is free."""
    from ..fs import btrfs

    s = state()
    with s.system.changing():  # which cleans up and reports what it removed
        btrfs.wait_deleted(s.store.path)


@command("unlock", "ul")
def unlock_cmd(snapshot: Snap) -> None:
    """Clear what an interrupted ash left on a snapshot (its working copy)."""
    from ..fs import btrfs

    s = state()
    with s.system.changing() as tree:
        btrfs.ensure_absent(s.store.work_path(s.store.require(tree, snapshot).id))


@command("check", "fsck")
def check_cmd() -> None:
    """Check the tree file against the snapshots on disk and repair it."""
    from ..boot import menu

    system = state().system
    with system.changing(thorough=True) as tree:
        count = len(tree.snapshots)
        boot = system.store.deployments.load(quiet=True)
    for message in system.repairs:
        print(message)
    if (why := menu.missing_default(system.store, boot)) is not None:
        assert boot.default is not None
        raise AshError(
            f"{why}: the machine cannot boot it", hint=f"deploy it again: 'ash deploy {boot.default.snapshot}'"
        )
    print(f"ok: {count} snapshots, {'repaired' if system.repairs else 'nothing to repair'}")
    from ..ops import update

    if (last := update.read_record(system)["last"]) is not None:
        print(update.summary(last))


@command("init")
def init_cmd(
    source: Annotated[
        Path | None,
        typer.Option("--from", help="Directory or tar archive holding the base root filesystem."),
    ] = None,
    bootstrap: Annotated[
        str | None, typer.Option("--bootstrap", metavar="DISTRO", help="Bootstrap the base with a distro plugin.")
    ] = None,
    release: Annotated[
        str | None, typer.Option("--release", help="Release/suite to bootstrap (e.g. bookworm).")
    ] = None,
    mirror: Annotated[str | None, typer.Option("--mirror", help="Package mirror to bootstrap from.")] = None,
    variant: Annotated[str | None, typer.Option("--variant", help="Bootstrap variant (e.g. minbase).")] = None,
    include: Annotated[list[str], typer.Option("--include", help="Extra package for the base (repeatable).")] = [],  # noqa: B006
    distro: Annotated[str | None, typer.Option("--distro", help="Record this distro instead of detecting it.")] = None,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", help="Keep packages downloaded by --bootstrap here.")
    ] = None,
) -> None:
    """Create the snapshot store at the sysroot, with snapshot 0 as the base."""
    from ..hooks.records import BootstrapOptions
    from ..ops import snapshots

    s = state()
    s.system.check_can_change()
    fill = None
    if bootstrap:
        options = BootstrapOptions(
            distro=bootstrap,
            release=release,
            mirror=mirror,
            variant=variant,
            packages=tuple(include),
            cache_dir=cache_dir,
        )
        fill = snapshots.bootstrap_into(s.system, options)
    tree = snapshots.init(s.store, source=source, distro=distro or bootstrap, fill=fill)
    print(f"created the snapshot store at {s.store.path} with base snapshot 0 ({tree.distro or 'unknown distro'})")
