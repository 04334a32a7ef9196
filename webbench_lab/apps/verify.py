"""The verification gate: every system must answer every endpoint exactly, before any load.

The expected answers are written here independently of the apps' code: Lab A's lines, Lab B's
JSON bodies (compact), the upstream API's item and the Redis seed.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from webbench_lab.apps.services import seed_value


@dataclass(frozen=True)
class Expected:
    path: str
    status: int
    media_type: str | None
    body: bytes | None


def _lines(txt: str, num: int) -> bytes:
    return "".join(f"{i}: {txt}\n" for i in range(num)).encode()


def _fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


ITEM = 7
ENDPOINTS: list[Expected] = [
    Expected("/Hello/100", 200, "text/plain", _lines("Hello", 100)),
    Expected("/x/0", 200, "text/plain", b""),
    Expected("/ping", 200, "application/json", b'{"message":"pong"}'),
    Expected("/fib/20", 200, "application/json", b'{"result":%d}' % _fib(20)),
    Expected(
        f"/data/{ITEM}",
        200,
        "application/json",
        b'{"api":{"id":%d,"name":"item-%d"},"cache":"%s"}' % (ITEM, ITEM, seed_value(ITEM).encode()),
    ),
    Expected("/nope", 404, None, None),
]


@dataclass(frozen=True)
class Check:
    path: str
    ok: bool
    detail: str = ""


def check_answer(expected: Expected, answer: dict) -> Check:
    """Compare one probe answer (from appctl probe) with what it must be; say the first difference."""
    path = expected.path
    if "error" in answer:
        return Check(path, False, f"no answer: {answer['error']}")
    if answer["status"] != expected.status:
        return Check(path, False, f"status {answer['status']}, expected {expected.status}")
    headers = {k.lower(): v for k, v in answer["headers"]}
    if expected.media_type is not None:
        ctype = headers.get("content-type", "")
        if ctype.split(";")[0].strip().lower() != expected.media_type:
            return Check(
                path, False, f"Content-Type {ctype or '(missing)'!r}, expected {expected.media_type}"
            )
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    if "content-length" not in headers and not chunked:
        return Check(path, False, "neither Content-Length nor chunked Transfer-Encoding")
    body = base64.b64decode(answer["body"])
    if "content-length" in headers and not chunked and int(headers["content-length"]) != len(body):
        return Check(path, False, f"Content-Length {headers['content-length']} but {len(body)} bytes")
    if expected.body is not None and body != expected.body:
        return Check(path, False, first_difference(body, expected.body))
    return Check(path, True)


def first_difference(got: bytes, want: bytes) -> str:
    for i, (a, b) in enumerate(zip(got, want, strict=False)):
        if a != b:
            return (
                f"body differs at byte {i}: got {got[max(0, i - 10) : i + 20]!r}, "
                f"expected {want[max(0, i - 10) : i + 20]!r}"
            )
    if len(got) < len(want):
        missing = want[len(got) : len(got) + 30]
        return f"body ends after {len(got)} bytes, expected {len(want)}: missing {missing!r}"
    return (
        f"body has {len(got) - len(want)} extra bytes after {len(want)}: {got[len(want) : len(want) + 30]!r}"
    )


def urls(address: str, ports: list[int]) -> list[str]:
    return [f"http://{address}:{port}{e.path}" for port in ports for e in ENDPOINTS]


def check_system(answers: list[dict], ports: list[int]) -> list[Check]:
    """Checks in ENDPOINTS order; with several load ports, an endpoint passes only on all of them."""
    checks = []
    for i, expected in enumerate(ENDPOINTS):
        per_port = [check_answer(expected, answers[p * len(ENDPOINTS) + i]) for p in range(len(ports))]
        failed = [(port, c) for port, c in zip(ports, per_port, strict=True) if not c.ok]
        if failed:
            port, check = failed[0]
            prefix = f"port {port}: " if len(ports) > 1 else ""
            checks.append(Check(expected.path, False, prefix + check.detail))
        else:
            checks.append(Check(expected.path, True))
    return checks


NOT_BUILDABLE = "not buildable: "


@dataclass(frozen=True)
class Verdict:
    system: str
    ok: bool
    reason: str
    checks: list[Check]

    @property
    def status(self) -> str:
        if self.ok:
            return "pass"
        return "not buildable" if self.reason.startswith(NOT_BUILDABLE) else "FAIL"


def verify_systems(lab, names: list[str], level: int = 1, on_result=None) -> list[Verdict]:
    """Verify each system: a running one as it runs, another started at `level` and stopped after.

    A system that does not build or start fails with that reason; the others go on.
    """
    from webbench_lab.apps import systems
    from webbench_lab.errors import LabFailure, UserError

    status = lab.status()
    verdicts = []
    for name in names:
        system = systems.get(name)
        running = status.get(name, {}).get("running")
        started = False
        try:
            if running:
                run_level = int(status[name].get("meta", {}).get("level", level))
            else:
                run_level = level
                lab.start(system, level)
                started = True
            checks = lab.probe(system, run_level)
            failed = [c for c in checks if not c.ok]
            reason = f"{failed[0].path}: {failed[0].detail}" if failed else ""
            verdict = Verdict(name, not failed, reason, checks)
        except (UserError, LabFailure) as exc:
            verdict = Verdict(name, False, str(exc).removeprefix(f"system {name}: "), [])
        finally:
            if started:
                lab.stop(system)
        verdicts.append(verdict)
        if on_result:
            on_result(verdict)
    return verdicts
