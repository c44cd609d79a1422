"""Deployments: making a snapshot the one that boots next, atomically, and going back.

A deployment is a writable snapshot of snapshot N at ``<store>/deploy/<N>-<serial>``, booted with
its root read-only and its own ``/etc`` writable (docs/layout.md). ``<store>/ash/deploy.json`` names
the default deployment and the one to fall back to (:mod:`ashcore.store.deployments`); the
bootloader plugin turns that into its menu.

The switch is ordered so that a crash at any moment boots the old or the new deployment:

1. the deployment is made and prepared, the pre-deploy hooks pass, the shared ``/var`` is seeded
   (a crash leaves a deployment nothing refers to; the next deploy deletes it);
2. ``deploy.json`` names the new default, marked ``bootloader_pending`` (an atomic write);
3. the bootloader plugin replaces its configuration atomically: from here on the new one boots;
4. ``deploy.json`` loses the mark; post-deploy hooks run; unreferenced deployments are deleted.

A crash between 2 and 4 leaves the old bootloader configuration, and every deployment it names is
still there (nothing is deleted while the mark is set); the next ash run that changes anything
repeats 3 and 4 (:func:`ashcore.boot.menu.finish_interrupted`).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..console import warn
from ..errors import AshError, UsageError
from ..fs import btrfs, fstab
from ..fs.files import copy_into, failpoint, in_root, write_in
from ..hooks.manager import Plugins
from ..hooks.records import DeployContext
from ..process import run
from ..store.deployments import Deployment, DeployState
from ..store.store import Store
from ..store.tree import Tree
from . import menu

HOOKS = Path("etc/ash/hooks")  # in the sysroot: pre-deploy.d/ and post-deploy.d/


def deploy(plugins: Plugins, store: Store, tree: Tree, sid: int) -> Deployment:
    """Make snapshot ``sid`` the default deployment (see the module docstring for the order)."""
    deployments = store.deployments
    plugins.require_bootloader()
    old = deployments.load()
    layout = fstab.Layout.of(store.sysroot, store.path)
    new = Deployment(deployments.new_id(sid, old), sid)
    root = deployments.path(new.id)
    paths = plugins.state_paths(plugins.package_manager_or_none(store.snapshot_path(sid), tree.distro))
    deployments.dir.mkdir(exist_ok=True)
    btrfs.snapshot(store.snapshot_path(sid), root, readonly=False)
    failpoint("deploy:created")
    state = DeployState(default=new, previous=deployments.booted() or old.default, pending=True)
    ctx = menu.context(store, tree, state, layout)
    try:
        _prepare(store, root, new, layout, writable=tree[sid].mutable, state_paths=paths)
        run_hooks(ctx, "pre-deploy")
        plugins.pre_deploy(ctx)
    except BaseException:
        btrfs.ensure_absent(root)
        raise
    if "/var" in dict(layout.shared) and (var := in_root(root, "var")).is_dir():
        copy_into(var, store.sysroot / "var", replace=False, skip=paths, rel="var")
    btrfs.syncfs(root)  # the deployment and the shared /var are on disk before anything names them
    failpoint("deploy:prepared")
    try:
        menu.switch(plugins, store, state, ctx, undo=old)
    except Exception:
        if deployments.load() == old:  # the bootloader failed and nothing refers to the deployment
            btrfs.ensure_absent(root)
        raise
    _post_deploy(plugins, ctx)
    deployments.collect(state)
    return new


def rollback(plugins: Plugins, store: Store, tree: Tree) -> Deployment:
    """Make the previous deployment the default again (and the default the previous one)."""
    deployments = store.deployments
    old = deployments.load()
    if old.previous is None or not deployments.path(old.previous.id).is_dir():
        raise UsageError(
            "there is no previous deployment to roll back to", hint="see 'ash tree', then 'ash deploy <snapshot>'"
        )
    plugins.require_bootloader()
    state = DeployState(default=old.previous, previous=old.default, pending=True)
    menu.switch(plugins, store, state, menu.context(store, tree, state), undo=old)
    return old.previous


def _prepare(
    store: Store, root: Path, dep: Deployment, layout: fstab.Layout, *, writable: bool, state_paths: tuple[str, ...]
) -> None:
    """Mark the new deployment with what it is and give it its fstab and mount points.

    Every path is taken as the deployment sees it (:func:`in_root`): a link in the snapshot, such as
    an absolute ``/usr/lib/ash -> /opt/ash``, leads within the deployment, never to the host.
    """
    store.deployments.mark(root, dep)
    for point in (fstab.RUNTIME_STORE, *(p for p, _ in layout.shared)):
        in_root(root, point).mkdir(parents=True, exist_ok=True)
    lines = layout.deployment_lines(f"deploy/{dep.id}", writable=writable, state_paths=state_paths)
    in_root(root, "etc").mkdir(parents=True, exist_ok=True)
    write_in(root, "etc/fstab", fstab.merge(fstab.read(root), lines))
    store.deployments.mark_in_step(dep, store.snapshot_path(dep.snapshot))


# -- the user's deploy hooks -------------------------------------------------------------------


def run_hooks(ctx: DeployContext, kind: str) -> list[str]:
    """Run the user's executables in ``<sysroot>/etc/ash/hooks/<kind>.d/`` in name order.

    Each gets ``ASH_SNAPSHOT``, ``ASH_SYSROOT`` and ``ASH_DEPLOYMENT`` in its environment. A failing
    pre-deploy hook aborts the deploy; the failures of post-deploy hooks are returned.
    """
    directory = ctx.sysroot / HOOKS / f"{kind}.d"
    found = sorted(directory.iterdir()) if directory.is_dir() else []
    hooks = [p for p in found if not p.name.startswith(".") and p.is_file() and os.access(p, os.X_OK)]
    env = {
        **os.environ,
        "ASH_SNAPSHOT": str(ctx.snapshot),
        "ASH_SYSROOT": str(ctx.sysroot),
        "ASH_DEPLOYMENT": str(ctx.deployment),
    }
    failed = []
    for hook in hooks:
        status = run([hook], env=env, check=False).returncode
        if status and kind == "pre-deploy":
            raise AshError(f"pre-deploy hook {hook} exited with status {status}; nothing was deployed")
        if status:
            failed.append(f"post-deploy hook {hook} exited with status {status}")
    return failed


def _post_deploy(plugins: Plugins, ctx: DeployContext) -> None:
    """Post-deploy hooks: their failures are reported, the deployment stays."""
    problems = run_hooks(ctx, "post-deploy")
    try:
        plugins.post_deploy(ctx)
    except Exception as exc:  # noqa: BLE001 - the deploy is done; a plugin failing here cannot undo it
        problems.append(f"a post-deploy plugin hook failed: {getattr(exc, 'message', exc)}")
    for problem in problems:
        warn(f"{problem} (the deployment stays)")
