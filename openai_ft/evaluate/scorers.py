"""Scorers: turn (prediction, reference) into a score in [0, 1].

Every scorer sees two strings. A plain answer is its text; an answer that calls tools is the JSON
list ``[{"name": ..., "arguments": {...}}]`` (see :func:`message_text`), so that tool-call and
JSON scorers work on the same representation. ``--scorer NAME[:ARG]`` picks one by name.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openai_ft.errors import UsageError

ScoreFn = Callable[[str, str], float]


@dataclass(frozen=True)
class Scorer:
    """A named scoring function; ``binary`` scorers give 0/1 (pass/fail, McNemar applies)."""

    name: str
    fn: ScoreFn
    binary: bool = True
    classification: bool = False
    judge_model: str | None = None

    def __call__(self, prediction: str, reference: str) -> float:
        """Score one prediction against its reference."""
        return float(self.fn(prediction, reference))


def message_text(message: dict[str, Any]) -> str:
    """The text a scorer sees for an assistant message (its content, or its tool calls as JSON)."""
    calls = message.get("tool_calls")
    if calls:
        out = []
        for call in calls:
            fn = call.get("function", call)
            args: Any = fn.get("arguments", "{}")
            if isinstance(args, str):
                with contextlib.suppress(json.JSONDecodeError):
                    args = json.loads(args)
            out.append({"name": fn.get("name"), "arguments": args})
        return json.dumps(out, ensure_ascii=False, sort_keys=True)
    content = message.get("content")
    if isinstance(content, list):  # content parts
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


def normalize(text: str) -> str:
    """Case-fold, fold full-width forms (NFKC), drop punctuation and collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_PUNCT.sub(" ", text).split())


def exact(prediction: str, reference: str) -> float:
    """1 when the answer equals the reference after trimming outer whitespace."""
    return float(prediction.strip() == reference.strip())


def normalized_exact(prediction: str, reference: str) -> float:
    """1 when the answer equals the reference after :func:`normalize`."""
    return float(normalize(prediction) == normalize(reference))


def contains(prediction: str, reference: str) -> float:
    """1 when the normalised reference occurs in the normalised answer."""
    ref = normalize(reference)
    return float(bool(ref) and ref in normalize(prediction))


def _regex(pattern: str | None) -> ScoreFn:
    if pattern is not None:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise UsageError(
                f"--scorer regex:{pattern}: not a valid regular expression: {exc}",
                tip="quote the pattern for your shell and check it with python -c 'import re'",
            ) from None
        return lambda p, r: float(compiled.search(p) is not None)

    def by_reference(prediction: str, reference: str) -> float:
        try:
            return float(re.fullmatch(reference.strip(), prediction.strip()) is not None)
        except re.error:
            return 0.0

    return by_reference


