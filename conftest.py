# The shared fixtures (real btrfs on a loop device, fresh stores, the CLI) for every test directory.
pytest_plugins = ["ashcore.testing"]
