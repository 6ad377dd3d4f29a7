"""Settings from flags, environment and the run config file; no I/O beyond reading them."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openai_ft.errors import UsageError

BACKENDS = ("local", "openai", "azure")


def state_dir() -> Path:
    """The folder that holds all user state: ``$OPENAI_FT_HOME`` or ``./.openai-ft``."""
    home = os.environ.get("OPENAI_FT_HOME")
    return Path(home) if home else Path.cwd() / ".openai-ft"


def debug_enabled() -> bool:
    """True when ``OPENAI_FT_DEBUG`` asks for tracebacks."""
    return os.environ.get("OPENAI_FT_DEBUG", "") not in ("", "0", "false")


@dataclass(frozen=True)
class BackendSettings:
    """Which service to talk to. Never holds the key itself: keys are read from the env when used."""

    backend: str = "local"
    base_url: str | None = None
    home: Path | None = None

    @property
    def name(self) -> str:
        """A stable name for the ledger: the backend plus its base URL when one is set."""
        return f"{self.backend}:{self.base_url}" if self.base_url else self.backend


def resolve_backend(
    flag: str | None = None, base_url: str | None = None, config: dict[str, Any] | None = None
) -> BackendSettings:
    """Pick the backend: flag, then ``OPENAI_FT_BACKEND``, then the run config, then ``local``."""
    cfg = config or {}
    backend = flag or os.environ.get("OPENAI_FT_BACKEND") or cfg.get("backend") or "local"
    url = base_url or cfg.get("base_url")
    if url and backend == "local" and not flag and not os.environ.get("OPENAI_FT_BACKEND"):
        backend = "openai"
    if backend not in BACKENDS:
        raise UsageError(
            f"unknown backend {backend!r}",
            tip=f"choose one of {', '.join(BACKENDS)} (or --base-url URL for any OpenAI-compatible server)",
        )
    return BackendSettings(backend=backend, base_url=url, home=state_dir())


def load_run_config(path: str | Path | None) -> dict[str, Any]:
    """Read a TOML run config; an unreadable or malformed file is a one-line UsageError."""
    if path is None:
        return {}
    p = Path(path)
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UsageError(
            f"{p}: run config not found", tip="check the path given to --config"
        ) from None
    except IsADirectoryError:
        raise UsageError(
            f"{p}: is a directory, not a run config", tip="give --config the path of a .toml file"
        ) from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{p}: not a TOML file (byte {exc.start + 1} is not UTF-8 text)",
            tip="give --config a TOML run config (UTF-8 text)",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{p}: not valid TOML: {exc}", tip="fix the run config file") from None
    except OSError as exc:
        raise UsageError(
            f"{p}: cannot read the run config: {exc.strerror or exc}",
            tip="check the path given to --config",
        ) from None
