"""Every PostgreSQL advisory-lock key the service uses, named once.

Keys share one space per database: a new one must not collide with those below. SQL that
takes a lock gets its key from here as a parameter, except ``fold_statistics``, which takes
``FOLDER`` by its literal value (checked by a test).
"""

from __future__ import annotations

from typing import Final

MIGRATIONS: Final = 0x706C61696E736967
"""Session lock: one migration runner (and one role setup) at a time."""

FOLDER: Final = 7351000101
"""Transaction lock: one folder at a time (storage/incidents/folder.py); also the statistics
fold's."""

RETENTION: Final = 7351000109
"""Session lock: one retention run at a time."""

RELEASES: Final = 7351000111
"""Transaction lock: one maker of public releases at a time, so replicas do not publish the
same version twice (storage/statistics/releases/maker.py)."""

PHOTO_BLOBS: Final = 0x70686F74
"""First key of the two-key transaction locks on photo blobs (the second: the blob's hash)."""

UPLOADS: Final = 0x75706C64
"""First key of the two-key transaction lock (the second: the owner's id, hashed) taken while
one owner's resumable uploads are counted and one is created (storage/uploads/store.py): the
in-flight limit holds under concurrent creations."""

BENCH_BARE_SCHEMA: Final = 7351000001
"""Transaction lock of the ingest benchmark's bare app (tests/benchmarks/bare_app.py): one
worker creates its table."""

RECEIPT_KEYS: Final = 7351000113
"""Transaction lock: one change to the receipt key set at a time (registration at start-up,
``plainsight keys rotate``): two rotations at once would both retire the same key."""
