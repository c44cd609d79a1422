"""Deployments: making a snapshot the one that boots next, atomically, and going back.

A deployment is a writable snapshot of snapshot N at ``<store>/deploy/<N>-<serial>``, booted with
its root read-only and its own ``/etc`` writable (docs/layout.md). ``<store>/ash/deploy.json`` names
the default deployment and the one to fall back to; the bootloader plugin turns that into its menu.

The switch is ordered so that a crash at any moment boots the old or the new deployment:

1. the deployment is made and prepared, the pre-deploy hooks pass, the shared ``/var`` is seeded
   (a crash leaves a deployment nothing refers to; the next deploy deletes it);
2. ``deploy.json`` names the new default, marked ``bootloader_pending`` (an atomic write);
3. the bootloader plugin replaces its configuration atomically: from here on the new one boots;
4. ``deploy.json`` loses the mark; post-deploy hooks run; unreferenced deployments are deleted.

A crash between 2 and 4 leaves the old bootloader configuration, and every deployment it names is
still there (nothing is deleted while the mark is set); the next ash run that changes anything
(:meth:`System.changing`) repeats 3 and 4 (:func:`finish_interrupted`).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import attrs

from . import btrfs, fstab
from .errors import AshError, UsageError
from .files import atomic_write, failpoint, in_root
from .models import BootTarget, DeployContext
from .run import run
from .store import Store
from .system import System, note
from .tree import BASE, Tree

FORMAT, VERSION = "ash-deploy", 1
MARKERS = Path("usr/lib/ash")  # in a deployment: "snapshot" and "deployment" name what it is, and
# "source" the UUID of the snapshot's subvolume when the deployment was last in step with it
HOOKS = Path("etc/ash/hooks")  # in the sysroot: pre-deploy.d/ and post-deploy.d/
_ID = re.compile(r"(\d+)-(\d+)")


@attrs.frozen
class Deployment:
    id: str
    snapshot: int

    def to_json(self) -> dict:
        return {"id": self.id, "snapshot": self.snapshot}

    @classmethod
    def from_json(cls, data: dict | None) -> Deployment | None:
        return None if data is None else cls(id=str(data["id"]), snapshot=int(data["snapshot"]))


@attrs.frozen
class DeployState:
    """The contents of ``deploy.json``."""

    default: Deployment | None = None
    previous: Deployment | None = None
    pending: bool = False  # the bootloader may not boot ``default`` yet

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "snapshot": self.default.snapshot if self.default else None,  # what Store.deployed() reads
            "default": self.default.to_json() if self.default else None,
            "previous": self.previous.to_json() if self.previous else None,
            "bootloader_pending": self.pending,  # what Store.deploy_pending() reads
        }

    @classmethod
    def from_json(cls, data: dict) -> DeployState:
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise ValueError(f"not an {FORMAT} version {VERSION} file")
        return cls(
            default=Deployment.from_json(data["default"]),
            previous=Deployment.from_json(data["previous"]),
            pending=bool(data["bootloader_pending"]),
        )


class Deployments:
    """The deployments of a store: ``deploy/<id>`` subvolumes and ``ash/deploy.json``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.dir = store.path / "deploy"
        self.file = store.state / "deploy.json"

    def path(self, dep_id: str) -> Path:
        return self.dir / dep_id

    def load(self) -> DeployState:
        try:
            return DeployState.from_json(json.loads(self.file.read_text()))
        except FileNotFoundError:
            return DeployState()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            note(f"ignored {self.file}, which is unreadable ({exc}); deploy a snapshot to rewrite it")
            return DeployState()

    def save(self, state: DeployState) -> None:
        atomic_write(self.file, json.dumps(state.to_json(), indent=1) + "\n")

    def booted(self) -> Deployment | None:
        """The deployment the running system is (when ``sysroot`` is a booted deployment)."""
        sysroot = self.store.sysroot
        try:
            found = Deployment(
                in_root(sysroot, MARKERS / "deployment").read_text().strip(),
                int(in_root(sysroot, MARKERS / "snapshot").read_text()),
            )
        except (OSError, ValueError):
            return None
        return found if self.path(found.id).is_dir() else None

    def new_id(self, snapshot: int, state: DeployState) -> str:
        """``<snapshot>-<serial>``, the serial one above any in use, so ids are never reused while seen."""
        names = [p.name for p in self.dir.iterdir()] if self.dir.is_dir() else []
        names += [d.id for d in (state.default, state.previous) if d]
        serials = [int(m.group(2)) for n in names if (m := _ID.fullmatch(n))]
        return f"{snapshot}-{max(serials, default=0) + 1}"

    def collect(self, state: DeployState) -> list[str]:
        """Delete every deployment but the default, the previous and the booted one."""
        keep = {d.id for d in (state.default, state.previous, self.booted()) if d}
        gone = []
        for entry in sorted(self.dir.iterdir()) if self.dir.is_dir() else []:
            if entry.name not in keep:
                btrfs.ensure_absent(entry)
                gone.append(entry.name)
                failpoint("deploy:collected")
        return gone


