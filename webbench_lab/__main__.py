"""Allow `python -m webbench_lab`."""

from webbench_lab.cli.main import main

raise SystemExit(main())
