#!/usr/bin/python
# Copyright: (c) 2026, ash developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ash
short_description: Declare a snapshot of an ash system, its packages, and whether it is deployed
version_added: "0.1.0"
description:
  - Makes a snapshot of the machine's ash tree be as declared, through the C(ash) command's JSON
    interface (nothing of ash is imported, so the target needs only C(ash) itself).
  - A snapshot is named by its number (O(snapshot)) or by its description (O(name)), which is how a
    playbook keeps a snapshot it made; a snapshot named that way is branched from O(parent) when missing.
  - Every change is one of ash's transactions, so a failed step leaves the snapshot as it was.
options:
  name:
    description: The snapshot whose description is this text (unique in the tree); made when missing.
    type: str
  snapshot:
    description: The snapshot with this number (it must exist).
    type: int
  parent:
    description: The snapshot a new one is branched from.
    type: int
    default: 0
  state:
    description:
      - V(present) makes the snapshot exist, V(absent) deletes it (with its descendants, as C(ash del)),
        V(deployed) also makes it the one that boots next.
    type: str
    choices: [present, absent, deployed]
    default: present
  packages:
    description: Packages the snapshot has explicitly installed (V(present)) or lacks (V(absent)).
    type: list
    elements: str
    default: []
  packages_state:
    description: Whether O(packages) are to be installed or removed.
    type: str
    choices: [present, absent]
    default: present
  upgrade:
    description: Upgrade the snapshot's packages; changed only when a package's version changed.
    type: bool
    default: false
extends_documentation_fragment:
  - ash.ash.ash
attributes:
  check_mode:
    support: full
    description: Nothing is changed; the result lists the ash commands that would run.
  diff_mode:
    support: full
    description: Shows the snapshot (description, explicit packages, deployed) before and after.
author:
  - ash developers (@ash)
"""

EXAMPLES = r"""
- name: A web server snapshot with nginx, deployed
  ash.ash.ash:
    name: web
    parent: 0
    packages: [nginx]
    state: deployed

- name: Drop an old snapshot
  ash.ash.ash:
    snapshot: 7
    state: absent
"""

RETURN = r"""
snapshot:
  description: The number of the snapshot (absent when one would be made in check mode, or was deleted).
  type: int
  returned: when it exists
commands:
  description:
    - The ash commands run (or, in check mode, that would run), each an argument list.
    - An upgrade that changed no package is listed but does not make the task changed.
  type: list
  elements: list
  returned: always
"""

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ash.ash.plugins.module_utils.ash import ARGUMENTS, Ash

NEW = "<new>"


def nodes(tree: list) -> list:
    found = []
    for node in tree:
        found.append(node)
        found += nodes(node.get("children", []))
    return found


def explicit(ash: Ash, sid) -> dict:
    """The snapshot's packages: name -> explicit."""
    if sid in (None, NEW):
        return {}
    return {p["name"]: p["explicit"] for p in ash.read("list", str(sid), "--json")}


def view(sid, description, packages: dict, deployed) -> str:
    shown = {"snapshot": sid, "description": description, "deployed": deployed is not None and deployed == sid}
    shown["explicit_packages"] = sorted(n for n, e in packages.items() if e)
    return json.dumps(shown, indent=1, sort_keys=True) + "\n"


def run(module: AnsibleModule) -> None:
    p = module.params
    ash = Ash(module)
    state = ash.read("tree", "--json")
    everything = nodes(state["tree"])
    if p["snapshot"] is not None:
        found = [n for n in everything if n["id"] == p["snapshot"]]
        if not found and p["state"] != "absent":
            module.fail_json(msg=f"snapshot {p['snapshot']} does not exist; name one with 'name' to make it")
    else:
        found = [n for n in everything if n["description"] == p["name"]]
        if len(found) > 1:
            ids = ", ".join(str(n["id"]) for n in found)
            module.fail_json(msg=f"snapshots {ids} are all described {p['name']!r}; name one by number")
    node = found[0] if found else None
    sid = node["id"] if node else None
    before_packages = explicit(ash, sid)
    before = view(sid, node["description"] if node else None, before_packages, state["deployed"])

    if p["state"] == "absent":
        if node:
            ash.change("del", "--yes", str(sid))
        module.exit_json(changed=bool(ash.ran), commands=ash.ran, diff={"before": before, "after": ""})

    if node is None:
        out = ash.change("branch", str(p["parent"]), "--desc", p["name"])
        sid = int(out.strip().splitlines()[-1]) if out.strip() else NEW
    packages = dict(before_packages)
    wanted = p["packages"]
    if p["packages_state"] == "present":
        missing = [name for name in wanted if not packages.get(name)]
        if missing:
            ash.change("install", str(sid), *missing)
            packages.update(dict.fromkeys(missing, True))
    else:
        there = [name for name in wanted if name in packages]
        if there:
            ash.change("remove", str(sid), *there)
            for name in there:
                packages.pop(name)
    changed = bool(ash.ran)
    if p["upgrade"] and sid != NEW:
        versions = {q["name"]: q["version"] for q in ash.read("list", str(sid), "--json")}
        ash.change("upgrade", str(sid))
        # changed when a version did; in check mode that cannot be known without running it
        changed = (
            changed
            or module.check_mode
            or versions != {q["name"]: q["version"] for q in ash.read("list", str(sid), "--json")}
        )
    deployed = state["deployed"]
    if p["state"] == "deployed" and deployed != sid:
        ash.change("deploy", str(sid))
        deployed, changed = sid, True
    after = view(sid, p["name"] if node is None else node["description"], packages, deployed)
    result = {"changed": changed, "commands": ash.ran, "diff": {"before": before, "after": after}}
    if sid != NEW:
        result["snapshot"] = sid
    module.exit_json(**result)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str"),
            snapshot=dict(type="int"),
            parent=dict(type="int", default=0),
            state=dict(type="str", default="present", choices=["present", "absent", "deployed"]),
            packages=dict(type="list", elements="str", default=[]),
            packages_state=dict(type="str", default="present", choices=["present", "absent"]),
            upgrade=dict(type="bool", default=False),
            **ARGUMENTS,
        ),
        mutually_exclusive=[["name", "snapshot"]],
        required_one_of=[["name", "snapshot"]],
        supports_check_mode=True,
    )
    run(module)


if __name__ == "__main__":
    main()
