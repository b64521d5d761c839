"""User configuration: TOML at platformdirs' config dir (or $UNIBOX_CONFIG).

    [agent]
    handle = "ana"              # who you are in the workspace (for Mine, replies, comments)
    timezone = "Europe/Berlin"  # your zone for typed times (snooze); the machine's if unset

    [ui]
    theme = "textual-dark"      # remembered when you change it in the app
    bell = false                # ring the terminal bell on notifications
    desktop = "off"             # desktop notifications through the terminal: "osc777"
                                # (foot, kitty, WezTerm, rxvt), "osc9" (iTerm2, Windows
                                # Terminal, ConEmu) or "off"
    watch = ["unassigned"]      # views whose new conversations notify you (toast + list)
    undo_seconds = 5            # how long ctrl+z can take back a close, assign, move ...

    [compose]
    undo_send_seconds = 5       # a sent reply waits this long in the outbox: ctrl+z unsends

    [keymap]                    # binding id = keys (comma-separated), see `?` in the app
    reply = "r"
    close = "x,e"

Secrets never go here (see secrets.py); a key that looks like one is refused on load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any

from .core.errors import ConfigError

SECRET_WORDS = ("password", "secret", "token")
DESKTOP = ("off", "osc777", "osc9")


def default_path() -> Path:
    import platformdirs

    return platformdirs.user_config_path("unibox") / "config.toml"


def resolve_path(path: str | os.PathLike[str] | None = None) -> Path:
    if path:
        return Path(path).expanduser()
    env = os.environ.get("UNIBOX_CONFIG")
    return Path(env).expanduser() if env else default_path()


@dataclass
class Config:
    path: Path
    agent: str | None = None
    timezone: str | None = None
    theme: str = "textual-dark"
    bell: bool = False
    desktop: str = "off"  # off | osc777 | osc9
    watch: list[str] = field(default_factory=lambda: ["unassigned"])
    keymap: dict[str, str] = field(default_factory=dict)
    undo_seconds: float = 5.0
    undo_send_seconds: float = 5.0
    sort: str = "newest"  # the list's order (core/list_order.py; the `O` key remembers it)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def tz(self) -> tzinfo | None:
        """The agent's zone for typed times; None is the machine's local zone."""
        from .core.when import zone

        return zone(self.timezone)

    def save(self) -> None:
        """Write back, keeping sections this class does not know about."""
        import tomli_w

        data = dict(self.raw)
        data["agent"] = {**data.get("agent", {}), **({"handle": self.agent} if self.agent else {})}
        data["ui"] = {
            **data.get("ui", {}),
            "theme": self.theme,
            "bell": self.bell,
            "desktop": self.desktop,
            "watch": self.watch,
            "sort": self.sort,
        }
        if self.keymap:
            data["keymap"] = dict(self.keymap)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".toml.tmp")
            tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
            tmp.replace(self.path)
        except OSError as e:
            raise ConfigError(f"cannot write config {self.path}: {e.strerror}") from e


def _check_no_secrets(data: dict[str, Any], where: str, path: Path) -> None:
    for key, value in data.items():
        if isinstance(value, dict):
            _check_no_secrets(value, f"{where}{key}.", path)
        elif any(word in key.lower() for word in SECRET_WORDS) and not key.endswith("_env"):
            raise ConfigError(
                f"{path}: `{where}{key}` looks like a secret; secrets belong in the keyring, an "
                "environment variable or a file you name, not in config.toml"
            )


def _known_zone(name: object) -> bool:
    from .core.errors import InvalidRequest
    from .core.when import zone

    try:
        return isinstance(name, str) and zone(name) is not None
    except InvalidRequest:
        return False


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    target = resolve_path(path)
    if not target.exists():
        return Config(path=target)
    import tomllib  # here: its import compiles regexes (~10 ms), needless without a file

    try:
        data = tomllib.loads(target.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{target}: invalid TOML ({e}); fix or remove the file") from e
    except OSError as e:
        raise ConfigError(f"cannot read config {target}: {e.strerror}") from e
    _check_no_secrets(data, "", target)
    for section in ("agent", "ui", "keymap", "compose"):
        if not isinstance(data.get(section, {}), dict):
            raise ConfigError(
                f"{target}: [{section}] must be a table, e.g. [{section}] on its own line"
            )
    ui = data.get("ui", {})
    keymap = data.get("keymap", {})
    watch = ui.get("watch", ["unassigned"])
    if not isinstance(watch, list) or not all(isinstance(v, str) for v in watch):
        raise ConfigError(
            f'{target}: ui.watch is a list of views, e.g. watch = ["unassigned", "mine"]'
        )
    handle = data.get("agent", {}).get("handle")
    if handle is not None and not isinstance(handle, str):
        raise ConfigError(f'{target}: agent.handle is a text, e.g. handle = "ana"')
    timezone = data.get("agent", {}).get("timezone")
    if timezone is not None and not _known_zone(timezone):
        raise ConfigError(
            f'{target}: agent.timezone is a zone name, e.g. timezone = "Europe/Berlin"'
        )
    if not isinstance(keymap, dict) or not all(isinstance(v, str) for v in keymap.values()):
        raise ConfigError(f'{target}: [keymap] maps binding ids to key strings, e.g. reply = "r"')
    desktop = ui.get("desktop", "off")
    if desktop not in DESKTOP:
        raise ConfigError(
            f'{target}: ui.desktop is one of {", ".join(DESKTOP)}, e.g. desktop = "osc777"'
        )
    from .core.list_order import ORDERS

    sort = ui.get("sort", "newest")
    if sort not in ORDERS:
        raise ConfigError(f'{target}: ui.sort is one of {", ".join(ORDERS)}, e.g. sort = "waiting"')
    undo = _seconds(ui, "undo_seconds", "ui", target)
    undo_send = _seconds(data.get("compose", {}), "undo_send_seconds", "compose", target)
    return Config(
        path=target,
        agent=handle,
        timezone=timezone,
        theme=str(ui.get("theme", "textual-dark")),
        bell=bool(ui.get("bell", False)),
        desktop=str(desktop),
        watch=list(watch),
        keymap=dict(keymap),
        undo_seconds=undo,
        undo_send_seconds=undo_send,
        sort=str(sort),
        raw=data,
    )


def _seconds(section: dict[str, Any], key: str, name: str, path: Path) -> float:
    value = section.get(key, 5)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 600:
        raise ConfigError(f"{path}: {name}.{key} is a number of seconds from 0 to 600, e.g. 5")
    return float(value)
