"""ash's profiles plugin: desktops and roles installed into a snapshot in one transaction.

This module is loaded on every ``ash`` start, so it imports nothing but ashcore.api; the commands
(:mod:`ash_profiles.cli`) are imported only when one of them runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ashcore.api import CommandSpec, hookimpl

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ashcore.api import Chroot, InstalledProfile


@hookimpl
def ash_commands() -> list[CommandSpec]:
    return [
        CommandSpec(
            name="install-profile",
            help="Install a profile (a desktop or a role) into a snapshot: ash install-profile PROFILE SNAPSHOT.",
            target="ash_profiles.cli:install_app",
        ),
        CommandSpec(
            name="profile",
            help="List, show, install and remove profiles (desktops and roles).",
            target="ash_profiles.cli:profile_app",
        ),
    ]


@hookimpl
def ash_sync_profiles(chroot: Chroot, inherited: Sequence[InstalledProfile], profiles: list[InstalledProfile]) -> None:
    """``ash sync`` brought the parent's packages: enable the services of the parent's profiles, set
    their default target, run their post commands, and record them in the child."""
    from .apply import sync_into

    sync_into(chroot, inherited, profiles)
