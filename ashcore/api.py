"""The plugin API: everything a plugin may use from ash, and the only module it imports.

::

    from ashcore.api import hookimpl, Chroot, PackageManagerInfo

The names in :data:`__all__` keep their meaning within a major version of ``ashcore``; see
docs/plugins.md for the compatibility policy. Each is imported when first used, so a plugin that
imports this module at start-up costs ash nothing until it calls something.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cli.app import current_system
    from .cli.app import snapshot_transaction as transaction
    from .console import warn
    from .errors import AshError, CommandFailed, UsageError
    from .fs.files import atomic_write, copy_into, in_root, write_in
    from .fs.osrelease import distro_ids
    from .fs.osrelease import read as read_os_release
    from .hooks.records import (
        BootstrapOptions,
        BootTarget,
        CommandSpec,
        DeployContext,
        Firmware,
        HealthCheck,
        Package,
        PackageManagerInfo,
        ProfileFile,
    )
    from .hooks.specs import hookimpl
    from .process import output, run
    from .sandbox.chroot import Bind, Chroot, Device
    from .store.tree import InstalledProfile

__all__ = [
    # marking hook implementations
    "hookimpl",
    # records passed between the core and plugins
    "BootstrapOptions",
    "BootTarget",
    "CommandSpec",
    "DeployContext",
    "Firmware",
    "HealthCheck",
    "Package",
    "PackageManagerInfo",
    "ProfileFile",
    "InstalledProfile",
    # errors (one line and a hint for the user)
    "AshError",
    "CommandFailed",
    "UsageError",
    # a warning in ash's form (one line on stderr)
    "warn",
    # running commands: on the host, and in a snapshot's chroot
    "run",
    "output",
    "Chroot",
    "Bind",
    "Device",
    # files inside a root, as that root sees them
    "in_root",
    "atomic_write",
    "write_in",
    "copy_into",
    "read_os_release",
    "distro_ids",
    # a plugin's own commands
    "current_system",
    "transaction",
]

_WHERE = {
    "hookimpl": ("ashcore.hooks.specs", "hookimpl"),
    "BootstrapOptions": ("ashcore.hooks.records", "BootstrapOptions"),
    "BootTarget": ("ashcore.hooks.records", "BootTarget"),
    "CommandSpec": ("ashcore.hooks.records", "CommandSpec"),
    "DeployContext": ("ashcore.hooks.records", "DeployContext"),
    "Firmware": ("ashcore.hooks.records", "Firmware"),
    "HealthCheck": ("ashcore.hooks.records", "HealthCheck"),
    "Package": ("ashcore.hooks.records", "Package"),
    "PackageManagerInfo": ("ashcore.hooks.records", "PackageManagerInfo"),
    "ProfileFile": ("ashcore.hooks.records", "ProfileFile"),
    "InstalledProfile": ("ashcore.store.tree", "InstalledProfile"),
    "AshError": ("ashcore.errors", "AshError"),
    "CommandFailed": ("ashcore.errors", "CommandFailed"),
    "UsageError": ("ashcore.errors", "UsageError"),
    "warn": ("ashcore.console", "warn"),
    "run": ("ashcore.process", "run"),
    "output": ("ashcore.process", "output"),
    "Chroot": ("ashcore.sandbox.chroot", "Chroot"),
    "Bind": ("ashcore.sandbox.chroot", "Bind"),
    "Device": ("ashcore.sandbox.chroot", "Device"),
    "in_root": ("ashcore.fs.files", "in_root"),
    "atomic_write": ("ashcore.fs.files", "atomic_write"),
    "write_in": ("ashcore.fs.files", "write_in"),
    "copy_into": ("ashcore.fs.files", "copy_into"),
    "read_os_release": ("ashcore.fs.osrelease", "read"),
    "distro_ids": ("ashcore.fs.osrelease", "distro_ids"),
    "current_system": ("ashcore.cli.app", "current_system"),
    "transaction": ("ashcore.cli.app", "snapshot_transaction"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module 'ashcore.api' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
