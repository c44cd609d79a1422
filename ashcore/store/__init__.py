"""The snapshot store: the tree of snapshots, its file, the lock, the deployment records, and the
repairs every changing command runs first."""
