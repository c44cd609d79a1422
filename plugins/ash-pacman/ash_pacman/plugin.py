"""ash's package-manager plugin for Arch Linux and its derivatives: pacman.

Each package hook gets a transaction's working copy from the core and runs pacman on it (see
:mod:`ash_pacman.pacman` for where pacman runs and how its failures are reported). This module is
loaded on every ``ash`` start, so it and what it imports use only the standard library and ashcore.api.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ashcore.api import (
    Bind,
    BootstrapOptions,
    CommandSpec,
    HealthCheck,
    Package,
    PackageManagerInfo,
    hookimpl,
    in_root,
)

from . import pacman, rootfs, sync

if TYPE_CHECKING:
    from ashcore.api import Chroot


NAME = "pacman"
#: os-release IDs of pacman distributions; others that say ``ID_LIKE=arch`` are claimed through it.
DISTROS = ("arch", "archarm", "artix", "cachyos", "endeavouros", "manjaro")


@hookimpl
def ash_package_manager() -> PackageManagerInfo:
    return PackageManagerInfo(name=NAME, distros=DISTROS, state_paths=("var/lib/pacman",))


@hookimpl
def ash_bootstrap(target: Path, options: BootstrapOptions) -> None:
    pacman.bootstrap(target, options)


@hookimpl
def ash_install(chroot: Chroot, packages: Sequence[str]) -> None:
    """``-S --needed``, or ``-Syu --needed`` in a snapshot without sync databases: fetching them
    without upgrading would be a partial upgrade, which Arch does not support."""
    flags = "-S" if rootfs.has_sync_databases(chroot.root) else "-Syu"
    pacman.pacman(chroot, flags, "--needed", "--", *packages)


@hookimpl
def ash_remove(chroot: Chroot, packages: Sequence[str]) -> None:
    """``-Rns``: also remove the dependencies nothing else needs and the configuration files.
    pacman refuses to remove what another package depends on; its reason becomes the error."""
    pacman.pacman(chroot, "-Rns", "--", *packages)


@hookimpl
def ash_upgrade(chroot: Chroot) -> None:
    pacman.pacman(chroot, "-Syu")


@hookimpl
def ash_refresh(chroot: Chroot) -> None:
    pacman.pacman(chroot, "-Syy")  # -yy: fetch every database, even one that looks up to date


@hookimpl
def ash_list_packages(root: Path) -> list[Package]:
    return rootfs.installed(root)


@hookimpl
def ash_sync(chroot: Chroot, parent: Path, packages: Sequence[Package]) -> None:
    """The parent's exact versions, from the shared package cache or from package databases that
    offer them; never an upgrade (see :mod:`ash_pacman.sync`)."""
    sync.sync(chroot, parent, packages)


@hookimpl
def ash_health_checks() -> list[HealthCheck]:
    return [HealthCheck("pacman database", pacman.check_database, package_manager=NAME)]


@hookimpl
def ash_chroot_enter(chroot: Chroot) -> None:
    """Mount the package cache shared by all snapshots over the snapshot's own (see
    :func:`~ash_pacman.pacman.shared_cache`), in every chroot: ``ash chroot`` and ``pacman -U`` too."""
    if chroot.package_manager != NAME:
        return
    cache = pacman.shared_cache(chroot)
    cache.mkdir(parents=True, exist_ok=True)
    chroot.binds.append(Bind(cache, rootfs.options(in_root(chroot.root, rootfs.CONFIG))["CacheDir"], readonly=False))


@hookimpl
def ash_commands() -> list[CommandSpec]:
    return [
        CommandSpec(
            name="fixdb",
            help="Rebuild the pacman keyring of a snapshot from its updated keyring packages.",
            target="ash_pacman.commands:app",
        )
    ]
