"""The ash-grub hooks: check a deployment can boot, write the menu, install GRUB."""

from __future__ import annotations

from pathlib import Path

from ashcore.api import AshError, Chroot, DeployContext, HealthCheck, atomic_write, hookimpl

from . import config, install, osprober, verify


@hookimpl
def ash_pre_deploy(context: DeployContext) -> None:
    """Refuse a deployment GRUB could not boot: one without a kernel and its initramfs."""
    if config.kernel(context.deployment) is None:
        raise AshError(
            f"snapshot {context.snapshot} has no kernel with an initramfs in /boot, so it could not boot",
            hint="install a kernel into it first (on Debian: linux-image-amd64)",
        )


@hookimpl
def ash_health_checks() -> list[HealthCheck]:
    return [HealthCheck("kernel and initramfs", _has_kernel)]


def _has_kernel(chroot: Chroot) -> str | None:
    return None if config.kernel(chroot.root) else "no kernel with an initramfs in /boot: GRUB could not boot it"


@hookimpl
def ash_bootloader_update(context: DeployContext) -> None:
    """Replace ``grub.cfg`` with the menu for ``context`` (written aside, synced, renamed over),
    once it passed :func:`ash_grub.verify.check`; if it does not, the old one stays."""
    target = install.grub_dir(context) / "grub.cfg"
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.tmp-*"):  # left by an interrupted write
        stale.unlink()
    settings = config.read_settings(context.deployment)
    extra = osprober.entries(context) if osprober.wanted(context, settings) else []
    text = config.render(context, settings, extra)
    verify.check(text, context)
    atomic_write(target, text)


@hookimpl
def ash_bootloader_install(context: DeployContext, disk: Path, firmware: str, esp: Path | None) -> None:
    install.install(context, disk, firmware, esp)
