"""Configuration from the environment, and opening the engine with it.

    DALAD_ENV            `development` (default) or `production` (default of
                         `dalad serve --production`)
    DALAD_DATABASE_URL   SQLAlchemy URL (default: SQLite file instance/dalad.sqlite3)
    DALAD_INSTANCE_DIR   folder for local files (default: instance)
    DALAD_HISTORY_KEY    HMAC key of the history chains (default: read from DALAD_HISTORY_KEY_FILE)
    DALAD_HISTORY_KEY_FILE  file holding that key, made once with a random key (default:
                         instance/history.key in development; in production
                         $XDG_CONFIG_HOME/dalad/history.key, else ~/.config/dalad/history.key,
                         never in the SQLite file's folder)
    DALAD_TIMEZONE       zone of dates written without an offset (default: Asia/Shanghai)
    DALAD_SECRET_KEY     Flask session key (default: instance/secret.key, made once)
    DALAD_DEMO           1 to allow demo accounts and demo data (default: 0)
    DALAD_SESSION_IDLE_HOURS  a login session idle this long ends (default: 8)
    DALAD_SCRIPTS_JAVASCRIPT  the setting dalad.scripts.javascript: what a JavaScript or Groovy
                         script of a diagram does: `incident` when reached (default), or `refuse`
                         the diagram at deploy
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from . import clock, foreign, history, keyfiles
from .database import Database, default_url
from .errors import EngineError

ENVIRONMENTS = ("development", "production")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class ConfigurationError(EngineError):
    """A setting from the environment that cannot be used."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    instance_dir: Path
    history_key: bytes = field(repr=False)
    timezone: str = "Asia/Shanghai"
    secret_key: str = field(default="", repr=False)
    demo: bool = False
    session_idle_hours: float = 8.0
    credential_cache_seconds: float = 5.0  # how long another process's credential change may go unseen
    scripts_javascript: str = "incident"
    environment: str = "development"
    history_key_file: Optional[Path] = None  # None: the key came from DALAD_HISTORY_KEY

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None, *,
                 environment: str = "development") -> "Settings":
        """Read the settings from `environ` (default: the process environment); `environment` is
        the mode when DALAD_ENV does not say (`dalad serve --production`: production)."""
        env = os.environ if environ is None else environ
        environment = (env.get("DALAD_ENV") or environment).strip().lower()
        if environment not in ENVIRONMENTS:
            raise ConfigurationError(f"DALAD_ENV must be one of {', '.join(ENVIRONMENTS)}, not '{env.get('DALAD_ENV')}'")
        instance_dir = Path(env.get("DALAD_INSTANCE_DIR") or "instance")
        url = env.get("DALAD_DATABASE_URL") or default_url(instance_dir)
        try:
            make_url(url)
        except ArgumentError as exc:
            raise ConfigurationError(f"DALAD_DATABASE_URL is not a database URL: {exc}") from exc
        key, key_file = env.get("DALAD_HISTORY_KEY"), None
        if not key:
            key_file = _history_key_file(env, environment, instance_dir, url)
            key = keyfiles.read_or_create(key_file)
        key = key.encode()
        if len(key) < 16:
            raise ConfigurationError(f"{'the history key in ' + str(key_file) if key_file else 'DALAD_HISTORY_KEY'} "
                                     "must be at least 16 characters")
        zone = env.get("DALAD_TIMEZONE") or "Asia/Shanghai"
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigurationError(f"DALAD_TIMEZONE '{zone}' is not a known time zone") from exc
        demo = (env.get("DALAD_DEMO") or "").strip().lower()
        if demo not in _TRUE | _FALSE:
            raise ConfigurationError(f"DALAD_DEMO must be 1 or 0, not '{env.get('DALAD_DEMO')}'")
        idle = env.get("DALAD_SESSION_IDLE_HOURS") or "8"
        try:
            idle_hours = float(idle)
        except ValueError:
            idle_hours = 0.0
        if not 0 < idle_hours <= 24 * 30:
            raise ConfigurationError(f"DALAD_SESSION_IDLE_HOURS must be a number of hours above 0, not '{idle}'")
        cached = env.get("DALAD_CREDENTIAL_CACHE_SECONDS") or "5"
        try:
            cache_seconds = float(cached)
        except ValueError:
            cache_seconds = -1.0
        if not 0 <= cache_seconds <= 60:
            raise ConfigurationError(f"DALAD_CREDENTIAL_CACHE_SECONDS must be a number of seconds from 0 to 60, "
                                     f"not '{cached}'")
        scripts = (env.get("DALAD_SCRIPTS_JAVASCRIPT") or "incident").strip().lower()
        if scripts not in foreign.SCRIPT_POLICIES:
            raise ConfigurationError(f"DALAD_SCRIPTS_JAVASCRIPT (dalad.scripts.javascript) must be one of "
                                     f"{', '.join(foreign.SCRIPT_POLICIES)}, not '{scripts}'")
        return cls(database_url=url, instance_dir=instance_dir, history_key=key, timezone=zone,
                   secret_key=env.get("DALAD_SECRET_KEY") or _secret_key_file(instance_dir),
                   demo=demo in _TRUE, session_idle_hours=idle_hours, credential_cache_seconds=cache_seconds,
                   scripts_javascript=scripts,
                   environment=environment, history_key_file=key_file)

    @property
    def display_url(self) -> str:
        """The database URL without its password, for messages and logs."""
        return make_url(self.database_url).render_as_string(hide_password=True)


def open_engine(settings: Settings) -> Database:
    """Set the history key and the clock zone from `settings`; return the Database."""
    history.set_key(settings.history_key)
    clock.set_zone(settings.timezone)
    foreign.set_script_policy(settings.scripts_javascript)
    return Database(settings.database_url)


def _secret_key_file(instance_dir: Path) -> str:
    """Read instance/secret.key, creating it with a random key the first time."""
    path = instance_dir / "secret.key"
    key = keyfiles.read_or_create(path)
    if not key:
        raise ConfigurationError(f"{path} is empty: delete it or set DALAD_SECRET_KEY")
    return key


def sqlite_folder(url: str) -> Optional[Path]:
    """The folder of an SQLite database file (None: another database, or one in memory)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).resolve().parent


def _history_key_file(env: Mapping[str, str], environment: str, instance_dir: Path, url: str) -> Path:
    """Where the history key file is. In production never beside the SQLite file: one copy of
    that folder (a backup, a disk image) would hold the history and the key that proves it."""
    named = env.get("DALAD_HISTORY_KEY_FILE")
    if environment == "development":
        return Path(named) if named else instance_dir / "history.key"
    config_home = Path(env.get("XDG_CONFIG_HOME") or Path(env.get("HOME") or Path.home()) / ".config")
    path = Path(named) if named else config_home / "dalad" / "history.key"
    folder = sqlite_folder(url)
    if folder is not None and path.resolve().parent == folder:
        raise ConfigurationError(
            f"production mode (DALAD_ENV=production): the history key file {path.resolve()} is in the same "
            f"folder as the SQLite database {make_url(url).database}; whoever copies that folder could rewrite "
            "the history undetectably. Set DALAD_HISTORY_KEY from a secret store, or DALAD_HISTORY_KEY_FILE to "
            "a file in another folder (or DALAD_ENV=development for a trial)")
    return path
