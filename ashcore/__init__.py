"""ash core: the snapshot tree, transactions, deploy and the CLI.

Plugins mark their hook implementations with :data:`hookimpl`::

    from ashcore import hookimpl

    @hookimpl
    def ash_install(chroot, packages): ...

``hookimpl`` is created on first use so that ``import ashcore`` stays cheap.
"""

__version__ = "0.1.0"
PROJECT = "ash"


def __getattr__(name: str):
    if name == "hookimpl":
        import pluggy

        global hookimpl
        hookimpl = pluggy.HookimplMarker(PROJECT)
        return hookimpl
    raise AttributeError(name)
