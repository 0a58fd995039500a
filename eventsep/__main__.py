"""``python -m eventsep``: the same command line as ``eventsep``."""

from eventsep.cli import main

raise SystemExit(main())
