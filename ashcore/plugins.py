"""Finding, loading and calling plugins.

Plugins are modules named by entry points in the ``ash.plugins`` group, loaded in name order. A
plugin that fails to import, fails validation or uses an unknown hook is skipped with one warning:
a broken third-party plugin never takes ``ash`` down. The core calls hooks only through
:class:`Plugins`, never through ``pm.hook`` directly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs
import pluggy

from . import PROJECT, hookspecs, osrelease
from .errors import AshError
from .models import CommandSpec, PackageManagerInfo

GROUP = "ash.plugins"
#: Distributions maintained with ash itself; everything else is third-party.
FIRST_PARTY = frozenset({"ashcore", "ash-apt", "ash-pacman", "ash-portage", "ash-grub", "ash-luks", "ash-profiles"})
#: Hooks that are called only on the plugin managing a snapshot's distribution.
PACKAGE_HOOKS = ("ash_bootstrap", "ash_install", "ash_remove", "ash_upgrade", "ash_refresh", "ash_list_packages", "ash_sync")


def warn(message: str) -> None:
    """Print one warning line (exception texts spanning several lines are folded into it)."""
    print(f"ash: warning: {' '.join(message.split())}", file=sys.stderr)


@attrs.define
class PluginRecord:
    """A plugin as ``ash plugins`` shows it."""

    name: str
    distribution: str
    version: str
    module: str
    hooks: list[str]
    third_party: bool

    def to_json(self) -> dict:
        return attrs.asdict(self)


def _blocked_names() -> set[str]:
    return {n.strip() for n in os.environ.get("ASH_DISABLED_PLUGINS", "").split(",") if n.strip()}


def third_party_disabled() -> bool:
    return os.environ.get("ASH_NO_THIRD_PARTY_PLUGINS", "") not in ("", "0")


class Plugins:
    """The loaded plugins and typed ways to call their hooks."""

    def __init__(self, pm: pluggy.PluginManager, records: list[PluginRecord]) -> None:
        self.pm = pm
        self.records = records

    @classmethod
    def load(cls, *, third_party: bool | None = None) -> Plugins:
        if third_party is None:
            third_party = not third_party_disabled()
        pm = pluggy.PluginManager(PROJECT)
        pm.add_hookspecs(hookspecs)
        blocked = _blocked_names()
        records: list[PluginRecord] = []
        for ep in sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            is_third = dist.lower().replace("_", "-") not in FIRST_PARTY
            if ep.name in blocked or (is_third and not third_party) or pm.has_plugin(ep.name):
                continue
            where = f"plugin '{ep.name}' from {dist} {version}"
            try:
                module = ep.load()
                pm.register(module, name=ep.name)
            except Exception as exc:  # noqa: BLE001 - any failure of a plugin is reported, never fatal
                warn(f"{where} failed to load ({type(exc).__name__}: {exc}); skipped")
                continue
            records.append(PluginRecord(ep.name, dist, version, ep.value, [], is_third))
        while True:
            try:
                pm.check_pending()
                break
            except pluggy.PluginValidationError as exc:
                name = pm.get_name(exc.plugin)
                pm.unregister(exc.plugin)
                records = [r for r in records if r.name != name]
                warn(f"plugin '{name}' was skipped: {exc}")
        for record in records:
            plugin = pm.get_plugin(record.name)
            record.hooks = sorted(c.name for c in pm.get_hookcallers(plugin) or [])
        return cls(pm, records)

    # -- package managers ------------------------------------------------------------------------
    def package_managers(self) -> dict[str, PackageManagerInfo]:
        claims = {}
        for impl in self.pm.hook.ash_package_manager.get_hookimpls():
            try:
                claims[impl.plugin_name] = impl.function()
            except Exception as exc:  # noqa: BLE001
                warn(f"plugin '{impl.plugin_name}' failed to describe its package manager ({exc}); skipped")
        return claims

    def package_manager_for(self, ids: Sequence[str]) -> str:
        """The one plugin that manages a distribution known by ``ids`` (ID, then ID_LIKE)."""
        claims = self.package_managers()
        for distro in ids:
            owners = sorted(name for name, info in claims.items() if distro in info.distros)
            if len(owners) == 1:
                return owners[0]
            if owners:
                raise AshError(
                    f"plugins {' and '.join(owners)} both claim distribution '{distro}'",
                    hint=f"disable all but one, e.g. ASH_DISABLED_PLUGINS={owners[-1]}",
                )
        considered = "; ".join(f"{n} ({', '.join(i.distros)})" for n, i in sorted(claims.items())) or "none installed"
        what = f"distribution '{ids[0]}'" if ids else "a snapshot without /etc/os-release"
        raise AshError(
            f"no plugin manages {what} (considered: {considered})",
            hint="install the package-manager plugin for it (see 'ash plugins')",
        )

    def package_manager_of(self, root: Path, fallback: str | None = None) -> str:
        ids = osrelease.distro_ids(root) or ([fallback] if fallback else [])
        return self.package_manager_for(ids)

    def call_package_manager(self, plugin: str, hook: str, **kwargs: Any) -> Any:
        """Call a package-manager hook on one plugin only."""
        assert hook in PACKAGE_HOOKS, hook
        caller = getattr(self.pm.hook, hook)
        if not any(impl.plugin_name == plugin for impl in caller.get_hookimpls()):
            raise AshError(f"the {plugin} plugin cannot {hook.removeprefix('ash_').replace('_', ' ')}")
        others = [p for name, p in self.pm.list_name_plugin() if name != plugin]
        return self.pm.subset_hook_caller(hook, remove_plugins=others)(**kwargs)

    # -- everything else -------------------------------------------------------------------------
    def call_all(self, hook: str, **kwargs: Any) -> list[Any]:
        return getattr(self.pm.hook, hook)(**kwargs)

    def implementers(self, hook: str) -> list[str]:
        return [impl.plugin_name for impl in getattr(self.pm.hook, hook).get_hookimpls()]

    def commands(self, reserved: set[str]) -> dict[str, CommandSpec]:
        """Commands contributed by plugins, minus any that clash with ``reserved`` or each other."""
        found: dict[str, CommandSpec] = {}
        owner: dict[str, str] = {}
        for impl in reversed(self.pm.hook.ash_commands.get_hookimpls()):
            try:
                specs = list(impl.function())
            except Exception as exc:  # noqa: BLE001
                warn(f"plugin '{impl.plugin_name}' failed to list its commands ({exc}); skipped")
                continue
            for spec in specs:
                if spec.name in reserved or spec.name in found:
                    clash = "a built-in command" if spec.name in reserved else f"plugin '{owner[spec.name]}'"
                    warn(f"plugin '{impl.plugin_name}' command '{spec.name}' clashes with {clash}; ignored")
                    continue
                found[spec.name], owner[spec.name] = spec, impl.plugin_name
        return found