# -- the context plugins get -------------------------------------------------------------------


def context(system: System, tree: Tree, state: DeployState, layout: fstab.Layout | None = None) -> DeployContext:
    """What the bootloader needs to know about ``state``: its deployments and every snapshot."""
    store, deployments = system.store, Deployments(system.store)
    layout = layout or fstab.Layout.of(store.sysroot, store.path)
    assert state.default is not None

    def description(sid: int) -> str:
        snap = tree.snapshots.get(sid)
        return snap.description if snap else ""

    def target(dep: Deployment | None) -> BootTarget | None:
        if dep is None or not deployments.path(dep.id).is_dir():
            return None
        return BootTarget(dep.snapshot, deployments.path(dep.id), layout.subvolume(f"deploy/{dep.id}"), description(dep.snapshot))

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


def require_bootloader(system: System) -> None:
    """Refuse to deploy unless exactly one plugin can update the bootloader."""
    found = system.plugins.implementers("ash_bootloader_update")
    if len(found) != 1:
        raise AshError(
            f"a deploy needs exactly one bootloader plugin, found {', '.join(found) if found else 'none'}",
            hint="install ash-grub" if not found else f"disable all but one, e.g. ASH_DISABLED_PLUGINS={found[-1]}",
        )


def state_paths(system: System, tree: Tree, root: Path) -> tuple[str, ...]:
    """The package database paths (under ``/var``) of the root's package manager, if a plugin knows it."""
    plugin = system.package_manager_or_none(root, tree)
    return system.plugins.package_managers()[plugin].state_paths if plugin else ()


# -- deploy, rollback, recovery ----------------------------------------------------------------


def deploy(system: System, tree: Tree, sid: int) -> Deployment:
    """Make snapshot ``sid`` the default deployment (see the module docstring for the order)."""
    store, deployments = system.store, Deployments(system.store)
    require_bootloader(system)
    old = deployments.load()
    layout = fstab.Layout.of(store.sysroot, store.path)
    new = Deployment(deployments.new_id(sid, old), sid)
    root = deployments.path(new.id)
    paths = state_paths(system, tree, store.snapshot_path(sid))
    deployments.dir.mkdir(exist_ok=True)
    btrfs.snapshot(store.snapshot_path(sid), root, readonly=False)
    failpoint("deploy:created")
    state = DeployState(default=new, previous=deployments.booted() or old.default, pending=True)
    ctx = context(system, tree, state, layout)
    try:
        _prepare(root, new, layout, writable=tree[sid].mutable, state_paths=paths)
        mark_in_step(system, new)
        run_hooks(ctx, "pre-deploy")
        system.plugins.call_all("ash_pre_deploy", context=ctx)
    except BaseException:
        btrfs.ensure_absent(root)
        raise
    if "/var" in dict(layout.shared) and (var := in_root(root, "var")).is_dir():
        copy_into(var, store.sysroot / "var", replace=False, skip=paths, rel="var")
    btrfs.syncfs(root)  # the deployment and the shared /var are on disk before anything names them
    failpoint("deploy:prepared")
    try:
        switch(system, deployments, state, ctx, undo=old)
    except Exception:
        if deployments.load() == old:  # the bootloader failed and nothing refers to the deployment
            btrfs.ensure_absent(root)
        raise
    _post_deploy(system, ctx)
    deployments.collect(state)
    return new


def rollback(system: System, tree: Tree) -> Deployment:
    """Make the previous deployment the default again (and the default the previous one)."""
    deployments = Deployments(system.store)
    old = deployments.load()
    if old.previous is None or not deployments.path(old.previous.id).is_dir():
        raise UsageError("there is no previous deployment to roll back to", hint="see 'ash tree', then 'ash deploy <snapshot>'")
    require_bootloader(system)
    state = DeployState(default=old.previous, previous=old.default, pending=True)
    switch(system, deployments, state, context(system, tree, state), undo=old)
    return old.previous


