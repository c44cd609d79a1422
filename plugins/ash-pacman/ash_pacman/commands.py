"""The pacman plugin's commands; imported only when one of them runs."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)


@app.command()
def fixdb(
    snapshot: Annotated[
        str, typer.Argument(metavar="SNAPSHOT", help="Snapshot number (see 'ash tree').", show_default=False)
    ],
) -> None:
    """Re-initialise and repopulate the pacman keyring of a snapshot.

    For "invalid or corrupted package (PGP signature)" and unknown-key errors: the keyring is
    deleted, created anew and filled from the keyring packages the snapshot has (install or
    upgrade them first with 'ash install SNAPSHOT archlinux-keyring' if they are too old).
    """
    from ashcore.cli import state
    from ashcore.errors import AshError

    from .pacman import fix_keyring
    from .plugin import NAME

    s = state()
    with s.system.changing() as tree:
        sid = s.store.require(tree, snapshot).id
        with s.system.transaction(tree, sid, package_manager=True) as chroot:
            if chroot.package_manager != NAME:
                raise AshError(f"snapshot {sid} is not managed by pacman but by {chroot.package_manager}")
            fix_keyring(chroot)
    print(f"fixdb: snapshot {sid} updated")
