"""Backups of a whole installation in one archive, and their restore (plainsight backup and
restore): the database dump, the receipt keys, the audit checkpoints and the photos."""
