"""The load generators as plug-ins: each tool is one module with one LoadTool subclass (its files,
its command line, its parser into a LoadResult), registered here by name. Adding a tool is one
module and one line in TOOLS. Every parser is tested against real outputs captured on the lab
(tests/fixtures/loadtools/)."""

from __future__ import annotations

from webbench_lab.bench.loadtools.base import (
    Invocation,
    LoadResult,
    LoadSpec,
    LoadTool,
    ParseError,
    combine,
)
from webbench_lab.bench.loadtools.k6 import K6
from webbench_lab.bench.loadtools.siege import Siege
from webbench_lab.bench.loadtools.wrk import Wrk

TOOLS: dict[str, LoadTool] = {tool.name: tool for tool in (Siege(), Wrk(), K6())}

__all__ = ["TOOLS", "Invocation", "LoadResult", "LoadSpec", "LoadTool", "ParseError", "combine", "get"]


def get(name: str) -> LoadTool:
    return TOOLS[name]
