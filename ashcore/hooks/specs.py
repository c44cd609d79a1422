"""The hooks ash offers plugins: their names, arguments, and when they fire.

Every hook takes keyword arguments; an implementation may accept a subset of them. Register
implementations under the ``ash.plugins`` entry-point group and mark them with
:data:`ashcore.api.hookimpl`. The core calls hooks only through the typed methods of
:class:`~ashcore.hooks.manager.Plugins`.

Package-manager hooks (the first section) are called only on the one plugin that manages the
snapshot's distribution (see :func:`ash_package_manager`); the others go to every plugin.
``firstresult`` is set exactly on the hooks whose answer is a value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pluggy

from .. import PROJECT

if TYPE_CHECKING:
    from ..sandbox.chroot import Chroot
    from ..store.tree import InstalledProfile
    from .records import (
        BootstrapOptions,
        CommandSpec,
        DeployContext,
        HealthCheck,
        Package,
        PackageManagerInfo,
        ProfileFile,
    )

hookspec = pluggy.HookspecMarker(PROJECT)
#: Marks a plugin's hook implementations (plugins import it from :mod:`ashcore.api`).
hookimpl = pluggy.HookimplMarker(PROJECT)
F = TypeVar("F", bound=Callable[..., object])

#: The package-manager hooks, called on one plugin only (filled by :func:`package_hook`).
PACKAGE_HOOKS: list[str] = []


def package_hook(*, firstresult: bool = False) -> Callable[[F], F]:
    """Declare a package-manager hook: a hook spec, listed in :data:`PACKAGE_HOOKS`."""

    def declare(func: F) -> F:
        PACKAGE_HOOKS.append(func.__name__)
        return hookspec(firstresult=firstresult)(func)

    return declare


# -- package managers (one plugin per distribution) -------------------------------------------


@hookspec
def ash_package_manager() -> PackageManagerInfo:
    """Say which package manager this plugin drives and which distributions it manages.

    Fires when ash needs the package manager of a snapshot. The core reads the snapshot's
    ``/etc/os-release`` (or the distro recorded for the store) and picks the one plugin whose
    ``distros`` contain its ``ID`` (else the first ``ID_LIKE`` entry that one plugin claims).
    Returns a :class:`~ashcore.hooks.records.PackageManagerInfo`.
    """


@package_hook()
def ash_bootstrap(target: Path, options: BootstrapOptions) -> None:
    """Fill the empty directory ``target`` with a new base root filesystem of ``options.distro``.

    Fires from ``ash init --bootstrap`` and from the installer, before snapshot 0 exists; runs on
    the host (there is nothing to chroot into yet). Must leave a root whose ``/etc/os-release``
    names the distribution; with ``options.bootable`` (the installer) also what it needs to boot
    from btrfs with GRUB and to run ash. Raise :class:`~ashcore.errors.AshError` on failure.
    """


@package_hook()
def ash_install(chroot: Chroot, packages: Sequence[str]) -> None:
    """Install ``packages`` into the snapshot behind ``chroot`` with the distribution's package manager.

    Fires inside a transaction (``ash install``): ``chroot.root`` is a writable copy that becomes the
    snapshot only if this returns. Raise (for example let ``chroot.run`` raise) to abort.
    """


@package_hook()
def ash_remove(chroot: Chroot, packages: Sequence[str]) -> None:
    """Remove ``packages`` (and what only they needed) from the snapshot behind ``chroot``.

    Fires inside a transaction (``ash remove``, ``ash tree-rmpkg``), with only the names that
    ``ash_list_packages`` reports installed in that snapshot (never none). Raise to abort.
    """


@package_hook()
def ash_upgrade(chroot: Chroot) -> None:
    """Refresh the package indexes and upgrade every package of the snapshot behind ``chroot``.

    Fires inside a transaction (``ash upgrade``, ``ash base-update``, ``ash tree-upgrade``, ``ash sync``).
    """


@package_hook()
def ash_refresh(chroot: Chroot) -> None:
    """Refresh the package indexes of the snapshot behind ``chroot`` without upgrading anything.

    Fires inside a transaction (``ash refresh``).
    """


@package_hook(firstresult=True)
def ash_list_packages(root: Path) -> list[Package]:
    """Return the packages installed in the root filesystem at ``root`` (read-only; no chroot).

    Fires for ``ash list``, ``ash diff`` and to decide what ``ash sync`` installs. Read the package
    database directly: ``root`` may be a read-only snapshot. Returns a list of
    :class:`~ashcore.hooks.records.Package`.
    """


@package_hook()
def ash_sync(chroot: Chroot, parent: Path, packages: Sequence[Package]) -> None:
    """Bring a child snapshot in line with its parent: install ``packages``, which the parent at
    ``parent`` has explicitly installed and the child behind ``chroot`` lacks.

    Fires inside a transaction on the child, once per parent/child pair of ``ash sync`` and
    ``ash force-sync`` (parents first). ``packages`` carry the parent's versions.
    """


# -- chroots -----------------------------------------------------------------------------------


@hookspec
def ash_chroot_enter(chroot: Chroot) -> None:
    """Prepare what a chroot of a snapshot needs before any command runs in it.

    Fires for every plugin at the start of every transaction (``ash chroot``, ``ash run``, package
    operations). Add :class:`~ashcore.sandbox.chroot.Bind`\\ s or ``chroot.env`` entries, write files
    into ``chroot.root`` and register their removal with ``chroot.on_exit`` (which runs before
    commit). ``chroot.package_manager`` names the snapshot's package manager, so a plugin can act
    only for its own distributions.
    """


# -- the bootloader ----------------------------------------------------------------------------


@hookspec
def ash_bootloader_update(context: DeployContext) -> None:
    """Make the bootloader boot ``context.deployment`` by default, keeping the previous deployment
    and every snapshot bootable. Must replace its configuration atomically.

    Fires during ``ash deploy`` and ``ash rollback``, after every ``ash_pre_deploy`` succeeded, and
    again from the next ash run if ash was interrupted before it returned; also, for the same
    deployments, after ``ash del`` or a committed change to a snapshot, so that the menu follows the
    snapshots. Exactly one installed plugin may implement it.
    """


@hookspec
def ash_bootloader_install(context: DeployContext, disk: Path, firmware: str, esp: Path | None) -> None:
    """Install the bootloader of a new system: its boot code on ``disk`` (``firmware`` ``"bios"``) or
    on the EFI system partition ``esp`` (``firmware`` ``"uefi"``), its own files in the store.

    Fires once in the installer (``ash setup``), right after snapshot 0 was deployed and
    ``ash_bootloader_update`` wrote the menu; ``context`` describes that deployment, whose root has
    the distribution's bootloader tools. Implemented by the plugin that implements
    ``ash_bootloader_update``. Raise :class:`~ashcore.errors.AshError` on failure.
    """


# -- encryption --------------------------------------------------------------------------------


@hookspec(firstresult=True)
def ash_encrypt(device: Path, passphrase: str, name: str) -> Path:
    """Format ``device`` as an encrypted container, open it as ``name`` and return the opened block
    device, on which the installer then makes the btrfs filesystem.

    Fires in the installer when encryption is asked for, before the filesystem is made.
    """


# -- deployments -------------------------------------------------------------------------------


@hookspec
def ash_pre_deploy(context: DeployContext) -> None:
    """Check or prepare a deployment before the bootloader is switched to it.

    Fires in ``ash deploy`` once the deployment root exists; raising aborts the deploy and leaves
    the system booting what it booted before.
    """


@hookspec
def ash_post_deploy(context: DeployContext) -> None:
    """React to a finished deployment (the bootloader already boots ``context.snapshot``).

    Fires at the end of ``ash deploy``; a failure is reported but the deployment stays.
    """


@hookspec
def ash_health_checks() -> Sequence[HealthCheck]:
    """Checks that a snapshot is fit to boot, which ``ash auto-upgrade`` runs on the upgraded
    candidate before it deploys it (see :class:`~ashcore.hooks.records.HealthCheck`).

    Fires for every plugin at each automatic update; a distro plugin checks its package database,
    a bootloader plugin that the snapshot has what it boots. A plugin whose hook raises is reported
    and its checks count as failed.
    """


# -- the command line --------------------------------------------------------------------------


@hookspec
def ash_commands() -> Sequence[CommandSpec]:
    """Contribute CLI commands: return :class:`~ashcore.hooks.records.CommandSpec`\\ s.

    Fires when ``ash`` meets a command name it does not know, and for ``ash --help``. A name that
    clashes with a built-in command or another plugin's command is refused with a warning.
    """


# -- profiles ----------------------------------------------------------------------------------


@hookspec
def ash_profile_files() -> Sequence[ProfileFile]:
    """Contribute profiles (desktops, roles) to ash-profiles: return
    :class:`~ashcore.hooks.records.ProfileFile`\\ s naming TOML files, usually the plugin's package data.

    Fires when ash-profiles collects the profiles it knows (every ``ash profile`` command and
    ``ash install-profile``). A profile whose name another source also defines is refused, naming both.
    """


@hookspec
def ash_sync_profiles(chroot: Chroot, inherited: Sequence[InstalledProfile], profiles: list[InstalledProfile]) -> None:
    """Bring into a child snapshot what its parent's installed profiles did besides packages.

    Fires in ``ash sync`` and ``ash force-sync``, inside the child's transaction, after the parent's
    explicit packages were installed into it, when the parent has profiles (``inherited``, the
    parent's records) the child's record lacks. ``profiles`` is the child's record: append what was
    brought in, and it is committed with the child. Raise to leave the child as it was.
    """
