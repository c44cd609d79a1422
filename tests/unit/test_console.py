"""The one line ash prints for an error, a warning and a failed program."""

from __future__ import annotations

import pytest

from ashcore.console import error_message, say_error, warn
from ashcore.errors import AshError, CommandFailed


def real_os_error(tmp_path) -> OSError:
    try:
        (tmp_path / "missing").read_text()
    except OSError as exc:
        return exc
    raise AssertionError("the file exists")


def test_an_ash_error_is_its_message_without_the_hint():
    assert error_message(AshError("snapshot 3 does not exist", hint="see 'ash tree'")) == "snapshot 3 does not exist"


def test_an_os_error_is_its_reason_and_file(tmp_path):
    assert error_message(real_os_error(tmp_path)) == f"No such file or directory: {tmp_path / 'missing'}"


@pytest.mark.parametrize(
    "error, message",
    [
        (OSError(28, "No space left on device"), "No space left on device"),
        (OSError("plain text"), "OSError: plain text"),
        (
            ValueError("invalid literal for int() with base 10: 'x'"),
            "ValueError: invalid literal for int() with base 10: 'x'",
        ),
        (RuntimeError("first line\n   second line\n"), "RuntimeError: first line second line"),
        (KeyError("ID"), "KeyError: 'ID'"),
    ],
    ids=["os-error-without-file", "os-error-without-reason", "other", "folded-to-one-line", "key-error"],
)
def test_any_other_error_is_one_line(error, message):
    assert error_message(error) == message


def test_say_error_prints_the_line_and_the_hint_and_returns_the_message(capsys, monkeypatch):
    monkeypatch.delenv("ASH_DEBUG", raising=False)
    assert say_error(AshError("it broke", hint="try again"), "snapshot 2: ") == "it broke"
    assert capsys.readouterr().err == "ash: error: snapshot 2: it broke\nhint: try again\n"


def test_warn_folds_a_message_to_one_line(capsys):
    warn("plugin 'x' failed:\n  Traceback line\n")
    assert capsys.readouterr().err == "ash: warning: plugin 'x' failed: Traceback line\n"


@pytest.mark.parametrize(
    "returncode, detail, message",
    [
        (
            100,
            "W: something\nE: Unable to locate package nosuchpkg\n",
            "'apt-get' exited with status 100: E: Unable to locate package nosuchpkg",
        ),
        (1, "", "'apt-get' exited with status 1"),
        (-9, "", "'apt-get' was killed by SIGKILL"),
        (143, "Terminated\n", "'apt-get' was killed by SIGTERM: Terminated"),
        (200, "", "'apt-get' exited with status 200"),
    ],
    ids=["last-line-of-stderr", "no-detail", "signal", "shell-style-signal-status", "not-a-signal"],
)
def test_command_failed_says_how_the_program_ended_and_its_last_words(returncode, detail, message):
    assert CommandFailed(["apt-get", "install"], returncode, detail).message == message
