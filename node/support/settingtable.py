"""A settings dataclass whose fields each carry their config key, flag, check and help.

The config loader, the command-line flags, `--help`, the docs page and the example config are
all walked from the declarations, so a setting is added by one `setting(...)` field and cannot
drift between five places. A config is built once, from the file's values and the flags', and
is frozen afterwards.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from node.errors import UserError

T = TypeVar("T")
Check = Callable[[object, str], object]  # (value, where) -> the value to keep, or ConfigError
Attr = tuple[str, ...]  # where a value lives: ("control", "port") is config.control.port

SETTING = "setting"
GROUP = "settings group"


@dataclass(frozen=True)
class Setting:
    """One daemon setting as people meet it: a config-file key, maybe a flag, one check."""

    key: str  # the config file's key ("" for a flag-only setting)
    kind: str  # its type, for people: "string", "port 1..65535", ...
    help: str
    check: Check
    example: object = None  # a value for the example config (None: left out of it)
    flag: str = ""  # e.g. "--osc-port" ("": config file only)
    metavar: str | None = None
    commands: frozenset[str] = frozenset({"run"})  # the commands that take the flag
    section: str = "settings"  # the `--help` group its flag is listed in
    flag_type: Callable[[str], object] | None = None  # argparse's `type=` for the flag
    switch: object = None  # not None: the flag takes no value and stores this
    switch_help: str = ""  # what the switch does, when it turns the setting off
    repeat: bool = False  # the flag may be given again; its values make a list
    flag_first: bool = False  # a repeated flag's items go before the file's, not instead
    choices: Sequence[str] | None = None
    attr: Attr = ()  # filled in by `settings_of`
    default: object = None  # likewise

    @property
    def dest(self) -> str:
        return "setting_" + "_".join(self.attr)


def setting(default: T, **info: Any) -> T:
    """A dataclass field with its setting; a list default is copied for each instance."""
    meta = {SETTING: info}
    if isinstance(default, (list, dict)):
        copy: Callable[[], Any] = lambda: type(default)(default)  # noqa: E731
        result: T = field(default_factory=copy, metadata=meta)
        return result
    plain: T = field(default=default, metadata=meta)
    return plain


def group(cls: Callable[[], T]) -> T:
    """A dataclass field holding a nested settings dataclass (its keys stay flat in the file)."""
    nested: T = field(default_factory=cls, metadata={GROUP: cls})
    return nested


def settings_of(cls: type, prefix: Attr = ()) -> Iterator[Setting]:
    """Every setting of a settings dataclass, nested groups included, in declaration order."""
    defaults = cls()
    for f in dataclasses.fields(cls):
        if GROUP in f.metadata:
            yield from settings_of(f.metadata[GROUP], (*prefix, f.name))
        elif SETTING in f.metadata:
            info = dict(f.metadata[SETTING])
            info.setdefault("key", f.name)
            yield Setting(**info, attr=(*prefix, f.name), default=getattr(defaults, f.name))


def build(cls: Callable[..., T], values: Mapping[Attr, object], prefix: Attr = ()) -> T:
    """An instance of a settings dataclass from checked values; the rest keep their defaults."""
    kwargs: dict[str, object] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]  # (a settings dataclass)
        attr = (*prefix, f.name)
        if GROUP in f.metadata:
            kwargs[f.name] = build(f.metadata[GROUP], values, attr)
        elif attr in values:
            kwargs[f.name] = values[attr]
    return cls(**kwargs)


def add_flags(
    parser: argparse.ArgumentParser,
    table: Sequence[Setting],
    command: str,
    default: object = None,
) -> None:
    """The flags of `command`'s settings, grouped by section; `default` is what an absent flag
    leaves (None, or SUPPRESS where a command group's flag may also be given after its action)."""
    sections: dict[str, Any] = {}
    for item in table:
        if not item.flag or command not in item.commands:
            continue
        if item.section not in sections:
            sections[item.section] = parser.add_argument_group(item.section)
        where = sections[item.section]
        text = flag_help(item)
        if item.switch is not None:
            where.add_argument(
                item.flag, dest=item.dest, action="store_const", const=item.switch,
                default=default, help=text,
            )  # fmt: skip
        else:
            where.add_argument(
                item.flag,
                dest=item.dest,
                action="append" if item.repeat else "store",
                type=_checked(item),
                choices=item.choices,
                metavar=item.metavar,
                default=default,
                help=text,
            )


def _checked(item: Setting) -> Callable[[str], object]:
    """argparse's `type=`: a flag's value is checked as it is parsed, so a bad one is one line
    before anything else is said (or done); a repeated flag's item is checked on its own."""

    def convert(text: str) -> object:
        value = item.flag_type(text) if item.flag_type else text
        try:
            item.check([value] if item.repeat else value, item.flag)
        except (UserError, ValueError) as exc:  # (a ParamError is a ValueError)
            said = str(exc).removeprefix(f"{item.flag}: ")  # argparse names the flag
            raise argparse.ArgumentTypeError(said) from None
        return value

    convert.__name__ = item.kind  # argparse names it in "invalid <name> value"
    return convert


def flag_help(item: Setting) -> str:
    where = f"config key {item.key}" if item.key else "no config key"
    if item.switch is not None:
        return f"{item.switch_help or item.help} ({where})".replace("%", "%%")
    return f"{item.help} (default {shown_default(item)}; {where})".replace("%", "%%")


def from_flags(
    args: argparse.Namespace, table: Sequence[Setting], known: Mapping[Attr, object]
) -> dict[Attr, object]:
    """The flags given, checked, over the `known` values (the file's): flags win."""
    values = dict(known)
    for item in table:
        raw = getattr(args, item.dest, None)
        if raw is None:
            continue
        value = item.check(raw, item.flag)
        if item.flag_first and isinstance(value, list):
            earlier = values.get(item.attr, item.default)
            value = [*value, *(earlier if isinstance(earlier, list) else [])]
        values[item.attr] = value
    return values


def shown_default(item: Setting) -> str:
    """A default as people read it: TOML's spelling, and "none" for no value."""
    if item.default in (None, "", [], {}):
        return "none"
    if isinstance(item.default, (bool, int, float, list)):
        return toml_value(item.default)
    return str(item.default)


def toml_value(value: object) -> str:
    """A TOML literal for a string, number, boolean or list of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string is JSON's


def _flag_cell(item: Setting) -> str:
    return f"{item.flag} {item.metavar or ''}".strip() if item.flag else ""


def table_text(table: Sequence[Setting]) -> str:
    """The settings for a terminal: key, flag, default; then the help, indented."""
    lines = []
    for item in table:
        names = ", ".join(part for part in (item.key, _flag_cell(item)) if part)
        lines.append(f"  {names}  [{item.kind}; default {shown_default(item)}]")
        lines += textwrap.wrap(item.help, 96, initial_indent=" " * 6, subsequent_indent=" " * 6)
    return "\n".join(lines)


def table_markdown(table: Sequence[Setting]) -> str:
    """The settings as the docs' table."""
    lines = [
        "| config key | flag | type | default | what it does |",
        "|---|---|---|---|---|",
    ]
    for item in table:
        key = f"`{item.key}`" if item.key else "(flag only)"
        flag = f"`{_flag_cell(item)}`" if item.flag else "(config file only)"
        cell = item.help.replace("|", "\\|")
        lines.append(f"| {key} | {flag} | {item.kind} | `{shown_default(item)}` | {cell} |")
    return "\n".join(lines)
