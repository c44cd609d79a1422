#!/usr/bin/python
# Copyright: (c) 2026, ash developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ash_facts
short_description: The ash tree of a machine, what it boots, and its last automatic update, as facts
version_added: "0.1.0"
description:
  - Sets C(ansible_facts.ash) from C(ash tree --json) and C(ash status --json).
options:
  ash_path:
    description: The C(ash) program on the target.
    type: path
    default: ash
  sysroot:
    description: The system root ash manages (C(ash --sysroot)); the running system's by default.
    type: path
attributes:
  check_mode:
    support: full
    description: It only reads.
  diff_mode:
    support: none
    description: It changes nothing.
  facts:
    support: full
    description: Sets C(ansible_facts.ash).
author:
  - ash developers (@ash)
"""

EXAMPLES = r"""
- ash.ash.ash_facts:
- ansible.builtin.debug:
    msg: "deployed {{ ansible_facts.ash.deployed }}, last update {{ ansible_facts.ash.last_update.outcome }}"
"""

RETURN = r"""
ansible_facts:
  description: C(ash) with C(tree) (the nested snapshots), C(current), C(booted), C(deployed), C(distro)
    and C(last_update) (null before the first automatic update).
  type: dict
  returned: always
"""

import json

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(ash_path=dict(type="path", default="ash"), sysroot=dict(type="path")),
        supports_check_mode=True,
    )
    base = [module.params["ash_path"]]
    if module.params["sysroot"]:
        base += ["--sysroot", module.params["sysroot"]]
    facts = {}
    for args in (("tree", "--json"), ("status", "--json")):
        rc, out, err = module.run_command([*base, *args])
        if rc != 0:
            errors = [line[len("ash: error: ") :] for line in err.splitlines() if line.startswith("ash: error: ")]
            module.fail_json(msg=errors[-1] if errors else err.strip() or f"ash exited {rc}", rc=rc, stderr=err)
        facts.update(json.loads(out))
    module.exit_json(changed=False, ansible_facts={"ash": facts})


if __name__ == "__main__":
    main()
