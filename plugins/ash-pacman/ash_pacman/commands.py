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
    """Rebuild the pacman keyring of a snapshot from its updated keyring packages.

    For "invalid or corrupted package (PGP signature)" and unknown-key errors: the keyring is
    deleted, created anew and filled from the keyring packages the snapshot has (its *-keyring
    packages, such as archlinux-keyring); then the package databases are fetched, those packages
    are reinstalled at their newest version, and the keyring is filled from them again. Upgrade the
    snapshot afterwards ('ash upgrade SNAPSHOT'): its databases may now be newer than its packages.
    """
    from ashcore.api import AshError, transaction

    from .pacman import fix_keyring
    from .plugin import NAME

    with transaction(snapshot) as (sid, chroot):
        if chroot.package_manager != NAME:
            raise AshError(f"snapshot {sid} is not managed by pacman but by {chroot.package_manager}")
        fix_keyring(chroot)
    print(f"fixdb: snapshot {sid} updated")
