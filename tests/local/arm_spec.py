"""Checks ARM responses of the Azure stand-in against the shared ARM spec (swagger 2.0).

``problems(method, path, status, headers, body)`` lists what does not match the operation's
declared response: the body against the schema of ``responses[status]`` (or ``default`` for an
error), and the headers the spec declares for that status. The spec's references to
``common-types/resource-management/v3`` were not copied into /work/shared/azure, so each one
resolves to a permissive schema (``{}``); the one common type the checks rely on, ARM's
``ErrorResponse``, is checked by its documented shape instead (``error.code`` and
``error.message`` strings). Paths the spec does not have (the operation monitors) are not
checked here; their tests assert their bodies directly.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx2
import jsonschema

SPEC = Path("/work/shared/azure/arm-cognitiveservices-2026-09-01.json")
PERMISSIVE: dict[str, Any] = {}


@functools.cache
def spec() -> dict[str, Any]:
    """The ARM spec with its missing common-types references made permissive."""
    if not SPEC.exists():
        raise AssertionError(f"{SPEC} is missing: the ARM conformance checks need the shared spec")
    doc: dict[str, Any] = json.loads(SPEC.read_text())
    return _permissive(copy.deepcopy(doc))


def _permissive(node: Any) -> Any:
    """Replace every ``{"$ref": "../...common-types..."}`` by ``{}``."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            return dict(PERMISSIVE)
        return {k: _permissive(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_permissive(v) for v in node]
    return node


def operation(method: str, path: str) -> dict[str, Any] | None:
    """The spec's operation for ``method path`` (None for a path the spec does not have)."""
    for template, ops in spec()["paths"].items():
        regex = re.sub(r"\{[^}]+\}", "[^/]+", template)
        if re.fullmatch(regex, path) and method.lower() in ops:
            op: dict[str, Any] = ops[method.lower()]
            return op
    return None


def validate(schema: dict[str, Any], body: Any) -> list[str]:
    """What is wrong with ``body`` against a schema of the spec (swagger 2.0 is draft 4)."""
    root = {"allOf": [schema], "definitions": spec()["definitions"]}
    validator = jsonschema.Draft4Validator(root)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}"
        for e in validator.iter_errors(body)
    ]


def definition(name: str, body: Any) -> list[str]:
    """What is wrong with ``body`` as ``#/definitions/<name>``."""
    return validate({"$ref": f"#/definitions/{name}"}, body)


def _error_shape(body: Any) -> list[str]:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ["error body: no 'error' object"]
    return [
        f"error body: '{key}' is not a string"
        for key in ("code", "message")
        if not isinstance(error.get(key), str)
    ]


def problems(
    method: str, path: str, status: int, headers: Mapping[str, str], content: bytes
) -> list[str]:
    """Differences between one ARM response and the spec (empty: it conforms)."""
    op = operation(method, path)
    if op is None:
        return []
    where = f"{method} {path} -> {status}"
    declared = op["responses"].get(str(status))
    if declared is None:
        if status < 400 or "default" not in op["responses"]:
            return [f"{where}: status not declared by the spec"]
        try:
            body = json.loads(content)
        except ValueError:
            return [f"{where}: error body is not JSON"]
        return [f"{where}: {p}" for p in _error_shape(body)]
    out: list[str] = []
    for name, header in declared.get("headers", {}).items():
        value = headers.get(name.lower())
        if value is None:
            out.append(f"{where}: missing header {name}")
        elif header.get("type") == "integer" and not value.isdigit():
            out.append(f"{where}: header {name} is not an integer: {value!r}")
    schema = declared.get("schema")
    if schema is None:
        if content:
            out.append(f"{where}: the spec declares no body, got {content[:80]!r}")
        return out
    try:
        body = json.loads(content)
    except ValueError:
        return [*out, f"{where}: body is not JSON"]
    return out + [f"{where}: {p}" for p in validate(schema, body)]


class ArmChecked(httpx2.BaseTransport):
    """A transport that checks every ARM response of the one it wraps; differences in ``found``."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self.inner = inner
        self.found: list[str] = []
        self.checked: list[str] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.checked.append(f"{request.method} {request.url.path} {response.status_code}")
        if response.status_code >= 500:
            self.found.append(f"{request.method} {request.url.path}: {response.status_code}")
        self.found += problems(
            request.method,
            request.url.path,
            response.status_code,
            response.headers,
            response.content,
        )
        return response


__all__ = ["ArmChecked", "definition", "operation", "problems", "spec", "validate"]
