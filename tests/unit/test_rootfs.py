"""The hosts use the control machine's Debian mirror, read from its apt sources in either format."""

from __future__ import annotations

import pytest

from webbench_lab.errors import UserError
from webbench_lab.locallab.rootfs import control_mirror


def make_apt(tmp_path, sources_list="", files=None):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(sources_list)
    for name, text in (files or {}).items():
        (tmp_path / "sources.list.d" / name).write_text(text)
    return tmp_path


def test_deb822_sources(tmp_path):
    apt = make_apt(
        tmp_path,
        files={
            "debian.sources": (
                "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
                "Components: main\n\n"
                "Types: deb\n# comment\nURIs: http://mirror.example/debian/\n"
                "Suites: bookworm bookworm-updates\nComponents: main\n"
            ),
            "other.sources.disabled": "Types: deb\nURIs: http://nope/\nSuites: bookworm\n",
        },
    )
    assert control_mirror(apt) == "http://mirror.example/debian"


def test_one_line_sources(tmp_path):
    apt = make_apt(tmp_path, "# x\ndeb [arch=amd64] http://m.example/debian bookworm main\n")
    assert control_mirror(apt) == "http://m.example/debian"


def test_disabled_stanza_is_skipped(tmp_path):
    apt = make_apt(
        tmp_path,
        files={"a.sources": "Enabled: no\nTypes: deb\nURIs: http://off/debian\nSuites: bookworm\n"},
    )
    with pytest.raises(UserError, match="no http:// Debian source for 'bookworm'"):
        control_mirror(apt)
