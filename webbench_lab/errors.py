"""One error type for bad input, so the CLI can print one line and exit 2 instead of a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix: the message names the file, host or field and the fix."""

    exit_code = 2


class LabFailure(Exception):
    """Something the user did not cause failed (a command on a host, a download): exit 1."""

    exit_code = 1