def switch(system: System, deployments: Deployments, state: DeployState, ctx: DeployContext, undo: DeployState | None) -> None:
    """Steps 2 to 4: record the new default as pending, switch the bootloader, clear the mark.

    If the bootloader plugin fails, its old configuration is still in place, and ``deploy.json`` goes
    back to ``undo`` (when known) before the error is raised.
    """
    deployments.save(state)
    failpoint("deploy:pending")
    try:
        system.plugins.call_all("ash_bootloader_update", context=ctx)
    except Exception:
        if undo is not None:
            deployments.save(undo)
        raise
    failpoint("deploy:bootloader")
    deployments.save(attrs.evolve(state, pending=False))
    failpoint("deploy:switched")


def refresh_menu(system: System, tree: Tree) -> None:
    """Write the bootloader's menu again for the same deployments, after snapshots it lists changed."""
    state = Deployments(system.store).load()
    if state.default is None or state.pending:  # a pending switch is finished by finish_interrupted
        return
    require_bootloader(system)
    system.plugins.call_all("ash_bootloader_update", context=context(system, tree, state))


def finish_interrupted(system: System, tree: Tree) -> list[str]:
    """Finish a switch that an interrupted ash left pending; say what was done."""
    deployments = Deployments(system.store)
    state = deployments.load()
    if not state.pending or state.default is None:
        return []
    try:
        switch(system, deployments, state, context(system, tree, state), undo=None)
    except (AshError, OSError) as exc:  # keep the mark; the next run tries again
        return [f"could not finish the interrupted switch to snapshot {state.default.snapshot}: {getattr(exc, 'message', exc)}"]
    deployments.collect(state)
    return [f"finished the interrupted switch to snapshot {state.default.snapshot} (deployment {state.default.id})"]


def _prepare(root: Path, dep: Deployment, layout: fstab.Layout, *, writable: bool, state_paths: tuple[str, ...]) -> None:
    """Mark the new deployment with what it is and give it its fstab and mount points.

    Every path is taken as the deployment sees it (:func:`in_root`): a link in the snapshot, such as
    an absolute ``/usr/lib/ash -> /opt/ash``, leads within the deployment, never to the host.
    """
    in_root(root, MARKERS).mkdir(parents=True, exist_ok=True)
    write_in(root, MARKERS / "snapshot", f"{dep.snapshot}\n")
    write_in(root, MARKERS / "deployment", f"{dep.id}\n")
    for point in (fstab.RUNTIME_STORE, *(p for p, _ in layout.shared)):
        in_root(root, point).mkdir(parents=True, exist_ok=True)
    lines = layout.deployment_lines(f"deploy/{dep.id}", writable=writable, state_paths=state_paths)
    in_root(root, "etc").mkdir(parents=True, exist_ok=True)
    write_in(root, "etc/fstab", fstab.merge(fstab.read(root), lines))


def write_in(root: Path, rel: str | Path, text: str) -> None:
    """Replace the file ``rel`` of ``root`` with ``text`` (atomically). Its directory is found as the
    root sees it (:func:`in_root`: links lead within ``root``); a link in the file's own place is
    replaced, not written through, as ``sed -i`` does, so ash's file is where it means it to be."""
    rel = Path(rel)
    atomic_write(in_root(root, rel.parent) / rel.name, text)


def mark_in_step(system: System, dep: Deployment) -> None:
    """Record that ``dep`` and its snapshot are in step (after a deploy, etc-update, live install)."""
    source = btrfs.subvolume_uuid(system.store.snapshot_path(dep.snapshot))
    write_in(Deployments(system.store).path(dep.id), MARKERS / "source", source + "\n")


def in_step(system: System, dep: Deployment) -> bool:
    """Whether the snapshot of ``dep`` is unchanged since it was last in step with it."""
    try:
        source = in_root(Deployments(system.store).path(dep.id), MARKERS / "source").read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return False
    return source == btrfs.subvolume_uuid(system.store.snapshot_path(dep.snapshot))


def copy_into(source: Path, dest: Path, *, replace: bool, skip: tuple[str, ...] = (), rel: str = "") -> None:
    """Copy the tree ``source`` into the directory ``dest``, entering directories both have.

    What ``dest`` lacks is copied whole; a file it has is replaced only with ``replace``; a directory
    it has keeps its own owner and mode. A symbolic link in ``dest`` is never followed: it is replaced
    with ``replace``, else kept (``dest`` may be a snapshot, whose links lead elsewhere on the host);
    links in ``source`` are copied as links. Directories in ``skip`` (paths like ``var/lib/dpkg``,
    relative to ``rel``'s root) are never copied: when missing they are made empty, as mount points
    (a package database in the shared ``/var`` would not match a snapshot booted from the menu).
    """
    for entry in sorted(os.scandir(source), key=lambda e: e.name):
        target, sub = dest / entry.name, f"{rel}/{entry.name}".lstrip("/")
        is_dir = entry.is_dir(follow_symlinks=False)
        if sub in skip:
            target.mkdir(exist_ok=True)
            continue
        if is_dir and not os.path.lexists(target) and any(p.startswith(f"{sub}/") for p in skip):
            st = entry.stat(follow_symlinks=False)  # made rather than copied whole: it holds a skipped path
            target.mkdir()
            os.chown(target, st.st_uid, st.st_gid)
            os.chmod(target, st.st_mode & 0o7777)
        if is_dir and target.is_dir() and not target.is_symlink():
            copy_into(Path(entry.path), target, replace=replace, skip=skip, rel=sub)
        elif replace or not os.path.lexists(target):
            if target.is_symlink():
                target.unlink()  # cp would write through it
            run(["cp", "-a", "--reflink=auto", "--no-target-directory", entry.path, target])


