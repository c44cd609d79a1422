"""The frame of the ``ash`` command line: the group that finds commands, the global options and
the state of one invocation, the command registry, and the argument types commands share.

Commands keep the seed's names and positional forms (``ash install <snapshot> <package>...``);
they are defined in this package's group modules, which :mod:`ashcore.cli.main` imports from an
explicit list. Plugins add commands through the ``ash_commands`` hook; they are imported only when
used, so the plain commands never pay for plugins.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

from .. import __version__
from ..errors import UsageError
from ..store.store import SNAPSHOT_HINT, Store

if TYPE_CHECKING:
    from ..ops.system import System
    from ..sandbox.chroot import Chroot
    from ..store.tree import InstalledProfile

Snap = Annotated[str, typer.Argument(metavar="SNAPSHOT", help="Snapshot number (see 'ash tree').", show_default=False)]
Tree_ = Annotated[str, typer.Argument(metavar="TREE", help="Snapshot whose subtree to work on.", show_default=False)]
Packages = Annotated[
    list[str], typer.Argument(metavar="PACKAGE...", help="Package names, passed verbatim.", show_default=False)
]
Command = Annotated[
    list[str], typer.Argument(metavar="COMMAND...", help="Program and arguments (no shell).", show_default=False)
]
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
        command = typer.main.get_command(single)
        parse_args = command.parse_args

        def parse(ctx, args):  # '-1' is a bad snapshot number, not an unknown option
            try:
                return parse_args(ctx, args)
            except Exception as exc:  # click's NoSuchOption (typer vendors click in some versions)
                option = getattr(exc, "option_name", None)
                if type(exc).__name__ == "NoSuchOption" and option and re.fullmatch(r"-[0-9]+", option):
                    raise UsageError(f"'{option}' is not a snapshot number", hint=SNAPSHOT_HINT) from None
                raise

        command.parse_args = parse  # type: ignore[method-assign]
        return command

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
            from ..console import warn

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

    def _check_sysroot(self) -> None:
        try:
            what = None if stat.S_ISDIR(os.stat(self.sysroot).st_mode) else "is not a directory"
        except FileNotFoundError:
            what = "does not exist"
        except OSError:  # e.g. not ours to look at: the command's own checks say so
            return
        if what:
            raise UsageError(
                f"the system root {self.sysroot} {what}",
                hint="give --sysroot (or ASH_SYSROOT) the root directory of the system",
            )

    @property
    def system(self) -> System:
        if self._system is None:
            self._check_sysroot()
            from ..ops.system import System  # not needed (nor imported) by the read-only commands

            self._system = System(self.sysroot, allow_chroot=self.allow_chroot, third_party=self.third_party)
        return self._system

    @property
    def store(self) -> Store:
        if self._system:
            return self._system.store
        self._check_sysroot()
        return Store(self.sysroot)


_STATE: State | None = None


def reset() -> None:
    """Forget the state of a previous invocation (``main`` may run more than once in a process)."""
    global _STATE
    _STATE = None


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
    """``--version``: the installed distribution's version, as its metadata says (a checkout that is
    not installed has only the version in the source)."""
    if value:
        from importlib import metadata

        try:
            version = metadata.version("ashcore")
        except metadata.PackageNotFoundError:
            version = __version__
        print(f"ash {version}")
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


def current_system() -> System:
    """The system this ``ash`` invocation manages (``--sysroot``), with its plugins: for plugin commands."""
    return state().system


@contextmanager
def snapshot_transaction(
    snapshot: str, *, package_manager: bool = True, profiles: list[InstalledProfile] | None = None
) -> Iterator[tuple[int, Chroot]]:
    """For plugin commands: lock and repair the store, then change the snapshot the user named
    (``snapshot`` as typed) in a transaction; yield its number and the chroot of its working copy.
    The change is committed when the block returns and dropped when it raises. ``profiles``, when
    given, is filled with the snapshot's installed profiles, and what it then holds is committed."""
    system = current_system()
    with system.changing() as tree:
        sid = system.store.require(tree, snapshot).id
        with system.transaction(tree, sid, package_manager=package_manager, profiles=profiles) as chroot:
            yield sid, chroot