_NUMBER = re.compile(r"[-+]?(?:\d+(?:[.,]\d+)*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


def parse_number(text: str) -> float | None:
    """The last number in a text (thousands separators allowed), or None."""
    found = _NUMBER.findall(unicodedata.normalize("NFKC", text))
    if not found:
        return None
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def _numeric(tolerance: float) -> ScoreFn:
    def score(prediction: str, reference: str) -> float:
        p, r = parse_number(prediction), parse_number(reference)
        if p is None or r is None:
            return 0.0
        return float(math.isclose(p, r, rel_tol=tolerance, abs_tol=tolerance))

    return score


def _load_json(text: str) -> tuple[bool, Any]:
    text = text.strip()
    if text.startswith("```"):  # a fenced block is how models often wrap JSON
        text = text.strip("`").removeprefix("json").strip()
    try:
        return True, json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return False, None


def json_valid(prediction: str, reference: str) -> float:
    """1 when the answer parses as JSON."""
    return float(_load_json(prediction)[0])


def _json_schema(path: str) -> ScoreFn:
    import jsonschema

    try:
        schema = json.loads(Path(path).read_text("utf-8"))
        validator = jsonschema.Draft202012Validator(schema)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the JSON Schema: {exc.strerror}") from None
    except (json.JSONDecodeError, jsonschema.SchemaError) as exc:
        raise UsageError(f"{path}: not a valid JSON Schema: {exc}") from None

    def score(prediction: str, reference: str) -> float:
        ok, value = _load_json(prediction)
        return float(ok and validator.is_valid(value))

    return score


def _json_field(field: str | None) -> ScoreFn:
    def score(prediction: str, reference: str) -> float:
        ok_p, p = _load_json(prediction)
        ok_r, r = _load_json(reference)
        if not (ok_p and ok_r):
            return 0.0
        if field is None:
            return float(p == r)
        for key in field.split("."):
            p = p.get(key, _MISSING) if isinstance(p, dict) else _MISSING
            r = r.get(key, _MISSING) if isinstance(r, dict) else _MISSING
        return float(p is not _MISSING and p == r)

    return score


_MISSING = object()


def tool_call_match(prediction: str, reference: str) -> float:
    """1 when the answer calls the same tools, in order, with equal arguments (as parsed JSON)."""
    ok_p, p = _load_json(prediction)
    ok_r, r = _load_json(reference)
    if not (ok_p and ok_r and isinstance(p, list) and isinstance(r, list)):
        return 0.0
    return float(p == r)


def classification(prediction: str, reference: str) -> float:
    """Per-example correctness of a label (normalised exact); the summary adds F1 and confusion."""
    return normalized_exact(prediction, reference)


def builtin_names() -> list[str]:
    """Names accepted by ``--scorer`` (``:ARG`` where shown)."""
    return [
        "exact", "normalized", "contains", "regex[:PATTERN]", "numeric[:TOL]", "json_valid",
        "json_schema:PATH", "json_field[:KEY]", "tool_call", "classification", "bleu", "chrf",
        "rouge_l", "judge:MODEL",
    ]  # fmt: skip


def get_scorer(spec: str) -> Scorer:
    """Build a scorer from ``NAME[:ARG]`` (see :func:`builtin_names`)."""
    from openai_ft.evaluate import text_metrics

    name, _, arg = spec.partition(":")
    name = name.strip().lower().replace("-", "_")
    value = arg or None
    simple: dict[str, ScoreFn] = {
        "exact": exact,
        "normalized": normalized_exact,
        "normalised": normalized_exact,
        "contains": contains,
        "json_valid": json_valid,
        "tool_call": tool_call_match,
    }
    if name in simple:
        return Scorer(name, simple[name])
    if name == "classification":
        return Scorer(name, classification, classification=True)
    if name == "regex":
        return Scorer(spec, _regex(value))
    if name == "numeric":
        try:
            tol = float(value) if value else 1e-6
        except ValueError:
            raise UsageError(
                f"--scorer {spec}: tolerance must be a number, like numeric:0.01"
            ) from None
        return Scorer(f"numeric:{value}" if value else name, _numeric(tol))
    if name == "json_schema":
        if not value:
            raise UsageError("--scorer json_schema needs a schema file: json_schema:schema.json")
        return Scorer(f"json_schema:{value}", _json_schema(value))
    if name == "json_field":
        return Scorer(spec, _json_field(value))
    if name in ("bleu", "chrf", "rouge_l"):
        return Scorer(name, text_metrics.METRICS[name], binary=False)
    if name == "judge":
        if not value:
            raise UsageError("--scorer judge needs a model: judge:gpt-4.1-2025-04-14")
        return Scorer(f"judge:{value}", lambda p, r: 0.0, binary=False, judge_model=value)
    raise UsageError(f"unknown scorer {spec!r}", tip=f"choose from: {', '.join(builtin_names())}")


def as_scorer(
    obj: Scorer | str | Callable[[str, str], float | bool], name: str | None = None
) -> Scorer:
    """Accept a Scorer, a ``NAME[:ARG]`` spec or a plain ``fn(prediction, reference)``."""
    if isinstance(obj, Scorer):
        return obj
    if isinstance(obj, str):
        return get_scorer(obj)
    if callable(obj):
        label = str(name or getattr(obj, "__name__", "custom"))
        return Scorer(label, lambda p, r: float(obj(p, r)), binary=False)
    raise UsageError(f"not a scorer: {obj!r}", tip="pass a name like 'exact' or a function")
