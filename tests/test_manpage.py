"""ash(8) is made from the command definitions: every command ``ash --help`` lists has its section,
with its options, and man renders the page without a warning."""

from __future__ import annotations

import re
import shutil
import subprocess

from ash_testing.cli import ASH
from ash_testing.require import require

from ashcore.cli import manpage


def test_every_command_of_help_has_its_section():
    page = manpage.render()
    help_text = subprocess.run([*ASH, "--help"], capture_output=True, text=True, check=True).stdout
    commands = re.findall(r"^  (\S+)", help_text.split("\nCommands:\n", 1)[1], re.M)
    assert "deploy" in commands and "auto-upgrade" in commands
    sections = re.findall(r"^\.SS (\S+)$", page, re.M)
    assert [s.replace("\\-", "-") for s in sections] == commands
    deploy = page.split(".SS deploy\n", 1)[1].split(".SS ", 1)[0]
    assert deploy.startswith(".B ash deploy\n") and "SNAPSHOT" in deploy
    assert "\\-\\-scheduled" in page.split(".SS auto\\-upgrade\n", 1)[1].split(".SS ", 1)[0]


def test_man_renders_it_without_warnings(tmp_path):
    require(shutil.which("man") is not None, "needs man (man-db)")
    page = tmp_path / "ash.8"
    page.write_text(manpage.render())
    proc = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True, env={"MANWIDTH": "80"})
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "ash - run Linux as an immutable tree of btrfs snapshots" in proc.stdout
    assert "EXIT STATUS" in proc.stdout
