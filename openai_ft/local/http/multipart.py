"""A small multipart/form-data parser (the SDK's uploads are simple: fields and one file)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from openai_ft.local.http.core import ApiError

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.I)
_DISPOSITION = re.compile(r'(\w+)\*?="((?:[^"\\]|\\.)*)"|(\w+)=([^;\s]+)')


@dataclass(frozen=True)
class Part:
    """One form field: its name, its file name (for file fields) and its bytes."""

    name: str
    filename: str | None
    data: bytes


def parse_multipart(content_type: str, body: bytes) -> dict[str, Part]:
    """Parse a multipart body into fields by name, or raise a 400 ApiError."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(400, "This endpoint expects a multipart/form-data body.")
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise ApiError(400, "The multipart body has no boundary in its Content-Type.")
    delimiter = b"--" + match.group(1).encode("latin-1")
    fields: dict[str, Part] = {}
    chunks = body.split(delimiter)
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise ApiError(400, "A part of the multipart body has no header block.")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        name, filename = None, None
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            if key.strip().lower() != "content-disposition":
                continue
            for m in _DISPOSITION.finditer(value):
                k = (m.group(1) or m.group(3) or "").lower()
                v = m.group(2) if m.group(1) else m.group(4)
                if k == "name":
                    name = v
                elif k == "filename":
                    filename = v
        if name is not None:
            fields[name] = Part(name, filename, data)
    return fields
