"""Commands that look: tree, current, list, diff, plugins. They take no lock and need no root."""

from __future__ import annotations

from ..console import emit_json
from ..errors import AshError
from .app import JsonOpt, Snap, command, state


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
    """List the plugins found, their distributions and the hooks they implement."""
    plugins = state().system.plugins
    if as_json:
        emit_json([r.to_json() for r in plugins.records])
        return
    if not plugins.records:
        print("no plugins installed")
    for r in plugins.records:
        party = " (third-party)" if r.third_party else ""
        print(f"{r.name}: {r.distribution} {r.version}{party}\n    hooks: {', '.join(r.hooks) or '-'}")
