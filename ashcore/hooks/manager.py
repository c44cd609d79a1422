"""Finding, loading and calling plugins.

Plugins are modules named by entry points in the ``ash.plugins`` group, loaded in name order. A
plugin that fails to import, fails validation or uses an unknown hook is skipped with one warning,
and so is a second plugin of a name already taken (the first by distribution name stays): a broken
third-party plugin never takes ``ash`` down. The core calls hooks only through the typed methods
of :class:`Plugins`, one per hook, never through ``pm.hook`` directly.

First-party plugins are the modules of this repository's distributions: an entry point is one when
its module lies in a package of :data:`FIRST_PARTY` and comes from the distribution that ships that
package. Everything else is third-party (``--no-third-party-plugins`` leaves it out), whatever its
distribution is called.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import attrs
import pluggy

from .. import PROJECT
from ..console import warn
from ..errors import AshError
from ..fs import osrelease
from . import specs
from .entrypoints import entry_points
from .records import CommandSpec, PackageManagerInfo, ProfileFile

if TYPE_CHECKING:
    from ..sandbox.chroot import Chroot
    from ..store.tree import InstalledProfile
    from .records import BootstrapOptions, DeployContext, HealthCheck, Package

GROUP = "ash.plugins"
#: The top-level packages of this repository's plugin distributions, and the distribution of each.
FIRST_PARTY = {
    "ash_apt": "ash-apt",
    "ash_pacman": "ash-pacman",
    "ash_portage": "ash-portage",
    "ash_grub": "ash-grub",
    "ash_luks": "ash-luks",
    "ash_profiles": "ash-profiles",
}


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


def api_of(distribution: str) -> str | None:
    """The versions of ash's plugin API (``ashcore``) that ``distribution`` was built for, as it
    requires them (``ashcore<0.2,>=0.1``), or None when it says nothing (``ash plugins`` only: the
    metadata machinery costs start-up)."""
    from importlib import metadata

    try:
        requires = metadata.distribution(distribution).requires or []
    except metadata.PackageNotFoundError:
        return None
    for requirement in requires:
        name = re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0]
        if _normal(name) == "ashcore":
            return requirement.split(";")[0].replace(" ", "")
    return None


def _normal(name: str) -> str:
    return name.lower().replace("_", "-")


def is_first_party(module: str, distribution: str) -> bool:
    """Whether the entry point ``module`` of ``distribution`` is one of ash's own plugins."""
    expected = FIRST_PARTY.get(module.partition(":")[0].split(".")[0])
    return expected is not None and _normal(distribution) == expected


def _blocked_names() -> set[str]:
    return {n.strip() for n in os.environ.get("ASH_DISABLED_PLUGINS", "").split(",") if n.strip()}


def third_party_disabled() -> bool:
    return os.environ.get("ASH_NO_THIRD_PARTY_PLUGINS", "") not in ("", "0")


