"""``ash setup``, the installer's command line: where to install, and the questions it asks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..console import interactive
from ..errors import AshError, UsageError
from .app import YesOpt, command, state

Firmware = Annotated[
    str | None,
    typer.Option("--firmware", metavar="bios|uefi", help="Boot firmware (default: uefi with an ESP, else bios)."),
]


@command("setup", "install-system")
def setup_cmd(
    partition: Annotated[Path | None, typer.Argument(help="Partition for the btrfs filesystem (erased).")] = None,
    disk: Annotated[Path | None, typer.Argument(help="The disk holding it (GRUB goes there for BIOS).")] = None,
    esp: Annotated[Path | None, typer.Argument(help="FAT EFI system partition (UEFI).")] = None,
    image: Annotated[
        Path | None, typer.Option("--image", help="Install into this new disk-image file instead.")
    ] = None,
    size: Annotated[str, typer.Option("--size", help="Size of the image file.")] = "8G",
    firmware: Firmware = None,
    distro: Annotated[str, typer.Option("--distro", help="Distribution to bootstrap.")] = "debian",
    release: Annotated[str | None, typer.Option("--release", help="Release/suite (e.g. bookworm).")] = None,
    mirror: Annotated[str | None, typer.Option("--mirror", help="Package mirror.")] = None,
    include: Annotated[list[str], typer.Option("--include", help="Extra package (repeatable).")] = [],  # noqa: B006
    source: Annotated[
        Path | None,
        typer.Option("--from", help="Take the base root from this directory or archive instead of bootstrapping."),
    ] = None,
    overlay: Annotated[
        Path | None,
        typer.Option("--overlay", help="Directory copied over the base before snapshot 0 is made."),
    ] = None,
    hostname: Annotated[str | None, typer.Option("--hostname", help="Host name (asked if not given).")] = None,
    timezone: Annotated[str | None, typer.Option("--timezone", help="Time zone, e.g. Europe/Paris.")] = None,
    root_password: Annotated[
        str | None,
        typer.Option(
            "--root-password", envvar="ASH_ROOT_PASSWORD", help="Root password (asked if not given; empty: locked)."
        ),
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="Also create this user (in the sudo group).")] = None,
    user_password: Annotated[
        str | None,
        typer.Option("--user-password", envvar="ASH_USER_PASSWORD", help="The user's password (asked if not given)."),
    ] = None,
    cache: Annotated[Path | None, typer.Option("--cache-dir", help="Keep downloaded packages here.")] = None,
    encrypt: Annotated[
        bool, typer.Option("--encrypt", help="Encrypt the root partition (needs an encryption plugin).")
    ] = False,
    passphrase: Annotated[
        str | None,
        typer.Option("--passphrase", envvar="ASH_PASSPHRASE", help="Passphrase for --encrypt (asked if not given)."),
    ] = None,
    yes: YesOpt = False,
) -> None:
    """Install an ash system onto PARTITION of DISK (and ESP), or into a new disk image (--image)."""
    from ..install import installer
    from ..install.disks import parse_size
    from . import completion, manpage

    system = state().system
    system.check_can_change()
    where: installer.Image | installer.Target
    if image is not None:
        if partition or disk or esp:
            raise UsageError("give either --image FILE or PARTITION DISK [ESP], not both")
        where = installer.Image.check(image, parse_size(size), firmware or "bios")
    elif partition is None or disk is None:
        raise UsageError("say where to install: PARTITION DISK [ESP], or --image FILE")
    else:
        where = installer.Target.check(partition, disk, esp, firmware or ("uefi" if esp else "bios"))
    ask = Questions(interactive=not yes and interactive())
    if isinstance(where, installer.Target):
        ask.confirm(f"Erase {partition} and install ash there?", refuse_without=not yes)
    settings = installer.Settings(
        distro=distro,
        release=release,
        mirror=mirror,
        packages=tuple(include),
        source=source,
        overlay=overlay,
        hostname=hostname or ask.text("Host name", "ash"),
        timezone=timezone,
        root_password=root_password if root_password is not None else ask.password("Root password (empty: locked)"),
        user=user,
        user_password=user_password
        if user_password is not None
        else ask.password(f"Password of {user}")
        if user
        else "",
        cache_dir=cache,
        passphrase=(passphrase if passphrase is not None else ask.password("Passphrase of the encrypted root"))
        if encrypt
        else None,
        ash_files={manpage.PATH: manpage.render(), **completion.scripts()},
    )
    installer.preflight(system, settings)
    if isinstance(where, installer.Image):
        installer.install_image(system, where, settings)
    else:
        installer.install_device(system, where, settings)
    print(f"installed ash ({where.firmware}) on {image or partition}; snapshot 0 is deployed")


class Questions:
    """Asks the installer's questions on a terminal; otherwise every answer is its default."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive

    def text(self, prompt: str, default: str) -> str:
        return typer.prompt(prompt, default=default) if self.interactive else default

    def password(self, prompt: str) -> str:
        if not self.interactive:
            return ""
        return typer.prompt(prompt, default="", hide_input=True, confirmation_prompt=True, show_default=False)

    def confirm(self, prompt: str, *, refuse_without: bool) -> None:
        if self.interactive:
            if not typer.confirm(prompt, default=False):
                raise AshError("nothing was installed")
        elif refuse_without:
            raise UsageError(
                "refusing to erase a partition without confirmation", hint="pass -y to install without asking"
            )
