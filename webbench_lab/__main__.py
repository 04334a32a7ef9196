"""Allow `python -m webbench_lab`."""

from webbench_lab.cli import main

raise SystemExit(main())
