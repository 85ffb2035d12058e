"""Public releases: each closed month's statistics, made once with differential privacy,
signed, stored and served unchanged; later reports go into numbered corrections."""
