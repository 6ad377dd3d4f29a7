"""Chat completions of hf models: real generation, sampling controls, streaming, batching."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from openai_ft.local import LocalService
from tests.local.conftest import FakeClock, make_client

from .conftest import sft_rows, upload

ASK = [{"role": "user", "content": "ticket 3: my login problem"}]


@pytest.fixture(scope="module")
def trained(
    tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LocalService, str]]:
    """One service (module-wide) with a fine-tuned model of the tiny base."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_FT_HF_MODELS", f"tiny={tiny_model}")
        root = tmp_path_factory.mktemp("chat") / "state"
        service = LocalService(root, autostart=False, clock=FakeClock(), speed=0)
        client = make_client(service)
        job = client.fine_tuning.jobs.create(
            model="tiny",
            training_file=upload(client, sft_rows(12)),
            seed=1,
            hyperparameters={"n_epochs": 2, "batch_size": 12, "learning_rate_multiplier": 20},
        )
        service.run_jobs()
        done = client.fine_tuning.jobs.retrieve(job.id)
        assert done.status == "succeeded", done.error
        yield service, str(done.fine_tuned_model)
        service.close()


@pytest.fixture
def chat(
    trained: tuple[LocalService, str], tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[openai.OpenAI, str]:
    monkeypatch.setenv("OPENAI_FT_HF_MODELS", f"tiny={tiny_model}")
    service, model = trained
    return make_client(service), model


def test_base_and_fine_tuned_models_generate_with_usage_in_model_tokens(chat: Any) -> None:
    client, model = chat
    for name in ("tiny", model):
        out = client.chat.completions.create(
            model=name, messages=ASK, max_completion_tokens=5, temperature=0
        )
        choice = out.choices[0]
        assert choice.finish_reason in ("stop", "length")
        assert out.usage is not None and 0 < out.usage.completion_tokens <= 5
        assert out.usage.prompt_tokens > 5
    ft = client.chat.completions.create(
        model=model, messages=ASK, max_completion_tokens=8, temperature=0
    )
    assert ft.choices[0].message.content  # the fine-tune learned to answer something


def test_same_seed_same_text_and_n_choices_and_length_limit(chat: Any) -> None:
    client, _ = chat
    kw: dict[str, Any] = {
        "model": "tiny",
        "messages": ASK,
        "max_completion_tokens": 6,
        "temperature": 1.0,
    }
    a = client.chat.completions.create(seed=5, n=3, **kw)
    b = client.chat.completions.create(seed=5, n=3, **kw)
    assert [c.message.content for c in a.choices] == [c.message.content for c in b.choices]
    assert len(a.choices) == 3
    assert all(c.finish_reason == "length" for c in a.choices if a.usage)


def test_logprobs_and_top_logprobs_per_generated_token(chat: Any) -> None:
    client, _ = chat
    out = client.chat.completions.create(
        model="tiny",
        messages=ASK,
        max_completion_tokens=4,
        temperature=0,
        logprobs=True,
        top_logprobs=3,
    )
    content = out.choices[0].logprobs.content
    assert content and "".join(t.token for t in content) == out.choices[0].message.content
    for token in content:
        assert token.logprob <= 0 and len(token.top_logprobs) == 3
        # greedy: the chosen token is the most likely one
        assert token.logprob == pytest.approx(token.top_logprobs[0].logprob, abs=1e-5)


def test_stop_string_cuts_the_reply(chat: Any) -> None:
    client, _ = chat
    full = client.chat.completions.create(
        model="tiny", messages=ASK, max_completion_tokens=12, temperature=0
    )
    text = full.choices[0].message.content or ""
    assert len(text) > 2
    stop = text[1:3]
    cut = client.chat.completions.create(
        model="tiny", messages=ASK, max_completion_tokens=12, temperature=0, stop=[stop]
    )
    assert cut.choices[0].message.content == text[: text.find(stop)]
    assert cut.choices[0].finish_reason == "stop"


def test_streaming_sends_one_chunk_per_token_and_the_same_text(chat: Any) -> None:
    client, _ = chat
    whole = client.chat.completions.create(
        model="tiny", messages=ASK, max_completion_tokens=6, temperature=0
    )
    chunks = list(
        client.chat.completions.create(
            model="tiny",
            messages=ASK,
            max_completion_tokens=6,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert "".join(pieces) == whole.choices[0].message.content
    assert len(pieces) >= 2
    assert (
        chunks[-1].usage is not None
        and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    )


def test_json_mode_always_answers_json(chat: Any) -> None:
    client, _ = chat
    out = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "answer in json"}],
        max_completion_tokens=4,
        temperature=0,
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(out.choices[0].message.content or ""), dict)


def test_concurrent_requests_are_batched_into_one_decode(
    chat: Any, trained: tuple[LocalService, str]
) -> None:
    client, _ = chat
    from openai_ft.local.engines.hf.model import base_decoder
    from openai_ft.local.engines.hf.registry import lookup

    decoder = base_decoder(str(lookup(None, "tiny").path()))  # type: ignore[union-attr]
    before = len(decoder.batches)
    gate = threading.Barrier(8)
    texts: list[str] = []

    def ask(i: int) -> None:
        gate.wait()
        out = client.chat.completions.create(
            model="tiny", messages=ASK, max_completion_tokens=12, temperature=0, seed=i
        )
        texts.append(out.choices[0].message.content or "")

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    batches = decoder.batches[before:]
    assert sum(batches) == 8 and len(texts) == 8
    assert max(batches) > 1  # at least two requests shared one decode call
    assert len(set(texts)) == 1  # greedy: batching does not change the answer


def test_a_fine_tuned_model_completes_through_the_engine_interface(
    chat: Any, trained: tuple[LocalService, str]
) -> None:
    client, model = chat
    loaded = trained[0].service.load_model(model)
    assert loaded is trained[0].service.load_model(model)  # loaded once, kept
    comps = loaded.complete(ASK, n=2, temperature=0, max_tokens=4)  # type: ignore[union-attr]
    api = client.chat.completions.create(
        model=model, messages=ASK, max_completion_tokens=4, temperature=0
    )
    assert [c.text for c in comps] == [api.choices[0].message.content] * 2


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }
]


def test_a_qwen_style_tool_call_in_the_reply_becomes_tool_calls() -> None:
    from openai_ft.local.engines.hf.chat import _message

    reply = '<tool_call>\n{"name": "lookup_order", "arguments": {"order_id": "A7"}}\n</tool_call>'
    message, finish = _message({"tools": TOOLS}, reply)
    assert finish == "tool_calls" and message["content"] is None
    call = message["tool_calls"][0]["function"]
    assert call["name"] == "lookup_order" and json.loads(call["arguments"]) == {"order_id": "A7"}
    plain, finish = _message({"tools": TOOLS}, "just text")
    assert finish is None and plain["content"] == "just text"


def test_forced_tool_choice_answers_with_a_call_that_fits_the_schema(chat: Any) -> None:
    client, _ = chat
    out = client.chat.completions.create(
        model="tiny",
        messages=ASK,
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "lookup_order"}},
        max_completion_tokens=4,
        temperature=0,
    )
    choice = out.choices[0]
    assert choice.finish_reason == "tool_calls"
    args = json.loads(choice.message.tool_calls[0].function.arguments)
    assert isinstance(args.get("order_id"), str)
