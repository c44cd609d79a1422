"""The plugin host: the records passed to plugins, the hook specifications, and the manager that
finds, loads and calls plugins."""