# -- hooks -------------------------------------------------------------------------------------


def run_hooks(ctx: DeployContext, kind: str) -> list[str]:
    """Run the user's executables in ``<sysroot>/etc/ash/hooks/<kind>.d/`` in name order.

    Each gets ``ASH_SNAPSHOT``, ``ASH_SYSROOT`` and ``ASH_DEPLOYMENT`` in its environment. A failing
    pre-deploy hook aborts the deploy; the failures of post-deploy hooks are returned.
    """
    directory = ctx.sysroot / HOOKS / f"{kind}.d"
    hooks = sorted(p for p in directory.iterdir() if not p.name.startswith(".") and p.is_file() and os.access(p, os.X_OK)) if directory.is_dir() else []
    env = {**os.environ, "ASH_SNAPSHOT": str(ctx.snapshot), "ASH_SYSROOT": str(ctx.sysroot), "ASH_DEPLOYMENT": str(ctx.deployment)}
    failed = []
    for hook in hooks:
        status = run([hook], env=env, check=False).returncode
        if status and kind == "pre-deploy":
            raise AshError(f"pre-deploy hook {hook} exited with status {status}; nothing was deployed")
        if status:
            failed.append(f"post-deploy hook {hook} exited with status {status}")
    return failed


def _post_deploy(system: System, ctx: DeployContext) -> None:
    """Post-deploy hooks: their failures are reported, the deployment stays."""
    problems = run_hooks(ctx, "post-deploy")
    try:
        system.plugins.call_all("ash_post_deploy", context=ctx)
    except Exception as exc:  # noqa: BLE001 - the deploy is done; a plugin failing here cannot undo it
        problems.append(f"a post-deploy plugin hook failed: {getattr(exc, 'message', exc)}")
    for problem in problems:
        note(f"warning: {problem} (the deployment stays)")


# -- the running system ------------------------------------------------------------------------


def running(system: System) -> Deployment:
    """The booted deployment, or a one-line refusal when ash does not run on one."""
    found = Deployments(system.store).booted()
    if found is None:
        raise AshError(
            f"{system.store.sysroot} is not a booted ash deployment",
            hint="run this on the system booted from a deployment (see 'ash deploy')",
        )
    return found


def etc_update(system: System, tree: Tree) -> int:
    """Save the running deployment's ``/etc`` into the snapshot it was made from (a transaction)."""
    store, booted = system.store, running(system)
    store.require(tree, booted.snapshot)
    if booted.snapshot == BASE:
        raise UsageError(
            "cannot save /etc into snapshot 0: it is the base",
            hint="copy the files you changed into a clone ('ash clone 0', then 'ash chroot <new>') and deploy that",
        )
    if not in_step(system, booted):
        raise AshError(
            f"snapshot {booted.snapshot} has changed since it was deployed (a package operation or 'ash run' on it): "
            "saving the running /etc into it would undo that change's /etc",
            hint=f"copy the files you changed into it with 'ash chroot {booted.snapshot}' (or deploy it again)",
        )
    layout = fstab.Layout.of(store.sysroot, store.path)
    paths = state_paths(system, tree, store.snapshot_path(booted.snapshot))
    owned = layout.deployment_lines(f"deploy/{booted.id}", writable=False, state_paths=paths)
    user = fstab.user_lines(fstab.read(store.sysroot), owned + layout.snapshot_lines())
    with system.transaction(tree, booted.snapshot) as chroot:
        etc = chroot.root / "etc"
        btrfs.ensure_absent(etc)
        run(["cp", "-a", "--reflink=auto", store.sysroot / "etc", etc])
        write_in(chroot.root, "etc/fstab", fstab.merge("\n".join(user), layout.snapshot_lines()))
    mark_in_step(system, booted)
    return booted.snapshot
