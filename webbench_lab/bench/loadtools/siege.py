"""siege: Lab A's tool. A thread per user, the lab's own siegerc (-R), its summary as JSON."""

from __future__ import annotations

import json

from webbench_lab.bench.loadtools.base import (
    Invocation,
    LoadResult,
    LoadSpec,
    LoadTool,
    ParseError,
    last_line,
)
from webbench_lab.templating import render

MB = 1024**2


class Siege(LoadTool):
    name = "siege"
    rate_unit = "transactions"

    def invocation(self, spec: LoadSpec) -> Invocation:
        rc = f"{spec.prefix}.siegerc"
        # The same template provisioning renders, for this process's share of the users.
        text = render("generator/siegerc.j2", **{**spec.settings, "concurrency": spec.concurrency})
        return Invocation(argv=self.argv(spec, f"{spec.workdir}/{rc}"), files={rc: text})

    @staticmethod
    def argv(spec: LoadSpec, rc_file: str) -> list[str]:
        return ["siege", "-R", rc_file, "-c", str(spec.concurrency), "-t", f"{spec.seconds}S", spec.url]

    def parse(self, text: str) -> LoadResult:
        """siege 4 prints its summary as a JSON object (after any error lines)."""
        start = text.rfind("{")
        try:
            data = json.loads(text[start:])
        except ValueError:
            raise ParseError(f"siege: no JSON summary in its output ({last_line(text)})") from None
        transactions = int(data["transactions"])
        failed = int(data["failed_transactions"])
        successful = min(int(data["successful_transactions"]), transactions)
        # siege counts 4xx/5xx answers as transactions that are not successful, and in its
        # transaction_rate; the rate here is of the successful ones (the same figure when all are).
        # Its two counters can also differ by one the other way at the end of a timed run. Socket
        # errors and timeouts are failed_transactions, in no transaction.
        rate = float(data["transaction_rate"]) * successful / transactions if transactions else 0.0
        return LoadResult(
            tool=self.name,
            requests=transactions,
            rate=rate,
            failures=failed + transactions - successful,
            elapsed=float(data["elapsed_time"]),
            availability=float(data["availability"]),
            mean_ms=float(data["response_time"]) * 1000 if transactions else None,
            bytes_received=round(float(data["data_transferred"]) * MB),
        )
