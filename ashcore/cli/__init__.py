"""The ``ash`` command line: :mod:`~ashcore.cli.app` is its frame, :mod:`~ashcore.cli.main` the
program, and each other module one group of commands."""
