"""The inventory sources given with -i, parsed by Ansible as `ansible-inventory -i` parses them.

Any source Ansible takes works: YAML, INI, a directory (with group_vars/ and host_vars/), an
executable dynamic inventory, an inventory plugin configuration, several sources merged in order.
Ansible only warns about a source it cannot parse and goes on with what is left; here that is one
line naming the source with Ansible's own reason, before anything else reads the hosts.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webbench_lab.errors import UserError
from webbench_lab.yamlfile import display

# Ansible reads its configuration when first imported: an unparsable source is an error (not a
# warning and an empty inventory). Every default inventory plugin stays enabled, as for
# ansible-inventory; the Ansible engine's ansible-playbook inherits the same settings.
os.environ.setdefault("ANSIBLE_INVENTORY_UNPARSED_FAILED", "True")
os.environ.setdefault("ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED", "True")
os.environ.setdefault("ANSIBLE_LOCALHOST_WARNING", "False")

VARS_DIRS = ("group_vars", "host_vars")  # read by Ansible's host_group_vars, beside or in a source
FORMATS = "YAML, INI, a directory, an executable script or a plugin configuration"


@dataclass(frozen=True)
class Parsed:
    """Ansible's view of the sources: its hosts and groups, and the variables of each host."""

    sources: tuple[Path, ...]
    manager: Any  # ansible.inventory.manager.InventoryManager
    variables: Any  # ansible.vars.manager.VariableManager

    def host_vars(self, host: Any) -> dict[str, Any]:
        """The host's variables as a play sees them (group_vars/ and host_vars/ included)."""
        from ansible.errors import AnsibleError

        try:
            return dict(self.variables.get_vars(host=host, include_hostvars=False))
        except AnsibleError as exc:
            raise _unreadable(self.sources, None, exc) from None


def label(sources: Sequence[Path]) -> str:
    """The sources as the user named them, for the first words of an error line."""
    return " + ".join(display(s) for s in sources)


def parse(sources: Sequence[Path]) -> Parsed:
    """Every source through Ansible's InventoryManager, merged in order, as ansible-inventory does."""
    sources = tuple(Path(s) for s in sources)
    for source in sources:
        _check_readable(source)
    from ansible.errors import AnsibleError
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    manager_class = _manager_class()
    with _capture_failures() as failures:
        try:
            manager = manager_class(loader=loader, sources=[str(s) for s in sources])
        except AnsibleError as exc:
            failed = Path(manager_class.last_source) if manager_class.last_source else None
            reason = _reason(failed, failures, loader) if failed and failures else exc
            raise _unreadable(sources, failed, reason) from None
    variables = VariableManager(loader=loader, inventory=manager)
    return Parsed(sources=sources, manager=manager, variables=variables)


def _check_readable(source: Path) -> None:
    """A missing source, or a file Ansible would read that is not UTF-8, is refused by name."""
    if not source.exists():
        if "," in str(source):  # Ansible's host list: `-i host1,host2,`
            return
        raise UserError(
            f"{display(source)}: no such inventory source; pass -i with an Ansible inventory ({FORMATS}; "
            "see inventory/example-two-pc.yml), or run `webbench-lab lab up` as root for the local lab"
        )
    for path in _files_read(source):
        try:
            path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UserError(
                f"{display(path)}: not UTF-8 (byte {exc.start}); Ansible reads inventories as UTF-8: "
                "save it as UTF-8"
            ) from None


def _files_read(source: Path) -> Iterator[Path]:
    """The text files Ansible reads for a source: the file, or the directory's files, and the
    group_vars/ and host_vars/ beside them. Executables are programs, not text."""
    from ansible.inventory.manager import IGNORED

    beside = [source.parent / name for name in VARS_DIRS]
    roots = [source] if source.is_dir() else [source, *beside]
    for root in roots:
        candidates = sorted(root.rglob("*")) if root.is_dir() else [root] if root.is_file() else []
        for path in candidates:
            parts = path.relative_to(root).parts if root.is_dir() else (path.name,)
            if any(IGNORED.search(os.fsencode(part)) and part not in VARS_DIRS for part in parts):
                continue
            if path.is_file() and not os.access(path, os.X_OK):
                yield path


