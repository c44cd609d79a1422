"""Operations on the running deployment as well as its snapshot: ``install --live`` and
``etc-update``. Both keep the deployment's record of being in step with its snapshot."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import AshError, UsageError
from ..fs import btrfs, fstab
from ..fs.files import write_in
from ..process import run
from ..store.tree import BASE, Tree
from . import packages
from .system import System


def install_live(system: System, tree: Tree, sid: int, names: Sequence[str]) -> None:
    """Install into snapshot ``sid`` (a transaction), then the same into the running deployment,
    which must have been deployed from ``sid``: the packages work at once, without a reboot."""
    deployments, booted = system.store.deployments, system.running()
    if booted.snapshot != sid:
        raise UsageError(
            f"--live installs only into the snapshot the system runs, {booted.snapshot}, not {sid}",
            hint=f"drop --live, or deploy {sid} and reboot first",
        )
    snapshot = system.store.snapshot_path(sid)
    was_in_step = deployments.in_step(booted, snapshot)
    packages.install(system, tree, sid, names)
    try:
        with system.live_chroot(tree) as chroot:
            plugin = chroot.package_manager or system.plugins.package_manager_of(chroot.root, tree.distro)
            system.plugins.install(plugin, chroot, names)
    except AshError as exc:
        raise AshError(
            f"installed into snapshot {sid}, but not into the running system: {exc.message}",
            hint="the packages arrive with the next boot of a deployment of that snapshot",
        ) from None
    if was_in_step:  # both had the same change: 'ash etc-update' may still save /etc into it
        deployments.mark_in_step(booted, snapshot)


def etc_update(system: System, tree: Tree) -> int:
    """Save the running deployment's ``/etc`` into the snapshot it was made from (a transaction)."""
    store, booted = system.store, system.running()
    store.require(tree, booted.snapshot)
    if booted.snapshot == BASE:
        raise UsageError(
            "cannot save /etc into snapshot 0: it is the base",
            hint="copy the files you changed into a clone ('ash clone 0', then 'ash chroot <new>') and deploy that",
        )
    snapshot = store.snapshot_path(booted.snapshot)
    if not store.deployments.in_step(booted, snapshot):
        raise AshError(
            f"snapshot {booted.snapshot} has changed since it was deployed (a package operation or 'ash run' on it): "
            "saving the running /etc into it would undo that change's /etc",
            hint=f"copy the files you changed into it with 'ash chroot {booted.snapshot}' (or deploy it again)",
        )
    layout = fstab.Layout.of(store.sysroot, store.path)
    paths = system.plugins.state_paths(system.plugins.package_manager_or_none(snapshot, tree.distro))
    owned = layout.deployment_lines(f"deploy/{booted.id}", writable=False, state_paths=paths)
    user = fstab.user_lines(fstab.read(store.sysroot), owned + layout.snapshot_lines())
    with system.transaction(tree, booted.snapshot) as chroot:
        etc = chroot.root / "etc"
        btrfs.ensure_absent(etc)
        run(["cp", "-a", "--reflink=auto", store.sysroot / "etc", etc])
        write_in(chroot.root, "etc/fstab", fstab.merge("\n".join(user), layout.snapshot_lines()))
    store.deployments.mark_in_step(booted, snapshot)
    return booted.snapshot