class Plugins:
    """The loaded plugins, and one typed method per hook to call them."""

    def __init__(self, pm: pluggy.PluginManager, records: list[PluginRecord]) -> None:
        self.pm = pm
        self.records = records

    @classmethod
    def load(cls, *, third_party: bool | None = None) -> Plugins:
        if third_party is None:
            third_party = not third_party_disabled()
        pm = pluggy.PluginManager(PROJECT)
        pm.add_hookspecs(specs)
        blocked = _blocked_names()
        records: list[PluginRecord] = []
        for ep in sorted(entry_points(GROUP), key=lambda e: (e.name, e.dist)):
            dist, version = ep.dist, ep.version
            is_third = not is_first_party(ep.value, dist)
            if ep.name in blocked or (is_third and not third_party):
                continue
            where = f"plugin '{ep.name}' from {dist} {version}"
            if pm.has_plugin(ep.name):
                first = next(r for r in records if r.name == ep.name)
                warn(f"{where} has the name of the plugin from {first.distribution} {first.version}; skipped")
                continue
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

    def implementers(self, hook: str) -> list[str]:
        return [impl.plugin_name for impl in getattr(self.pm.hook, hook).get_hookimpls()]

    # -- choosing the package manager ------------------------------------------------------------
    def package_managers(self) -> dict[str, PackageManagerInfo]:
        claims = {}
        for impl in self.pm.hook.ash_package_manager.get_hookimpls():
            try:
                claims[impl.plugin_name] = cast(PackageManagerInfo, impl.function())
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
        """The plugin managing the root filesystem at ``root`` (by its os-release, else ``fallback``)."""
        ids = osrelease.distro_ids(root) or ([fallback] if fallback else [])
        return self.package_manager_for(ids)

    def package_manager_or_none(self, root: Path, fallback: str | None = None) -> str | None:
        try:
            return self.package_manager_of(root, fallback)
        except AshError:
            return None

    def state_paths(self, plugin: str | None) -> tuple[str, ...]:
        """The package database paths (under ``/var``) of ``plugin``'s package manager."""
        return self.package_managers()[plugin].state_paths if plugin else ()

    # -- package-manager hooks: on the one plugin given ------------------------------------------
    def _on(self, plugin: str, hook: str, **kwargs: Any) -> Any:
        assert hook in specs.PACKAGE_HOOKS, hook
        caller = getattr(self.pm.hook, hook)
        if not any(impl.plugin_name == plugin for impl in caller.get_hookimpls()):
            raise AshError(f"the {plugin} plugin cannot {hook.removeprefix('ash_').replace('_', ' ')}")
        others = [p for name, p in self.pm.list_name_plugin() if name != plugin]
        return self.pm.subset_hook_caller(hook, remove_plugins=others)(**kwargs)

    def bootstrap(self, plugin: str, target: Path, options: BootstrapOptions) -> None:
        self._on(plugin, "ash_bootstrap", target=target, options=options)

    def install(self, plugin: str, chroot: Chroot, packages: Sequence[str]) -> None:
        self._on(plugin, "ash_install", chroot=chroot, packages=packages)

    def remove(self, plugin: str, chroot: Chroot, packages: Sequence[str]) -> None:
        self._on(plugin, "ash_remove", chroot=chroot, packages=packages)

    def upgrade(self, plugin: str, chroot: Chroot) -> None:
        self._on(plugin, "ash_upgrade", chroot=chroot)

    def refresh(self, plugin: str, chroot: Chroot) -> None:
        self._on(plugin, "ash_refresh", chroot=chroot)

    def list_packages(self, plugin: str, root: Path) -> list[Package]:
        return list(self._on(plugin, "ash_list_packages", root=root) or [])

    def sync(self, plugin: str, chroot: Chroot, parent: Path, packages: Sequence[Package]) -> None:
        self._on(plugin, "ash_sync", chroot=chroot, parent=parent, packages=packages)

    # -- hooks of every plugin -------------------------------------------------------------------
    def chroot_enter(self, chroot: Chroot) -> None:
        self.pm.hook.ash_chroot_enter(chroot=chroot)

    def require_bootloader(self) -> None:
        """Refuse to go on unless exactly one plugin can update the bootloader."""
        found = self.implementers("ash_bootloader_update")
        if len(found) != 1:
            raise AshError(
                f"a deploy needs exactly one bootloader plugin, found {', '.join(found) if found else 'none'}",
                hint="install ash-grub" if not found else f"disable all but one, e.g. ASH_DISABLED_PLUGINS={found[-1]}",
            )

    def bootloader_update(self, context: DeployContext) -> None:
        self.pm.hook.ash_bootloader_update(context=context)

    def bootloader_install(self, context: DeployContext, disk: Path, firmware: str, esp: Path | None) -> None:
        self.pm.hook.ash_bootloader_install(context=context, disk=disk, firmware=firmware, esp=esp)

    def encrypt(self, device: Path, passphrase: str, name: str) -> Path | None:
        opened = self.pm.hook.ash_encrypt(device=device, passphrase=passphrase, name=name)
        return None if opened is None else Path(opened)

    def pre_deploy(self, context: DeployContext) -> None:
        self.pm.hook.ash_pre_deploy(context=context)

    def post_deploy(self, context: DeployContext) -> None:
        self.pm.hook.ash_post_deploy(context=context)

    def health_checks(self) -> tuple[list[HealthCheck], list[str]]:
        """Every plugin's health checks, and the plugins that failed to give theirs (each reported)."""
        checks: list[HealthCheck] = []
        broken: list[str] = []
        for impl in reversed(self.pm.hook.ash_health_checks.get_hookimpls()):
            try:
                checks += list(cast("Sequence[HealthCheck]", impl.function()))
            except Exception as exc:  # noqa: BLE001 - a broken plugin fails its checks, not the CLI
                warn(f"plugin '{impl.plugin_name}' failed to list its health checks ({exc})")
                broken.append(impl.plugin_name)
        return checks, broken

    def commands(self, reserved: set[str]) -> dict[str, CommandSpec]:
        """Commands contributed by plugins, minus any that clash with ``reserved`` or each other."""
        found: dict[str, CommandSpec] = {}
        owner: dict[str, str] = {}
        for impl in reversed(self.pm.hook.ash_commands.get_hookimpls()):
            try:
                specs_ = list(cast(Sequence[CommandSpec], impl.function()))
            except Exception as exc:  # noqa: BLE001
                warn(f"plugin '{impl.plugin_name}' failed to list its commands ({exc}); skipped")
                continue
            for spec in specs_:
                if spec.name in reserved or spec.name in found:
                    clash = "a built-in command" if spec.name in reserved else f"plugin '{owner[spec.name]}'"
                    warn(f"plugin '{impl.plugin_name}' command '{spec.name}' clashes with {clash}; ignored")
                    continue
                found[spec.name], owner[spec.name] = spec, impl.plugin_name
        return found

    def profile_files(self) -> list[tuple[str, ProfileFile]]:
        """The profile files plugins ship, each with the name of the plugin that returned it."""
        found: list[tuple[str, ProfileFile]] = []
        for impl in reversed(self.pm.hook.ash_profile_files.get_hookimpls()):
            try:
                files = list(cast(Sequence[ProfileFile], impl.function()))
            except Exception as exc:  # noqa: BLE001
                warn(f"plugin '{impl.plugin_name}' failed to list its profiles ({exc}); skipped")
                continue
            found += [(impl.plugin_name, f) for f in files]
        return found

    def sync_profiles(
        self, chroot: Chroot, inherited: Sequence[InstalledProfile], profiles: list[InstalledProfile]
    ) -> None:
        self.pm.hook.ash_sync_profiles(chroot=chroot, inherited=inherited, profiles=profiles)
