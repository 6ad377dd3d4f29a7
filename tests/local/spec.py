"""Checks responses of the local service against the shared OpenAPI spec (loaded once per process).

``problems(method, path, status, content_type, body)`` lists what does not match the schema of the
operation; the test clients of this folder run every response they receive through it.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC = Path("/work/shared/openapi/openai-openapi.yaml")


@functools.cache
def spec() -> dict[str, Any]:
    """The shared OpenAPI document, adapted for a 2020-12 validator."""
    if not SPEC.exists():
        raise AssertionError(f"{SPEC} is missing: the conformance checks need the shared spec")
    with SPEC.open("rb") as fh:
        doc: dict[str, Any] = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    _nullable(doc)
    # Statuses are open strings (STYLE.md): the spec's job enum predates `paused`.
    doc["components"]["schemas"]["FineTuningJob"]["properties"]["status"]["enum"].append("paused")
    # POST /files accepts purpose 'evals' (CreateFileRequest) but the file object's enum lacks it.
    doc["components"]["schemas"]["OpenAIFile"]["properties"]["purpose"]["enum"].append("evals")
    return doc


def _nullable(node: Any) -> None:
    """Honour OpenAPI 3.0's ``nullable: true`` (still used inside this 3.1 document) for jsonschema."""
    if isinstance(node, dict):
        if node.get("nullable") is True:
            if isinstance(node.get("type"), str):
                node["type"] = [node["type"], "null"]
            if isinstance(node.get("enum"), list) and None not in node["enum"]:
                node["enum"].append(None)
            if "allOf" in node or "$ref" in node:
                inner = {k: node.pop(k) for k in ("allOf", "$ref") if k in node}
                node["anyOf"] = [inner, {"type": "null"}]
        for bound in ("Minimum", "Maximum"):  # 3.0's boolean exclusive bounds -> 2020-12 numbers
            if node.get("exclusive" + bound) is True and bound.lower() in node:
                node["exclusive" + bound] = node.pop(bound.lower())
            elif node.get("exclusive" + bound) is False:
                node.pop("exclusive" + bound)
        for value in node.values():
            _nullable(value)
    elif isinstance(node, list):
        for value in node:
            _nullable(value)


def operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The spec's path template and operation object for a request path under /v1."""
    path = path.removeprefix("/v1")
    for template, ops in spec()["paths"].items():
        regex = re.sub(r"\{[^}]+\}", "[^/]+", template)
        if re.fullmatch(regex, path) and method.lower() in ops:
            return template, ops[method.lower()]
    raise AssertionError(f"{method} {path} is not an operation of the spec")


@functools.cache
def validator(ref: str) -> jsonschema.protocols.Validator:
    """A validator for ``#/components/...`` of the spec (cached)."""
    registry: Registry = Registry().with_resource(
        "spec", Resource.from_contents(spec(), default_specification=DRAFT202012)
    )
    return jsonschema.Draft202012Validator({"$ref": "spec" + ref}, registry=registry)


def problems(method: str, path: str, status: int, content_type: str, body: bytes) -> list[str]:
    """Every way this response differs from the spec ([] when it conforms)."""
    if status >= 400:
        try:
            data = json.loads(body)
        except ValueError:
            return [f"{method} {path} {status}: the error body is not JSON"]
        return [
            f"{method} {path} {status}: {e.message[:200]} at {list(e.path)}"
            for e in validator("#/components/schemas/ErrorResponse").iter_errors(data)
        ]
    template, op = operation(method, path)
    kind = content_type.split(";")[0]
    if kind == "application/octet-stream":
        return []  # raw file bytes: compared byte-exact by the tests
    schema = op["responses"][str(status)].get("content", {}).get(kind, {}).get("schema")
    if schema is None:
        return [f"{method} {template}: the spec has no {status} {kind} schema"]
    check = validator(schema["$ref"])
    if kind == "text/event-stream":
        frames = [f[6:] for f in body.decode().split("\n\n") if f.startswith("data: ")]
        if not frames or frames[-1] != "[DONE]":
            return [f"SSE {template}: the stream does not end with [DONE]"]
        return [
            f"SSE {template}: {e.message[:200]} at {list(e.path)}"
            for frame in frames[:-1]
            for e in check.iter_errors(json.loads(frame))
        ]
    return [
        f"{method} {template}: {e.message[:200]} at {list(e.path)}"
        for e in check.iter_errors(json.loads(body))
    ]
