"""The ``ash`` command line.

Commands keep the seed's names and positional forms (``ash install <snapshot> <package>...``).
Plugins add commands through the ``ash_commands`` hook; they are imported only when used, so the
plain commands never pay for plugins.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

from . import __version__
from .errors import AshError, UsageError
from .store import Store

if TYPE_CHECKING:
    from .system import System

Snap = Annotated[str, typer.Argument(metavar="SNAPSHOT", help="Snapshot number (see 'ash tree').", show_default=False)]
Tree_ = Annotated[str, typer.Argument(metavar="TREE", help="Snapshot whose subtree to work on.", show_default=False)]
Packages = Annotated[list[str], typer.Argument(metavar="PACKAGE...", help="Package names, passed verbatim.", show_default=False)]
Command = Annotated[list[str], typer.Argument(metavar="COMMAND...", help="Program and arguments (no shell).", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DescOpt = Annotated[str | None, typer.Option("--desc", "-d", help="Description of the new snapshot.")]

COMMAND_ARGS = {"allow_interspersed_args": False, "ignore_unknown_options": True}


class Builtin:
    """A built-in command, turned into a click command only when it is used (start-up time)."""

    def __init__(self, func: Callable, settings: dict, hidden: bool) -> None:
        self.func, self.settings, self.hidden = func, settings, hidden

    def build(self, name: str):
        single = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)
        single.command(name, **self.settings)(self.func)
        return typer.main.get_command(single)

    @property
    def summary(self) -> str:
        return (self.func.__doc__ or "").strip().splitlines()[0]


BUILTINS: dict[str, Builtin] = {}


class AshGroup(TyperGroup):
    """Built-in commands, then plugin commands; each is built or imported only when asked for."""

    def _plugin_commands(self, ctx) -> dict:
        # Runs before the group callback: build the state from the options parsed so far.
        global _STATE
        if _STATE is None:
            _STATE = State.from_params(ctx.params)
        if _STATE.plugin_commands is None:
            _STATE.plugin_commands = _STATE.system.plugins.commands(set(BUILTINS))
        return _STATE.plugin_commands

    def list_commands(self, ctx) -> list[str]:
        return [*(n for n, b in BUILTINS.items() if not b.hidden), *sorted(self._plugin_commands(ctx))]

    def format_commands(self, ctx, formatter) -> None:
        """List commands from their docstrings, without building (or importing) any of them."""
        rows = [(n, b.summary) for n, b in BUILTINS.items() if not b.hidden]
        rows += [(n, spec.help) for n, spec in sorted(self._plugin_commands(ctx).items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_command(self, ctx, name: str):
        if name in BUILTINS:
            return BUILTINS[name].build(name)
        spec = self._plugin_commands(ctx).get(name)
        if spec is None:
            return None
        import importlib

        module, _, attr = spec.target.partition(":")
        try:
            command = typer.main.get_command(getattr(importlib.import_module(module), attr))
        except Exception as exc:  # noqa: BLE001 - a broken plugin command must not take ash down
            from .plugins import warn

            warn(f"command '{name}' ({spec.target}) failed to load ({type(exc).__name__}: {exc})")
            return None
        command.name = name
        command.help = command.help or spec.help
        return command


app = typer.Typer(
    cls=AshGroup,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="Run Linux as an immutable tree of btrfs snapshots.\n\n"
    "Software goes into snapshots with the distribution's own package manager; one snapshot is "
    "deployed and booted read-only, and the previous one stays bootable.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


class State:
    """The global options of one ``ash`` invocation and the system they point at."""

    def __init__(self, sysroot: Path, allow_chroot: bool, third_party: bool | None) -> None:
        self.sysroot = sysroot
        self.allow_chroot = allow_chroot
        self.third_party = third_party
        self.plugin_commands: dict | None = None
        self._system: System | None = None

    @classmethod
    def from_params(cls, params: dict) -> State:
        if params.get("debug"):
            os.environ["ASH_DEBUG"] = "1"
        return cls(
            sysroot=Path(params.get("sysroot") or "/").resolve(),
            allow_chroot=bool(params.get("chroot")),
            third_party=False if params.get("no_third_party") else None,
        )

    @property
    def system(self) -> System:
        if self._system is None:
            from .system import System  # not needed (nor imported) by the read-only commands

            self._system = System(self.sysroot, allow_chroot=self.allow_chroot, third_party=self.third_party)
        return self._system

    @property
    def store(self) -> Store:
        return self._system.store if self._system else Store(self.sysroot)


_STATE: State | None = None


def state() -> State:
    assert _STATE is not None
    return _STATE


def command(name: str, *aliases: str, **settings) -> Callable:
    """Register a built-in command under ``name`` (and hidden ``aliases``)."""

    def register(func: Callable) -> Callable:
        BUILTINS[name] = Builtin(func, settings, hidden=False)
        for alias in aliases:
            BUILTINS[alias] = Builtin(func, settings, hidden=True)
        return func

    return register


def version_callback(value: bool) -> None:
    if value:
        print(f"ash {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    sysroot: Annotated[
        Path, typer.Option("--sysroot", envvar="ASH_SYSROOT", help="Root of the system to manage.", show_default=True)
    ] = Path("/"),
    chroot: Annotated[bool, typer.Option("--chroot", help="Allow running inside a chroot (dangerous).")] = False,
    no_third_party: Annotated[
        bool,
        typer.Option(
            "--no-third-party-plugins",
            envvar="ASH_NO_THIRD_PARTY_PLUGINS",
            help="Load only the plugins that ship with ash.",
        ),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", envvar="ASH_DEBUG", help="Show every command ash runs.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    global _STATE
    if _STATE is None:
        _STATE = State.from_params(ctx.params)


def emit_json(data) -> None:
    print(json.dumps(data))


# ---------------------------------------------------------------------------------------------
# Looking at the tree


@command("tree", "t")
def tree_cmd(as_json: JsonOpt = False) -> None:
    """Show the snapshot tree; '*' marks the current snapshot."""
    store = state().store
    tree, current = store.load(), store.current()
    if as_json:
        emit_json({"current": current, "booted": store.booted(), "deployed": store.deployed(), "distro": tree.distro, "tree": tree.nested(current)})
    else:
        print(tree.render(current))


@command("current", "c")
def current_cmd(as_json: JsonOpt = False) -> None:
    """Print the number of the booted (or else the deployed) snapshot."""
    store = state().store
    store.load()
    current = store.current()
    if as_json:
        emit_json({"current": current, "booted": store.booted(), "deployed": store.deployed()})
    elif current is None:
        raise AshError("no snapshot is booted or deployed yet", hint="deploy one with 'ash deploy <snapshot>'")
    else:
        print(current)


@command("desc", "description")
def desc_cmd(snapshot: Snap, text: Annotated[list[str], typer.Argument(metavar="TEXT...")]) -> None:
    """Set the description of a snapshot."""
    s = state()
    with s.system.changing() as tree:
        s.store.require(tree, snapshot).description = " ".join(text)
        s.store.save(tree)


# ---------------------------------------------------------------------------------------------
# Making and removing snapshots


def _copy(snapshot: str, parent_of: Callable, description: Callable[[int], str]) -> None:
    from . import snapshots

    s = state()
    with s.system.changing() as tree:
        source = s.store.require(tree, snapshot).id
        new = snapshots.copy(s.system, tree, source, parent_of(tree, source), description(source))
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
    parent: Annotated[str, typer.Argument(metavar="PARENT", help="The new snapshot's parent.")], snapshot: Snap, desc: DescOpt = None
) -> None:
    """Copy SNAPSHOT as a new child of PARENT (sync the tree afterwards)."""
    _copy(snapshot, lambda tree, src: state().store.require(tree, parent).id, lambda src: desc or f"clone of {src}")


@command("clone-tree", "ct")
def clone_tree_cmd(snapshot: Snap) -> None:
    """Copy a snapshot and all its descendants, keeping their shape."""
    from . import snapshots

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
    from . import snapshots

    s = state()
    with s.system.changing() as tree:
        roots = [s.store.require(tree, t).id for t in snapshots_]
        doomed = sorted({d for r in roots for d in tree.subtree(r)})
        if not yes:
            if not sys.stdin.isatty():
                raise UsageError("refusing to delete without confirmation", hint="pass -y to delete without asking")
            if not typer.confirm(f"Delete snapshot(s) {', '.join(map(str, doomed))}?", default=False):
                raise AshError("nothing deleted")
        for sid in snapshots.delete(s.system, tree, roots):
            print(f"deleted snapshot {sid}")


def _set_mutable(snapshot: str, mutable: bool) -> None:
    from . import snapshots

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


# ---------------------------------------------------------------------------------------------
# Changing snapshots


def _run_exit(status: int) -> None:
    if status:
        raise typer.Exit(status)


@command("chroot", "chr", "cr")
def chroot_cmd(snapshot: Snap) -> None:
    """Open a shell in a snapshot; changes are kept only if the shell exits with status 0."""
    from . import packages

    s = state()
    with s.system.changing() as tree:
        sid = s.store.require(tree, snapshot).id
        _run_exit(packages.run_in(s.system, tree, sid, [_login_shell(s.store.snapshot_path(sid))]))


def _login_shell(root: Path) -> str:
    from .files import in_root

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
    from . import packages

    s = state()
    with s.system.changing() as tree:
        _run_exit(packages.run_in(s.system, tree, s.store.require(tree, snapshot).id, argv))


@command("tree-run", "trun", context_settings=COMMAND_ARGS)
def tree_run_cmd(tree_: Tree_, argv: Command) -> None:
    """Run a command in a snapshot and each of its descendants (each its own transaction)."""
    from . import packages

    s = state()
    with s.system.changing() as tree:
        root = s.store.require(tree, tree_).id

        def action(sid: int) -> None:
            if packages.run_in(s.system, tree, sid, argv):
                raise AshError(f"'{argv[0]}' failed")

        report = packages.for_each(tree, root, action)
    report.print("tree-run")
    report.check("tree-run")


# ---------------------------------------------------------------------------------------------
# Packages (through the package-manager plugin of each snapshot's distribution)


def _package_change(snapshot: str, hook: str, what: str, allow_base: bool = False, **kwargs) -> None:
    _change(snapshot, what, lambda p, system, tree, sid: p.change(system, tree, sid, hook, **kwargs), allow_base)


def _change(snapshot: str, what: str, work: Callable, allow_base: bool = False, done: str = "updated") -> None:
    """Apply ``work(packages, system, tree, sid)`` to one snapshot (never the base, unless allowed)."""
    from . import packages

    s = state()
    with s.system.changing() as tree:
        sid = s.store.require(tree, snapshot).id
        if not allow_base:
            packages.refuse_base(sid, what)
        work(packages, s.system, tree, sid)
    print(f"{what}: snapshot {sid} {done}")


PACKAGE_ARGS = {"ignore_unknown_options": True}


@command("install", "in", context_settings=PACKAGE_ARGS)
def install_cmd(
    snapshot: Snap,
    names: Packages,
    live: Annotated[bool, typer.Option("--live", "-l", help="Also install into the running system (SNAPSHOT must be the one it runs).")] = False,
) -> None:
    """Install packages into a snapshot (and with --live into the running system too)."""
    from . import packages

    names = packages.check_names(names)
    if not live:
        _package_change(snapshot, "ash_install", "install", packages=names)
    else:
        _change(snapshot, "install", lambda p, system, tree, sid: p.install_live(system, tree, sid, names),
                done="updated, and the running system too")  # fmt: skip


@command("remove", "uninstall", "rmpkg", context_settings=PACKAGE_ARGS)
def remove_cmd(snapshot: Snap, names: Packages) -> None:
    """Remove packages from a snapshot (those it has; none of them is an error)."""
    from . import packages

    names = packages.check_names(names)
    _change(snapshot, "remove", lambda p, system, tree, sid: p.remove(system, tree, sid, names))


@command("upgrade", "up")
def upgrade_cmd(snapshot: Snap) -> None:
    """Refresh the package indexes and upgrade every package of a snapshot."""
    _package_change(snapshot, "ash_upgrade", "upgrade")


@command("refresh", "ref")
def refresh_cmd(snapshot: Snap) -> None:
    """Refresh the package indexes of a snapshot."""
    _package_change(snapshot, "ash_refresh", "refresh")


@command("base-update", "bu")
def base_update_cmd() -> None:
    """Upgrade the base snapshot 0 (the only way to change it)."""
    _package_change("0", "ash_upgrade", "base-update", allow_base=True)


@command("list", "ls")
def list_cmd(snapshot: Snap, as_json: JsonOpt = False) -> None:
    """List the packages installed in a snapshot."""
    from . import packages

    s = state()
    tree = s.store.load()
    found = packages.installed(s.system, tree, s.store.require(tree, snapshot).id)
    if as_json:
        emit_json([{"name": p.name, "version": p.version, "explicit": p.explicit} for p in found])
    for p in [] if as_json else found:
        print(f"{p.name} {p.version}")


@command("diff", "dif")
def diff_cmd(old: Snap, new: Snap, as_json: JsonOpt = False) -> None:
    """Show packages added, removed and changed in version from OLD to NEW."""
    from . import packages

    s = state()
    tree = s.store.load()
    a, b = (packages.installed(s.system, tree, s.store.require(tree, x).id) for x in (old, new))
    d = packages.diff(a, b)
    if as_json:
        emit_json(d.to_json())
        return
    for p in d.added:
        print(f"+ {p.name} {p.version}")
    for p in d.removed:
        print(f"- {p.name} {p.version}")
    for x, y in d.changed:
        print(f"~ {x.name} {x.version} -> {y.version}")


def _tree_op(tree_arg: str, what: str, work: Callable) -> None:
    from . import packages

    s = state()
    with s.system.changing() as tree:
        report = work(packages, s.system, tree, s.store.require(tree, tree_arg).id)
    report.print(what)
    report.check(what)


@command("sync", "tree-sync", "tsync")
def sync_cmd(tree_: Tree_) -> None:
    """Upgrade a tree, then install into each descendant what its parent has and it lacks."""
    _tree_op(tree_, "sync", lambda p, system, tree, root: p.sync(system, tree, root, upgrade=True))


@command("force-sync", "fsync")
def force_sync_cmd(tree_: Tree_) -> None:
    """Like sync, without upgrading first."""
    _tree_op(tree_, "force-sync", lambda p, system, tree, root: p.sync(system, tree, root, upgrade=False))


@command("tree-upgrade", "tupgrade", "tup")
def tree_upgrade_cmd(tree_: Tree_) -> None:
    """Upgrade a snapshot and each of its descendants."""
    _tree_op(tree_, "tree-upgrade", lambda p, system, tree, root: p.for_each(tree, root, lambda sid: p.change(system, tree, sid, "ash_upgrade")))


@command("tree-rmpkg", "tremove", context_settings=PACKAGE_ARGS)
def tree_rmpkg_cmd(tree_: Tree_, names: Packages) -> None:
    """Remove packages from a snapshot and each of its descendants (skipping those without them)."""
    from .packages import check_names

    names = check_names(names)
    _tree_op(tree_, "tree-rmpkg", lambda p, system, tree, root: p.for_each(tree, root, lambda sid: p.remove(system, tree, sid, names)))


# ---------------------------------------------------------------------------------------------
# Maintenance


@command("tmp", "tmpclear")
def tmp_cmd() -> None:
    """Remove working copies left behind by an interrupted ash."""
    with state().system.changing():
        pass  # changing() already cleans up and reports what it removed


@command("unlock", "ul")
def unlock_cmd(snapshot: Snap) -> None:
    """Clear what an interrupted ash left on a snapshot (its working copy)."""
    from . import btrfs

    s = state()
    with s.system.changing() as tree:
        btrfs.ensure_absent(s.store.work_path(s.store.require(tree, snapshot).id))


@command("check", "fsck")
def check_cmd() -> None:
    """Check the tree file against the snapshots on disk and repair it."""
    s = state()
    s.system.check_can_change()
    if not s.store.exists() and not s.store.on_disk():
        raise AshError(f"no snapshot store at {s.store.path}", hint="create one with 'ash init'")
    with s.store.lock() as fd:
        s.system.lock_fd = fd
        notes = s.store.clean_leftovers()
        tree, fixes = s.store.repair(s.store.load_for_repair(), thorough=True)
        s.store.save(tree)
    for message in notes + fixes:
        print(message)
    print(f"ok: {len(tree.snapshots)} snapshots, {'repaired' if notes or fixes else 'nothing to repair'}")


@command("init")
def init_cmd(
    source: Annotated[
        Path | None,
        typer.Option("--from", help="Directory or tar archive holding the base root filesystem."),
    ] = None,
    bootstrap: Annotated[str | None, typer.Option("--bootstrap", metavar="DISTRO", help="Bootstrap the base with a distro plugin.")] = None,
    release: Annotated[str | None, typer.Option("--release", help="Release/suite to bootstrap (e.g. bookworm).")] = None,
    mirror: Annotated[str | None, typer.Option("--mirror", help="Package mirror to bootstrap from.")] = None,
    variant: Annotated[str | None, typer.Option("--variant", help="Bootstrap variant (e.g. minbase).")] = None,
    include: Annotated[list[str], typer.Option("--include", help="Extra package for the base (repeatable).")] = [],  # noqa: B006
    distro: Annotated[str | None, typer.Option("--distro", help="Record this distro instead of detecting it.")] = None,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="Keep packages downloaded by --bootstrap here.")] = None,
) -> None:
    """Create the snapshot store at the sysroot, with snapshot 0 as the base."""
    from . import snapshots
    from .models import BootstrapOptions

    s = state()
    s.system.check_can_change()
    fill = None
    if bootstrap:
        options = BootstrapOptions(
            distro=bootstrap, release=release, mirror=mirror, variant=variant, packages=tuple(include), cache_dir=cache_dir
        )
        fill = snapshots.bootstrap_into(s.system, options)
    tree = snapshots.init(s.store, source=source, distro=distro or bootstrap, fill=fill)
    print(f"created the snapshot store at {s.store.path} with base snapshot 0 ({tree.distro or 'unknown distro'})")


@command("plugins")
def plugins_cmd(as_json: JsonOpt = False) -> None:
    """List the plugins found, their distributions and the hooks they implement."""
    plugins = state().system.plugins
    if as_json:
        emit_json([r.to_json() for r in plugins.records])
        return
    if not plugins.records:
        print("no plugins installed")
    for r in plugins.records:
        party = " (third-party)" if r.third_party else ""
        print(f"{r.name}: {r.distribution} {r.version}{party}\n    hooks: {', '.join(r.hooks) or '-'}")


def main() -> None:
    """The ``ash`` program: errors of every command, plugin commands included, become one line."""
    global _STATE
    _STATE = None
    stopped_by = _stop_like_ctrl_c(signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    try:
        app()
    except (AshError, OSError) as error:  # an OSError: a file that could not be read or written
        from .run import say_error

        say_error(error)
        sys.exit(error.exit_code if isinstance(error, AshError) else 1)
    except (KeyboardInterrupt, SystemExit) as stop:  # typer turns KeyboardInterrupt into exit 130
        if isinstance(stop, SystemExit) and not (stopped_by and stop.code == 130):
            raise
        sig = stopped_by[-1] if stopped_by else signal.SIGINT
        print(f"ash: stopped by {signal.Signals(sig).name}; nothing half-done was kept", file=sys.stderr)
        sys.exit(128 + sig)


def _stop_like_ctrl_c(*signals: signal.Signals) -> list[int]:
    """Make these signals unwind ash as Ctrl-C does (working copies dropped, mounts and loop devices
    undone, each crash-safe step left as a crash would leave it); the returned list receives the
    signal that stopped ash."""
    received: list[int] = []

    def stop(signum: int, frame: object) -> None:
        for sig in signals:
            signal.signal(sig, signal.SIG_IGN)  # once is enough: let the unwinding finish
        received.append(signum)
        raise KeyboardInterrupt

    for sig in signals:
        signal.signal(sig, stop)
    return received


if __name__ == "__main__":
    main()
from . import deploy_cli  # noqa: E402,F401  (registers deploy commands)
