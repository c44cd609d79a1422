"""Commands about what boots and runs: deploy, rollback, etc-update, live-chroot, self-update.

The modules doing the work are imported inside each command so ``ash --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .app import Snap, command, state


@command("deploy", "dep")
def deploy_cmd(snapshot: Snap) -> None:
    """Make a snapshot the one that boots next (root read-only, /etc writable); the one booted now stays in the menu."""
    from ..boot import deploy

    s = state()
    with s.system.changing() as tree:
        done = deploy.deploy(s.system.plugins, s.store, tree, s.store.require(tree, snapshot).id)
    print(f"deployed snapshot {done.snapshot} (deployment {done.id}); it boots next")


@command("rollback", "rb")
def rollback_cmd() -> None:
    """Make the previous deployment the default again."""
    from ..boot import deploy

    s = state()
    with s.system.changing() as tree:
        done = deploy.rollback(s.system.plugins, s.store, tree)
    print(f"rolled back to snapshot {done.snapshot} (deployment {done.id}); it boots next")


@command("etc-update", "etc")
def etc_update_cmd() -> None:
    """Save the running system's /etc into the snapshot it was deployed from."""
    from ..ops import live

    s = state()
    with s.system.changing() as tree:
        sid = live.etc_update(s.system, tree)
    print(f"etc-update: /etc saved into snapshot {sid}")


@command("live-chroot", "lc")
def live_chroot_cmd() -> None:
    """Open a shell in the running deployment; its changes apply now and are gone after the next deploy."""
    from ..sandbox.chroot import Bind
    from .change import login_shell

    s = state()
    home = s.store.sysroot / "home"
    with (
        s.system.changing() as tree,
        s.system.live_chroot(tree, (Bind(home, "/home", readonly=False),) if home.is_dir() else ()) as chroot,
    ):
        status = chroot.run([login_shell(chroot.root)], check=False, stdin=None).returncode
    if status:
        raise typer.Exit(status)


@command("self-update")
def self_update_cmd(
    snapshots: Annotated[list[str], typer.Argument(metavar="SNAPSHOT...", help="Snapshots to update (not 0).")],
) -> None:
    """Reinstall ash and its plugins, as the running ash has them, into snapshots; deploy one to use it."""
    from .. import __version__
    from ..install.selfcopy import install_ash
    from ..ops.packages import refuse_base

    s = state()
    with s.system.changing() as tree:
        for sid in [s.store.require(tree, t).id for t in snapshots]:
            refuse_base(sid, "update ash in")
            with s.system.transaction(tree, sid) as chroot:
                install_ash(s.system, chroot, tree)
            print(f"self-update: snapshot {sid} has ash {__version__}")
