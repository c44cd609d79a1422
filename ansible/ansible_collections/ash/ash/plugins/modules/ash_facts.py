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
extends_documentation_fragment:
  - ash.ash.ash
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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ash.ash.plugins.module_utils.ash import ARGUMENTS, Ash


def main() -> None:
    module = AnsibleModule(argument_spec=dict(**ARGUMENTS), supports_check_mode=True)
    ash = Ash(module)
    facts = {**ash.read("tree", "--json"), **ash.read("status", "--json")}
    module.exit_json(changed=False, ansible_facts={"ash": facts})


if __name__ == "__main__":
    main()
