"""The lab's SSH key pair, host keys and known_hosts (strict host-key checking needs them all)."""

from __future__ import annotations

from pathlib import Path

from webbench_lab.commands import run
from webbench_lab.paths import state_dir


def lab_key() -> Path:
    """The lab's own client key (0600), made once and kept across `lab down`."""
    key = state_dir() / "ssh" / "id_ed25519"
    if not key.is_file():
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "webbench-lab", "-f", str(key)])
    key.chmod(0o600)
    return key


def make_host_key(path: Path) -> str:
    """Generate an ed25519 host key at `path` and return its public line ('ssh-ed25519 AAAA...')."""
    path.unlink(missing_ok=True)
    path.with_suffix(".pub").unlink(missing_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)])
    path.chmod(0o600)
    kind, blob = path.with_name(path.name + ".pub").read_text().split()[:2]
    return f"{kind} {blob}"


def known_hosts_line(address: str, port: int, public_key: str) -> str:
    host = address if port == 22 else f"[{address}]:{port}"
    return f"{host} {public_key}\n"
