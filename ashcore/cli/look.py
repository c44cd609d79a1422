"""Commands that look: tree, current, list, show, diff, plugins. They take no lock and need no root."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..console import emit_json
from ..errors import AshError
from .app import JsonOpt, Snap, State, command, state

if TYPE_CHECKING:
    from ..store.tree import Tree


@command("tree", "t")
def tree_cmd(as_json: JsonOpt = False) -> None:
    """Show the snapshot tree; '*' marks the current snapshot."""
    store = state().store
    tree, current = store.load(), store.current()
    if as_json:
        emit_json(
            {
                "current": current,
                "booted": store.booted(),
                "deployed": store.deployed(),
                "distro": tree.distro,
                "tree": tree.nested(current),
            }
        )
    else:
        print(tree.render(current))


@command("current", "c")
def current_cmd(as_json: JsonOpt = False) -> None:
    """Print the number of the booted (or else the deployed) snapshot."""
    store = state().store
    tree = store.load()
    current = store.current()
    if as_json:
        emit_json({"current": current, "booted": store.booted(), "deployed": store.deployed()})
    elif current is None:
        raise AshError("no snapshot is booted or deployed yet", hint="deploy one with 'ash deploy <snapshot>'")
    elif current not in tree:
        raise AshError(
            f"snapshot {current}, which the system {'runs' if store.booted() == current else 'boots next'},"
            " is no longer in the tree",
            hint="see 'ash check', then deploy a snapshot of the tree",
        )
    else:
        print(current)


@command("list", "ls")
def list_cmd(snapshot: Snap, as_json: JsonOpt = False) -> None:
    """List the packages installed in a snapshot."""
    from ..ops import packages

    s = state()
    tree = s.store.load()
    found = packages.installed(s.system, tree, s.store.require(tree, snapshot).id)
    if as_json:
        emit_json([{"name": p.name, "version": p.version, "explicit": p.explicit} for p in found])
    for p in [] if as_json else found:
        print(f"{p.name} {p.version}")


@command("show")
def show_cmd(snapshot: Snap, as_json: JsonOpt = False) -> None:
    """Show one snapshot: parent, children, description, mutability, explicit packages, deployed, booted."""
    s = state()
    tree = s.store.load()
    snap = s.store.require(tree, snapshot)
    data = {
        **snap.to_json(),
        "children": sorted(c.id for c in tree.snapshots.values() if c.parent == snap.id),
        "deployed": s.store.deployed() == snap.id,
        "booted": s.store.booted() == snap.id,
        "explicit_packages": _explicit(s, tree, snap.id),
    }
    if as_json:
        emit_json(data)
        return
    for key in ("id", "parent", "description", "mutable", "created", "deployed", "booted"):
        print(f"{key}: {'-' if data[key] is None else data[key]}")
    print(f"children: {', '.join(map(str, data['children'])) or '-'}")
    packages = data["explicit_packages"]
    shown = "(no package manager manages it)" if packages is None else " ".join(p["name"] for p in packages) or "-"
    print(f"explicit packages: {shown}")


def _explicit(s: State, tree: Tree, sid: int) -> list[dict] | None:
    """The packages installed explicitly in ``sid``, or None when no plugin manages its distribution."""
    from ..ops import packages

    if s.system.plugins.package_manager_or_none(s.store.snapshot_path(sid), tree.distro) is None:
        return None
    return [{"name": p.name, "version": p.version} for p in packages.installed(s.system, tree, sid) if p.explicit]


@command("diff", "dif")
def diff_cmd(old: Snap, new: Snap, as_json: JsonOpt = False) -> None:
    """Show packages added, removed and changed in version from OLD to NEW (and installed profiles)."""
    from ..ops import packages

    s = state()
    tree = s.store.load()
    ids = [s.store.require(tree, x).id for x in (old, new)]
    a, b = (packages.installed(s.system, tree, sid) for sid in ids)
    d = packages.diff(a, b, *([p.name for p in tree[sid].profiles] for sid in ids))
    if as_json:
        emit_json(d.to_json())
        return
    for name in d.profiles_added:
        print(f"+ profile {name}")
    for name in d.profiles_removed:
        print(f"- profile {name}")
    for p in d.added:
        print(f"+ {p.name} {p.version}")
    for p in d.removed:
        print(f"- {p.name} {p.version}")
    for x, y in d.changed:
        print(f"~ {x.name} {x.version} -> {y.version}")


@command("plugins")
def plugins_cmd(as_json: JsonOpt = False) -> None:
    """List the plugins found, their distributions, the plugin API they were built for, and their hooks."""
    from ..hooks.manager import api_of

    plugins = state().system.plugins
    apis = {r.distribution: api_of(r.distribution) for r in plugins.records}
    if as_json:
        emit_json([{**r.to_json(), "api": apis[r.distribution]} for r in plugins.records])
        return
    if not plugins.records:
        print("no plugins installed")
    for r in plugins.records:
        party = " (third-party)" if r.third_party else ""
        api = f", for {apis[r.distribution]}" if apis[r.distribution] else ", for an unstated plugin API"
        print(f"{r.name}: {r.distribution} {r.version}{party}{api}\n    hooks: {', '.join(r.hooks) or '-'}")
