"""Automatic updates that cannot make things worse (``ash auto-upgrade``).

The deployed snapshot is cloned, the clone upgraded through its package manager, and checked in a
throwaway copy of it (the health checks of plugins, ash's own, and the user's executables in the
candidate's ``/etc/ash/health.d/{required.d,wanted.d}``). Only an upgrade that changed something and
passed every required check is deployed; otherwise the deployment stays as it was and the candidate
is deleted (or kept for inspection, when it failed its checks). Each run's outcome is recorded in the
store (``ash/update.json``), for ``ash status``. Older automatic snapshots beyond the configured
number are deleted after a successful update, never one that boots or has children.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import attrs

from ..errors import AshError, UsageError
from ..fs import fstab
from ..fs.files import atomic_write, in_root
from ..hooks.records import HealthCheck
from ..sandbox.chroot import Chroot
from ..store.tree import Tree
from . import packages, snapshots
from .system import System

CONFIG = "etc/ash/update.conf"
HEALTH_DIR = "etc/ash/health.d"
RECORD = "update.json"
REBOOT = ("never", "window", "immediately")


@attrs.frozen
class Config:
    """``/etc/ash/update.conf`` (TOML): every key optional."""

    enabled: bool = True
    keep: int = 3  # automatic snapshots kept after a successful update
    keep_failed: bool = True  # keep a candidate that failed its checks, for inspection
    reboot: str = "never"  # after a deploy: never, in the window, or immediately
    window: str = "03:00-05:00"  # HH:MM-HH:MM, local time
    check_timeout: float = 300  # seconds each command of a health check may take


def load_config(sysroot: Path) -> Config:
    """The update settings of the system at ``sysroot``; a bad file is a one-line error naming the key."""
    import tomllib

    path = in_root(sysroot, CONFIG)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Config()
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: {exc}", hint="it is TOML: key = value lines") from None
    kinds = {"enabled": bool, "keep": int, "keep_failed": bool, "reboot": str, "window": str, "check_timeout": float}
    for key, value in data.items():
        if key not in kinds:
            raise UsageError(f"{path}: unknown setting {key!r}", hint=f"the settings are {', '.join(kinds)}")
        kind = kinds[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
        if not ok or (key == "keep" and value < 1):
            raise UsageError(f"{path}: {key} = {value!r} is not {_KIND_WORDS[key]}")
    config = Config(**data)
    if config.reboot not in REBOOT:
        raise UsageError(f"{path}: reboot = {config.reboot!r} is not one of {', '.join(REBOOT)}")
    _window(config.window, path)
    return config


_KIND_WORDS = {
    "enabled": "true or false",
    "keep": "a whole number of 1 or more",
    "keep_failed": "true or false",
    "reboot": "a string",
    "window": "a string",
    "check_timeout": "a number of seconds above 0",
}


def _window(text: str, path: Path) -> tuple[int, int]:
    """``HH:MM-HH:MM`` as minutes of the day."""
    try:
        start, end = (int(h) * 60 + int(m) for h, m in (part.split(":") for part in text.split("-")))
    except ValueError:
        raise UsageError(f"{path}: window = {text!r} is not HH:MM-HH:MM") from None
    return start, end


# -- health checks --------------------------------------------------------------------------------


@attrs.frozen
class CheckResult:
    name: str
    required: bool
    passed: bool
    reason: str = ""


def _fstab_check(chroot: Chroot) -> str | None:
    """The lines of ``/etc/fstab`` that ash does not write are well formed (4 to 6 fields)."""
    for line in fstab.user_lines(fstab.read(chroot.root), []):
        fields = line.split()
        if fields and not fields[0].startswith("#") and not 4 <= len(fields) <= 6:
            return f"/etc/fstab has a line that is not 4 to 6 fields: {line[:80]!r}"
    return None


BUILT_IN = [HealthCheck("fstab", _fstab_check)]


def user_checks(root: Path) -> list[HealthCheck]:
    """The executables in the candidate's ``/etc/ash/health.d/required.d`` and ``wanted.d``, in name order."""
    found = []
    for kind in ("required", "wanted"):
        rel = f"{HEALTH_DIR}/{kind}.d"
        try:
            names = sorted(e.name for e in os.scandir(in_root(root, rel)) if e.is_file() and not e.name.startswith("."))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            found.append(HealthCheck(f"{kind}.d/{name}", _executable(f"/{rel}/{name}"), kind == "required"))
    return found


def _executable(path: str) -> Callable[[Chroot], str | None]:
    def check(chroot: Chroot) -> str | None:
        proc = chroot.run([path], check=False, capture=True)
        if proc.returncode == 0:
            return None
        last = (proc.stderr or proc.stdout or "").strip().splitlines()
        return f"exited with status {proc.returncode}" + (f": {last[-1]}" if last else "")

    return check


def run_checks(system: System, tree: Tree, sid: int, timeout: float) -> list[CheckResult]:
    """Every health check on a throwaway copy of snapshot ``sid``, each result recorded."""
    checks, broken = system.plugins.health_checks()
    results = [CheckResult(f"plugin {name}", True, False, "its health checks could not be listed") for name in broken]
    with system.scratch(tree, sid, timeout=timeout) as chroot:
        mine = [c for c in [*checks, *BUILT_IN] if c.package_manager in (None, chroot.package_manager)]
        for check in [*mine, *user_checks(chroot.root)]:
            try:
                reason = check.check(chroot)
            except AshError as exc:
                reason = exc.message
            except Exception as exc:  # noqa: BLE001 - a broken check fails, it does not stop the others
                reason = f"the check itself failed: {exc!r}"
            results.append(CheckResult(check.name, check.required, reason is None, reason or ""))
    return results


