"""ash's profiles plugin: desktops and roles installed into a snapshot in one transaction.

This module is loaded on every ``ash`` start, so it imports nothing but ashcore.api; the commands
(:mod:`ash_profiles.cli`) are imported only when one of them runs.
"""

from __future__ import annotations

from ashcore.api import CommandSpec, hookimpl


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
