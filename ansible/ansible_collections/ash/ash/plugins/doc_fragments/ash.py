# Copyright: (c) 2026, ash developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The options every module of the collection has: where ash is, and which system it manages."""

    DOCUMENTATION = r"""
options:
  ash_path:
    description: The C(ash) program on the target.
    type: path
    default: ash
  sysroot:
    description: The system root ash manages (C(ash --sysroot)); the running system's by default.
    type: path
"""