# -- the update -----------------------------------------------------------------------------------


@attrs.define
class Outcome:
    """What one automatic update did (recorded in ``ash/update.json``)."""

    started: str
    base: int
    outcome: str = ""  # deployed, unchanged, checks failed, upgrade failed
    snapshot: int | None = None  # the candidate, while it exists
    kept: bool = False
    reason: str = ""
    changes: dict = attrs.field(factory=dict)
    checks: list[CheckResult] = attrs.field(factory=list)
    finished: str = ""
    deleted: list[int] = attrs.field(factory=list)  # old automatic snapshots the retention deleted

    @property
    def failed(self) -> bool:
        return self.outcome in ("checks failed", "upgrade failed")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def read_record(system: System) -> dict:
    """The store's update record: ``last`` (an :class:`Outcome` as JSON) and ``automatic`` snapshots."""
    try:
        data = json.loads((system.store.state / RECORD).read_text())
    except (FileNotFoundError, ValueError):
        return {"version": 1, "last": None, "automatic": []}
    return data if isinstance(data, dict) else {"version": 1, "last": None, "automatic": []}


def _write_record(system: System, last: Outcome, automatic: list[int]) -> None:
    data = {"version": 1, "last": attrs.asdict(last), "automatic": automatic}
    atomic_write(system.store.state / RECORD, json.dumps(data, indent=1) + "\n")


def auto_upgrade(system: System, tree: Tree, config: Config) -> Outcome:
    """Clone the deployed snapshot, upgrade and check the clone, deploy it if it changed and passed."""
    from ..boot import deploy

    store = system.store
    base = store.deployed()
    if base is None or base not in tree:
        raise AshError("nothing is deployed to update", hint="deploy a snapshot first ('ash deploy N')")
    record = read_record(system)
    automatic = [sid for sid in record.get("automatic", []) if isinstance(sid, int) and sid in tree]
    out = Outcome(started=_now(), base=base)
    new = snapshots.copy(system, tree, base, tree[base].parent, f"automatic update {time.strftime('%Y-%m-%d %H:%M')}")
    out.snapshot = new
    try:
        before = packages.installed(system, tree, new)
        try:
            packages.upgrade(system, tree, new)
        except AshError as exc:
            out.outcome, out.reason = "upgrade failed", exc.message
        else:
            changes = packages.diff(before, packages.installed(system, tree, new))
            out.changes = changes.to_json()
            if not (changes.added or changes.removed or changes.changed):
                out.outcome = "unchanged"
            else:
                out.checks = run_checks(system, tree, new, config.check_timeout)
                failed = [c for c in out.checks if c.required and not c.passed]
                if failed:
                    out.outcome = "checks failed"
                    out.reason = "; ".join(f"{c.name}: {c.reason}" for c in failed)
                else:
                    deploy.deploy(system.plugins, store, tree, new)
                    out.outcome = "deployed"
    except BaseException:
        _forget(system, tree, new)  # interrupted or broken: the deployment never changed
        raise
    out.kept = out.outcome == "deployed" or (out.outcome == "checks failed" and config.keep_failed)
    if out.kept:
        automatic.append(new)
    else:
        _forget(system, tree, new)
        out.snapshot = None
    if out.outcome == "deployed":
        out.deleted = _retain(system, tree, automatic, config.keep)
        automatic = [sid for sid in automatic if sid not in out.deleted]
    out.finished = _now()
    _write_record(system, out, automatic)
    return out


def _forget(system: System, tree: Tree, sid: int) -> None:
    if sid in tree and sid not in system.store.protected():
        snapshots.delete(system, tree, snapshots.deletable(system, tree, [sid]))


def _retain(system: System, tree: Tree, automatic: list[int], keep: int) -> list[int]:
    """Delete the automatic snapshots older than the newest ``keep`` that nothing boots and that have
    no children; return those deleted."""
    protected = set(system.store.protected())
    deleted = []
    for sid in sorted(automatic)[:-keep]:
        if sid in protected or len(tree.subtree(sid)) > 1:
            continue
        snapshots.delete(system, tree, [sid])
        deleted.append(sid)
    return deleted


def summary(last: dict) -> str:
    """The seed's one line on the last update: when, and whether it completed or failed."""
    when = last.get("finished") or last.get("started")
    what = {
        "deployed": f"completed: deployed snapshot {last.get('snapshot')} (from {last.get('base')})",
        "unchanged": f"completed: snapshot {last.get('base')} was up to date",
    }.get(last.get("outcome", ""), f"failed: {last.get('outcome')} ({last.get('reason')})")
    return f"last update {when}: {what}"


def reboot_due(config: Config, now: time.struct_time | None = None) -> bool:
    """Whether to reboot into a deployment just made, by the policy."""
    if config.reboot == "immediately":
        return True
    if config.reboot == "never":
        return False
    start, end = _window(config.window, Path(CONFIG))
    t = now or time.localtime()
    minute = t.tm_hour * 60 + t.tm_min
    return start <= minute < end if start <= end else minute >= start or minute < end
