"""Records passed between the core and plugins."""

from __future__ import annotations

import enum
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from ..sandbox.chroot import Chroot


class Firmware(enum.StrEnum):
    """How the machine starts its bootloader."""

    BIOS = "bios"
    UEFI = "uefi"


@attrs.frozen
class PackageManagerInfo:
    """What a package-manager plugin drives and which distributions it manages.

    ``distros`` are os-release ``ID`` values (``debian``, ``arch``); a snapshot whose ``ID`` or
    ``ID_LIKE`` names one of them is managed by this plugin. ``state_paths`` are the package
    database's paths under ``/var`` (relative, like ``var/lib/dpkg``): a deployment mounts its own
    copies of them read-only over the shared ``/var`` so they always match the running files.
    """

    name: str
    distros: tuple[str, ...]
    state_paths: tuple[str, ...] = ()


@attrs.frozen
class Package:
    """One installed package. ``explicit`` is False for packages installed only as dependencies."""

    name: str
    version: str
    explicit: bool = True


@attrs.frozen
class CommandSpec:
    """A CLI command contributed by a plugin.

    ``target`` is ``"module:attribute"`` naming a :class:`typer.Typer`; it is imported only when the
    command runs (or ``ash --help`` lists it), so plugins cost nothing at start-up.
    """

    name: str
    help: str
    target: str


@attrs.frozen
class ProfileFile:
    """A profile another distribution ships for ash-profiles: the TOML file at ``path`` (one profile,
    in the format of plugins/ash-profiles/README.md), read and validated by ash-profiles."""

    path: Path


@attrs.frozen
class BootstrapOptions:
    """How to build a new base root filesystem; plugins ignore what does not apply to them."""

    distro: str
    release: str | None = None
    mirror: str | None = None
    variant: str | None = None
    packages: tuple[str, ...] = ()
    cache_dir: Path | None = None
    #: The base must boot on its own (the installer): the plugin adds what its distribution needs
    #: for that (a kernel, an init system, btrfs tools, GRUB's files, python3 for ash).
    bootable: bool = False


@attrs.frozen
class BootTarget:
    """Something the bootloader can boot: a deployment or a snapshot.

    ``root`` is where it lies on this machine; ``subvolume`` is its path from the top of the btrfs
    filesystem, which is what ``rootflags=subvol=`` and the bootloader's own file paths take.
    """

    snapshot: int
    root: Path
    subvolume: str
    description: str = ""


@attrs.frozen
class DeployContext:
    """A deployment being made: which snapshot, where its root is, and the store it comes from.

    For the bootloader it also carries what the boot menu offers: ``default`` (the deployment of
    ``snapshot``), ``fallback`` (the deployment booted before, if any) and every snapshot of the tree,
    all on the filesystem ``fs_uuid`` whose store subvolume is ``store_subvolume``.
    """

    sysroot: Path
    store: Path
    snapshot: int
    deployment: Path
    previous: int | None = None
    fs_uuid: str = ""
    store_subvolume: str = ""
    default: BootTarget | None = None
    fallback: BootTarget | None = None
    snapshots: tuple[BootTarget, ...] = ()


@attrs.frozen
class HealthCheck:
    """A check that a snapshot is fit to boot, run before ``ash auto-upgrade`` deploys it.

    ``check(chroot)`` gets a chroot of a throwaway copy of the candidate snapshot (what it changes is
    dropped) and returns why the snapshot fails, or None when it passes; an :class:`AshError` it raises
    is a failure too. A failed ``required`` check stops the deploy; the others are reported only.
    ``package_manager``, when set, limits the check to snapshots of that package manager. The chroot
    stops each command after the configured time (``check_timeout`` in ``/etc/ash/update.conf``).
    """

    name: str
    check: Callable[[Chroot], str | None] = attrs.field(eq=False, repr=False)
    required: bool = True
    package_manager: str | None = None
