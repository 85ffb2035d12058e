"""``python -m tests.benchmarks.ingest``: see this package's docstring."""

from tests.benchmarks.ingest import main

raise SystemExit(main())
