"""Operations on a system under the store lock: the session (guards, repairs, transactions), and
the snapshot, package, tree and live-system operations built on it."""