def _manager_class() -> Any:
    """Ansible's InventoryManager, remembering the source it parsed last (the one that failed)."""
    from ansible.inventory.manager import InventoryManager

    _init_plugin_loader()

    class Manager(InventoryManager):
        last_source: str | None = None

        def parse_source(self, source: str, cache: bool = False) -> bool:
            type(self).last_source = source
            return bool(super().parse_source(source, cache=cache))

    return Manager


def _init_plugin_loader() -> None:
    """As Ansible's CLI does, once a process: plugin configurations name plugins by FQCN."""
    from ansible.plugins.loader import init_plugin_loader
    from ansible.utils.collection_loader import AnsibleCollectionConfig

    if not AnsibleCollectionConfig.collection_finder:
        init_plugin_loader()


@contextlib.contextmanager
def _capture_failures() -> Iterator[list[tuple[str, BaseException]]]:
    """Ansible shows each plugin's reason for refusing a source as a warning; keep them instead
    (plugin name, exception) for the one error line, and let every other warning through."""
    from ansible.utils.display import Display

    display_ = Display()  # Ansible's one Display (a singleton)
    original = display_.error_as_warning
    failures: list[tuple[str, BaseException]] = []
    prefix = "Failed to parse inventory with "

    def keep(msg: str | None, exception: BaseException, **kwargs: Any) -> None:
        if msg and msg.startswith(prefix):
            failures.append((msg.removeprefix(prefix).split("'")[1], exception))
        else:
            original(msg, exception, **kwargs)

    display_.error_as_warning = keep
    try:
        yield failures
    finally:
        display_.error_as_warning = original


def _reason(source: Path, failures: list[tuple[str, BaseException]], loader: Any) -> BaseException:
    """Ansible tries every plugin on a source and each gives its reason; the one that counts is
    from the plugin made for the source's kind (INI's reason for a broken YAML file is noise)."""
    by_plugin = {plugin: exc for plugin, exc in reversed(failures)}
    for plugin in _made_for(source, loader):
        if plugin in by_plugin:
            return by_plugin[plugin]
    return failures[0][1]


def _made_for(source: Path, loader: Any) -> tuple[str, ...]:
    from ansible.errors import AnsibleError

    if source.is_file() and os.access(source, os.X_OK):
        return ("script",)
    try:
        data = loader.load_from_file(str(source))
    except (AnsibleError, OSError):
        data = None
    if isinstance(data, Mapping) and "plugin" in data:
        return ("auto",)
    if isinstance(data, Mapping) or source.suffix in (".yml", ".yaml", ".json"):
        return ("yaml",)
    return ("toml",) if source.suffix == ".toml" else ("ini",)


def _unreadable(sources: Sequence[Path], failed: Path | None, exc: BaseException) -> UserError:
    """One line: where Ansible says the problem is (file, line), its reason, and how to check."""
    origin = _origin(exc)
    path = Path(origin.path) if origin is not None else failed
    where = display(path) if path is not None else label(sources)
    line = getattr(origin, "line_num", None)
    at = f", line {line}" if line else ""
    reason = str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else type(exc).__name__
    # Ansible's help for this error (a script's standard error), when it is not its general advice.
    help_text = getattr(exc, "_help_text", None)
    if help_text and help_text != getattr(exc, "_default_help_text", None):
        reason += f" ({help_text.strip().splitlines()[-1].strip()})"
    check = " ".join(f"-i {display(s)}" for s in sources)
    return UserError(
        f"{where}{at}: Ansible cannot parse it: {reason}; fix it, then check with "
        f"`ansible-inventory {check} --list`"
    )


def _origin(exc: BaseException) -> Any:
    """The first file Ansible names in the exception or its causes (a YAML error has the line)."""
    seen: BaseException | None = exc
    while seen is not None:
        obj = getattr(seen, "obj", None)
        if getattr(obj, "path", None):
            return obj
        seen = seen.__cause__ or seen.__context__
    return None
