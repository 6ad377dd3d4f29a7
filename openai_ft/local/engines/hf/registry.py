"""The base models the ``hf`` engine may load: a registry the user controls, read without torch.

Two sources, merged (the environment wins on a clash):

- ``hf_models.toml`` in the state folder (``$OPENAI_FT_HOME``, beside ``service/``)::

      [models]
      qwen2.5-0.5b-instruct = "Qwen/Qwen2.5-0.5B-Instruct"   # a hub id already in the cache
      tiny = "/models/tiny"                                   # or a local directory

- ``OPENAI_FT_HF_MODELS="alias=source;alias2=source2"`` (``HF_MODEL=source`` alone registers
  ``hf-model``).

An alias is the model id clients use (``GET /v1/models``, ``model=`` of a job or a chat request):
no ``/`` or ``:`` in it, so that it fits a URL path segment and an ``ft:<base>:...`` id. Nothing is
ever downloaded: a hub id must already be in the local Hugging Face cache.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from openai_ft.errors import UsageError

FILE_NAME = "hf_models.toml"
_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")


@dataclass(frozen=True)
class BaseModel:
    """One registered base model: the id clients use and where its weights are."""

    alias: str
    source: str

    def path(self) -> Path:
        """The local folder of the weights (a hub id resolved in the cache, never downloaded)."""
        local = Path(self.source).expanduser()
        if local.is_dir():
            return local
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(self.source, local_files_only=True))
        except Exception as exc:  # the hub raises several unrelated types for "not cached"
            raise UsageError(
                f"base model {self.alias!r}: {self.source!r} is neither a folder nor a model in "
                f"the local Hugging Face cache ({type(exc).__name__})",
                tip=f"download it once with `hf download {self.source}` or point the alias at "
                "a folder",
            ) from None


def _parse_env(value: str) -> dict[str, str]:
    out = {}
    for item in re.split(r"[;\n]", value):
        alias, sep, source = item.partition("=")
        if sep and alias.strip() and source.strip():
            out[alias.strip()] = source.strip()
    return out


_FILE_CACHE: dict[Path, tuple[float, dict[str, str]]] = {}


def _from_file(path: Path) -> dict[str, str]:
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return {}
    cached = _FILE_CACHE.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(
            f"{path}: not a readable TOML file: {exc}",
            tip='write it as [models] then one line per model: alias = "folder or hub id"',
        ) from None
    models = data.get("models", {})
    table = {str(k): str(v) for k, v in models.items()} if isinstance(models, dict) else {}
    _FILE_CACHE[path] = (mtime, table)
    return table


def registered(state_root: Path | None) -> dict[str, BaseModel]:
    """Every registered base model by alias (``state_root`` is the service folder or None)."""
    table: dict[str, str] = {}
    if state_root is not None:
        table.update(_from_file(state_root.parent / FILE_NAME))
    single = os.environ.get("HF_MODEL")
    if single:
        table["hf-model"] = single
    table.update(_parse_env(os.environ.get("OPENAI_FT_HF_MODELS", "")))
    return {a: BaseModel(a, s) for a, s in table.items() if _ALIAS.match(a)}


def lookup(state_root: Path | None, alias: str) -> BaseModel | None:
    """The registered base model called ``alias``, or None."""
    return registered(state_root).get(alias)


__all__ = ["FILE_NAME", "BaseModel", "lookup", "registered"]
