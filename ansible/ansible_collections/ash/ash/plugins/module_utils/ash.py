# Copyright: (c) 2026, ash developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running ash on the target for the collection's modules: its JSON output in, its one-line error out."""

from __future__ import annotations

import json

#: The argument spec of the options in the ``ash.ash.ash`` doc fragment.
ARGUMENTS = dict(ash_path=dict(type="path", default="ash"), sysroot=dict(type="path"))


class Ash:
    """The ash command on the target, through its JSON output; the commands that change it are
    recorded in :attr:`ran`, and not run in check mode."""

    def __init__(self, module) -> None:
        self.module = module
        self.base = [module.params["ash_path"]]
        if module.params["sysroot"]:
            self.base += ["--sysroot", module.params["sysroot"]]
        self.ran = []

    def read(self, *args):
        rc, out, err = self.module.run_command([*self.base, *args])
        if rc != 0:
            self.fail(list(args), rc, out, err)
        return json.loads(out)

    def change(self, *args):
        self.ran.append(list(args))
        if self.module.check_mode:
            return ""
        rc, out, err = self.module.run_command([*self.base, *args])
        if rc != 0:
            self.fail(list(args), rc, out, err)
        return out

    def fail(self, args, rc, out, err):
        """Fail the task with ash's own reason (its ``ash: error:`` line) and exit status."""
        errors = [line[len("ash: error: ") :] for line in err.splitlines() if line.startswith("ash: error: ")]
        msg = errors[-1] if errors else (err.strip().splitlines() or [f"ash {' '.join(args)} exited {rc}"])[-1]
        self.module.fail_json(msg=msg, rc=rc, stdout=out, stderr=err, commands=self.ran)
