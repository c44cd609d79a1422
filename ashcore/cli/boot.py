"""Commands about what boots and runs: deploy, rollback, auto-upgrade, status, etc-update, live-chroot,
self-update.

The modules doing the work are imported inside each command so ``ash --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ..console import emit_json, warn
from ..errors import AshError
from .app import JsonOpt, Snap, command, state


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


@command("auto-upgrade", "update")
def auto_upgrade_cmd(
    scheduled: Annotated[
        bool, typer.Option("--scheduled", help="Do nothing when /etc/ash/update.conf says enabled = false (the timer).")
    ] = False,
) -> None:
    """Clone the deployed snapshot, upgrade the clone, check it, and deploy it if it changed and passed."""
    from ..ops import update

    s = state()
    config = update.load_config(s.store.sysroot)
    if scheduled and not config.enabled:
        print("auto-upgrade: disabled in /etc/ash/update.conf")
        return
    with s.system.changing() as tree:
        out = update.auto_upgrade(s.system, tree, config)
    for check in out.checks:
        if not check.passed and not check.required:
            warn(f"check {check.name} failed (wanted, not required): {check.reason}")
    if out.outcome == "unchanged":
        print(f"auto-upgrade: snapshot {out.base} is up to date; nothing was deployed")
    elif out.outcome == "deployed":
        print(f"auto-upgrade: deployed snapshot {out.snapshot} (snapshot {out.base} upgraded); it boots next")
        for sid in out.deleted:
            print(f"auto-upgrade: deleted the older automatic snapshot {sid}")
        if update.reboot_due(config) and s.store.booted() is not None:
            from ..process import run

            run(["systemctl", "reboot"])
    else:
        kept = f"; snapshot {out.snapshot} is kept for inspection" if out.kept else ""
        raise AshError(f"the update was not deployed: {out.outcome} ({out.reason}){kept}", hint="see 'ash status'")


@command("status", "st")
def status_cmd(as_json: JsonOpt = False) -> None:
    """Show what is deployed and booted, and what the last automatic update did (read-only)."""
    from ..ops import update

    s = state()
    last = update.read_record(s.system)["last"]
    data = {"deployed": s.store.deployed(), "booted": s.store.booted(), "last_update": last}
    if as_json:
        emit_json(data)
        return
    print(f"deployed: {_or_none(data['deployed'])}, booted: {_or_none(data['booted'])}")
    if last is None:
        print("last update: none yet")
        return
    print(update.summary(last))
    for check in last["checks"]:
        mark = "ok" if check["passed"] else ("FAILED" if check["required"] else "failed (wanted)")
        print(f"  check {check['name']}: {mark}{': ' + check['reason'] if check['reason'] else ''}")
    changes = last.get("changes") or {}
    for p in changes.get("added", []):
        print(f"  + {p['name']} {p['version']}")
    for p in changes.get("removed", []):
        print(f"  - {p['name']} {p['version']}")
    for c in changes.get("changed", []):
        print(f"  ~ {c['name']} {c['from']} -> {c['to']}")


def _or_none(sid: int | None) -> str:
    return "none" if sid is None else f"snapshot {sid}"


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
    from . import completion, manpage

    s = state()
    with s.system.changing() as tree:
        for sid in [s.store.require(tree, t).id for t in snapshots]:
            refuse_base(sid, "update ash in")
            with s.system.transaction(tree, sid) as chroot:
                install_ash(s.system, chroot, tree, {manpage.PATH: manpage.render(), **completion.scripts()})
            print(f"self-update: snapshot {sid} has ash {__version__}")
