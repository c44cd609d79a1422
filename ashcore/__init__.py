"""ash core: the snapshot tree, transactions, deploy and the CLI.

Plugins use :mod:`ashcore.api`, and nothing else of the core. docs/architecture.md shows how the
subpackages are layered.
"""

__version__ = "0.1.0"
PROJECT = "ash"
