"""Whatever goes wrong in a command, the user gets one line (and a traceback only with --debug);
in a tree operation, whatever goes wrong in one snapshot stops no other."""

from __future__ import annotations

from ash_testing.plugins import TPM, env_with, make_plugin, pip_install

#: A plugin command that fails to write a file, as a bug-free command may (a full or missing disk).
WRITER = """\
    from ashcore.api import hookimpl
    from ashcore.api import CommandSpec

    @hookimpl
    def ash_commands():
        return [CommandSpec(name="write", help="Write a file.", target="ash_writer.cli:app")]
"""
WRITER_CLI = """\
    import typer
    app = typer.Typer()

    @app.command()
    def write(path: str):
        open(path, "w")
"""

#: Fails on entering some snapshots in all the ways a plugin can: a file error, a bug, Ctrl-C.
FAILING = """\
    import os
    from ashcore.api import hookimpl

    @hookimpl
    def ash_chroot_enter(chroot):
        if chroot.snapshot == 2 and os.environ.get("INTERRUPT"):
            raise KeyboardInterrupt
        if chroot.snapshot == 2:
            open("/nonexistent-dir/state", "w")
        if chroot.snapshot == 3:
            raise ValueError("plugin bug\\nover two lines")
"""


def test_file_error_in_a_command_is_one_line(ash, tmp_path, plugin_site):
    pip_install(make_plugin(tmp_path, "ash-writer", "ash_writer", WRITER, {"cli.py": WRITER_CLI}), plugin_site)
    error = ash.fail("write", "/nonexistent-dir/file", env=env_with(plugin_site), status=1, alone=True)
    assert error == "ash: error: No such file or directory: /nonexistent-dir/file"
    debug = ash("--debug", "write", "/nonexistent-dir/file", env=env_with(plugin_site), check=False)
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and 'open(path, "w")' in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == "ash: error: No such file or directory: /nonexistent-dir/file"


def test_tree_operation_goes_on_after_any_failure(store, tmp_path, plugin_site):
    pip_install(make_plugin(tmp_path, "ash-failing", "ash_failing", FAILING), plugin_site)
    store("branch", "0")
    for _ in range(3):
        store("branch", "1")  # 2, 3 and 4, children of 1
    out = store("tree-run", "1", "touch", "/ran", env=env_with(plugin_site), check=False)
    assert out.returncode == 1, out
    assert out.stderr.splitlines() == [
        "ash: error: snapshot 2: No such file or directory: /nonexistent-dir/state",
        "ash: error: snapshot 3: ValueError: plugin bug over two lines",
        "tree-run: FAILED in 2: No such file or directory: /nonexistent-dir/state",
        "tree-run: FAILED in 3: ValueError: plugin bug over two lines",
        "ash: error: tree-run failed in snapshot(s) 2, 3; the others were done",
    ]
    assert "tree-run: done in 1, 4" in out.stdout
    assert [(store.snapshot(sid) / "ran").exists() for sid in (1, 2, 3, 4)] == [True, False, False, True]

    out = store("tree-run", "1", "touch", "/again", env=env_with(plugin_site, INTERRUPT="1"), check=False)
    assert out.returncode == 130, out
    assert [(store.snapshot(sid) / "again").exists() for sid in (1, 2, 3, 4)] == [True, False, False, False]


def test_sync_goes_on_after_any_failure(store, tmp_path, plugin_site):
    pip_install(make_plugin(tmp_path, "ash-tpm", "ash_tpm", TPM), plugin_site)
    pip_install(make_plugin(tmp_path, "ash-failing", "ash_failing", FAILING), plugin_site)
    env = env_with(plugin_site)
    store("branch", "0")
    for _ in range(3):
        store("branch", "1")
    store("install", "1", "pkg", env=env)
    out = store("force-sync", "1", env=env, check=False)
    assert out.returncode == 1, out
    assert "ash: error: snapshot 2: No such file or directory: /nonexistent-dir/state" in out.stderr
    assert "ash: error: snapshot 3: ValueError: plugin bug over two lines" in out.stderr
    assert [(store.snapshot(sid) / "var/lib/tpm/pkg").exists() for sid in (2, 3, 4)] == [False, False, True]
