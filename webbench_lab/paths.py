"""Where the project, its data and the lab's state live, so no module guesses a path."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
AGENT = PACKAGE / "agent" / "appctl.py"  # copied to every host
COLLECTOR = PACKAGE / "agent" / "auditor.py"  # sent to every host in the command line
TEMPLATES = REPO / "templates"
INVENTORY_DIR = REPO / "inventory"
LOCAL_INVENTORY = INVENTORY_DIR / "local.yml"
ROLES = REPO / "roles"
PLAYBOOKS = REPO / "playbooks"
PYTHON_LOCK = REPO / "apps" / "python-stack.lock"


def state_dir() -> Path:
    """The lab's working state (.lab/ by default; WEBBENCH_LAB_STATE moves it)."""
    return Path(os.environ.get("WEBBENCH_LAB_STATE", REPO / ".lab")).resolve()


def cache_dir() -> Path:
    """Downloads that survive `lab down`: rootfs, apt cache, wheelhouse, Go toolchain."""
    return state_dir() / "cache"


def go_build_cache() -> Path:
    """Go's build cache, one for the control machine's builds (k6) and every local host's (the
    apps): the standard library k6 compiled is not compiled again for the apps. Go keys each entry
    by its inputs (sources, toolchain, flags), and -trimpath keeps paths out of the keys."""
    return cache_dir() / "go-build"


def run_dir() -> Path:
    """Everything that belongs to the running lab and goes away with `lab down`."""
    return state_dir() / "run"
