"""The two errors the CLI turns into one line instead of a traceback: bad input the user can fix
(exit 2) and a failure the user did not cause (exit 1)."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix: the message names the file, host or field and the fix."""

    exit_code = 2


class LabFailure(Exception):
    """Something the user did not cause failed (a command on a host, a download): exit 1."""

    exit_code = 1
