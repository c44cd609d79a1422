"""The boot menu: what the bootloader plugin is told (:func:`context`), and the switch from one
default deployment to another, which a crash may interrupt and the next ash run finishes.

The switch (steps 2 to 4 of :mod:`ashcore.boot.deploy`): ``deploy.json`` names the new default
marked pending, the bootloader plugin replaces its configuration atomically, the mark is cleared.
"""

from __future__ import annotations

import attrs

from ..errors import AshError
from ..fs import fstab
from ..fs.files import failpoint
from ..hooks.manager import Plugins
from ..hooks.records import BootTarget, DeployContext
from ..store.deployments import Deployment, DeployState
from ..store.store import Store
from ..store.tree import Tree


def context(store: Store, tree: Tree, state: DeployState, layout: fstab.Layout | None = None) -> DeployContext:
    """What the bootloader needs to know about ``state``: its deployments and every snapshot."""
    deployments = store.deployments
    layout = layout or fstab.Layout.of(store.sysroot, store.path)
    assert state.default is not None

    def description(sid: int) -> str:
        snap = tree.snapshots.get(sid)
        return snap.description if snap else ""

    def target(dep: Deployment | None) -> BootTarget | None:
        if dep is None or not deployments.path(dep.id).is_dir():
            return None
        path = deployments.path(dep.id)
        return BootTarget(dep.snapshot, path, layout.subvolume(f"deploy/{dep.id}"), description(dep.snapshot))

    snapshots = tuple(
        BootTarget(sid, store.snapshot_path(sid), layout.subvolume(f"rootfs/snapshot-{sid}"), description(sid))
        for sid in sorted(tree.snapshots)
    )
    return DeployContext(
        sysroot=store.sysroot,
        store=store.path,
        snapshot=state.default.snapshot,
        deployment=deployments.path(state.default.id),
        previous=state.previous.snapshot if state.previous else None,
        fs_uuid=layout.uuid,
        store_subvolume=layout.store,
        default=target(state.default),
        fallback=target(state.previous),
        snapshots=snapshots,
    )


def switch(plugins: Plugins, store: Store, state: DeployState, ctx: DeployContext, undo: DeployState | None) -> None:
    """Record the new default as pending, switch the bootloader, clear the mark.

    If the bootloader plugin fails, its old configuration is still in place, and ``deploy.json`` goes
    back to ``undo`` (when known) before the error is raised.
    """
    deployments = store.deployments
    deployments.save(state)
    failpoint("deploy:pending")
    try:
        plugins.bootloader_update(ctx)
    except Exception:
        if undo is not None:
            deployments.save(undo)
        raise
    failpoint("deploy:bootloader")
    deployments.save(attrs.evolve(state, pending=False))
    failpoint("deploy:switched")


def refresh(plugins: Plugins, store: Store, tree: Tree) -> None:
    """Write the bootloader's menu again for the same deployments, after snapshots it lists changed."""
    state = store.deployments.load()
    if state.default is None or state.pending:  # a pending switch is finished by finish_interrupted
        return
    if (why := missing_default(store, state)) is not None:
        raise AshError(why, hint=f"deploy a snapshot again ('ash deploy {state.default.snapshot}')")
    plugins.require_bootloader()
    plugins.bootloader_update(context(store, tree, state))


def missing_default(store: Store, state: DeployState) -> str | None:
    """Why the deployment that boots by default cannot boot (its subvolume deleted outside ash), or None."""
    if state.default is None or store.deployments.path(state.default.id).is_dir():
        return None
    return f"the deployment {state.default.id} that boots by default (snapshot {state.default.snapshot}) is missing"


def finish_interrupted(plugins: Plugins, store: Store, tree: Tree) -> list[str]:
    """Finish a switch that an interrupted ash left pending; say what was done."""
    state = store.deployments.load()
    if not state.pending or state.default is None:
        return []
    try:
        switch(plugins, store, state, context(store, tree, state), undo=None)
    except (AshError, OSError) as exc:  # keep the mark; the next run tries again
        why = getattr(exc, "message", exc)
        return [f"could not finish the interrupted switch to snapshot {state.default.snapshot}: {why}"]
    store.deployments.collect(state)
    return [f"finished the interrupted switch to snapshot {state.default.snapshot} (deployment {state.default.id})"]
