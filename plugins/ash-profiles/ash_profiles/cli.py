"""The profile commands; imported only when one of them runs."""

from __future__ import annotations

from typing import Annotated, Any

import typer

_SETTINGS = {"add_completion": False, "rich_markup_mode": None, "pretty_exceptions_enable": False}
install_app = typer.Typer(**_SETTINGS)  # type: ignore[arg-type]
profile_app = typer.Typer(no_args_is_help=True, help="Desktops and roles for snapshots.", **_SETTINGS)  # type: ignore[arg-type]

Profile = Annotated[
    str, typer.Argument(metavar="PROFILE", help="Profile name (see 'ash profile list').", show_default=False)
]
Snapshot = Annotated[
    str, typer.Argument(metavar="SNAPSHOT", help="Snapshot number (see 'ash tree').", show_default=False)
]
OptionalSnapshot = Annotated[
    str | None, typer.Argument(metavar="[SNAPSHOT]", help="Show what it does on this snapshot.", show_default=False)
]
DryRun = Annotated[bool, typer.Option("--dry-run", "-n", help="Print what it would do, change nothing.")]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _install(profile: str, snapshot: str, dry_run: bool) -> None:
    if dry_run:
        _show(profile, snapshot, as_json=False)
        print("dry run: nothing was changed")
        return
    from .apply import install

    sid, _ = install(profile, snapshot)
    print(f"install-profile: profile {profile} installed in snapshot {sid}; boot it with 'ash deploy {sid}'")


@install_app.command("install-profile")
def install_profile(profile: Profile, snapshot: Snapshot, dry_run: DryRun = False) -> None:
    """Install a profile into a snapshot in one transaction: packages, services, post commands.

    Any failure leaves the snapshot as it was. Nothing is deployed: 'ash deploy SNAPSHOT' boots it.
    """
    _install(profile, snapshot, dry_run)


@profile_app.command("install")
def install_cmd(profile: Profile, snapshot: Snapshot, dry_run: DryRun = False) -> None:
    """Install a profile into a snapshot (the same as 'ash install-profile PROFILE SNAPSHOT')."""
    _install(profile, snapshot, dry_run)


@profile_app.command("remove")
def remove_cmd(profile: Profile, snapshot: Snapshot) -> None:
    """Remove a profile from a snapshot: the packages its install added that no other installed
    profile lists, and the services it enabled that no other one does. One transaction."""
    from .apply import remove

    sid, packages, services = remove(profile, snapshot)
    print(f"removed packages: {' '.join(packages) or 'none'}; disabled services: {' '.join(services) or 'none'}")
    print(f"profile remove: profile {profile} removed from snapshot {sid}; boot it with 'ash deploy {sid}'")


@profile_app.command("list")
def list_cmd(as_json: Json = False) -> None:
    """List the profiles: name, distributions, the snapshots that have it, description."""
    from ashcore.api import current_system, warn

    from .apply import catalog

    known = catalog()
    for problem in [*known.problems, *known.clashes.values()]:
        warn(f"{problem}; skipped")
    store = current_system().store
    tree = store.load() if store.exists() else None
    where: dict[str, list[int]] = {}
    for snap in tree.snapshots.values() if tree else ():
        for record in snap.profiles:
            where.setdefault(record.name, []).append(snap.id)
    rows: list[dict[str, Any]] = [
        {
            "name": p.name,
            "description": p.description,
            "distros": list(p.distros),
            "installed_in": sorted(where.get(p.name, [])),
            "source": p.source,
        }
        for p in sorted(known.profiles.values(), key=lambda p: p.name)
    ]
    if as_json:
        import json

        print(json.dumps(rows, indent=2))
        return
    width = max((len(r["name"]) for r in rows), default=0)
    for r in rows:
        snaps = ",".join(map(str, r["installed_in"])) or "-"
        print(f"{r['name']:<{width}}  {','.join(r['distros']):<20}  in: {snaps:<6}  {r['description']}")


@profile_app.command("show")
def show_cmd(profile: Profile, snapshot: OptionalSnapshot = None, as_json: Json = False) -> None:
    """Show a profile; with a snapshot, what installing it there would do (as 'install --dry-run')."""
    _show(profile, snapshot, as_json=as_json)


def _show(name: str, snapshot: str | None, *, as_json: bool) -> None:
    import json

    from ashcore.api import current_system

    from .apply import catalog, plan_on

    profile = catalog().get(name)
    if snapshot is None:
        if as_json:
            print(json.dumps(profile.to_json(), indent=2))
            return
        print(f"{profile.name}: {profile.description}")
        print(f"  from: {profile.source}")
        for distro, packages in sorted(profile.packages.items()):
            print(f"  packages ({distro}): {' '.join(packages)}")
        print(f"  services: {' '.join(profile.services) or 'none'}")
        for distro, services in sorted(profile.services_by_distro.items()):
            print(f"  services ({distro}): {' '.join(services) or 'none'}")
        for key, value in (("default target", profile.default_target), ("portage profile", profile.portage_profile)):
            if value:
                print(f"  {key}: {value}")
        for key, names in (("conflicts", profile.conflicts), ("requires", profile.requires)):
            if names:
                print(f"  {key}: {' '.join(names)}")
        for command in profile.post:
            print(f"  post: {command}")
        return
    store = current_system().store
    tree = store.load()
    snap = store.require(tree, snapshot)
    steps = plan_on(profile, store.snapshot_path(snap.id))
    if as_json:
        print(json.dumps({"snapshot": snap.id, **steps.to_json()}, indent=2))
        return
    print(f"snapshot {snap.id}: " + "\n".join(steps.lines()))
