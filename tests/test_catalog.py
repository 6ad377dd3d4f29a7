"""Model catalog: names, limits, prices, the epochs rule, cost estimates and the price override."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openai_ft.catalog import (
    DEFAULT_MODEL,
    PRICE_SOURCE,
    PRICE_TABLE_DATE,
    billed_tokens,
    estimate_training_cost,
    inference_cost,
    is_fine_tuned,
    model_info,
    resolve_epochs,
)
from openai_ft.errors import UsageError

PUBLISHED = {
    "gpt-4o-2024-08-06": (25.0, 3.75, 15.0),
    "gpt-4o-mini-2024-07-18": (3.0, 0.3, 1.2),
    "gpt-4.1-2025-04-14": (25.0, 3.0, 12.0),
    "gpt-4.1-mini-2025-04-14": (5.0, 0.8, 3.2),
    "gpt-4.1-nano-2025-04-14": (1.5, 0.2, 0.8),
    "gpt-3.5-turbo-0125": (8.0, 3.0, 6.0),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_prices(name: str) -> None:
    info = model_info(name)
    assert (info.training_usd_per_1m, info.input_usd_per_1m, info.output_usd_per_1m) == PUBLISHED[
        name
    ]
    assert info.known and info.trainable


def test_limits_shutdown_and_source() -> None:
    assert model_info("gpt-4o-mini").context_limit == 65536
    assert model_info("gpt-4.1").shutdown_date == "2027-01-14"
    assert model_info("gpt-4o-2024-08-06").shutdown_date == "2027-01-14"
    assert model_info("gpt-3.5-turbo").encoding == "cl100k_base"
    assert PRICE_SOURCE == "https://openai.com/api/pricing (fine-tuning)"
    assert PRICE_TABLE_DATE == "2025-06-01"
    assert DEFAULT_MODEL == "gpt-4.1-mini-2025-04-14"


def test_aliases_and_fine_tuned_ids_resolve_to_base() -> None:
    assert model_info("gpt-4.1-mini").name == "gpt-4.1-mini-2025-04-14"
    ft = model_info("ft:gpt-4o-mini-2024-07-18:acme:support:abc123")
    assert ft.name == "gpt-4o-mini-2024-07-18" and ft.known


def test_unknown_model_gets_conservative_default() -> None:
    info = model_info("my-model")
    assert not info.known and not info.trainable
    assert info.training_usd_per_1m == 25.0
    assert info.context_limit <= 65536


@pytest.mark.parametrize(
    ("n_examples", "epochs"),
    [
        (10, 10),
        (30, 3),  # the cookbook's integer division: 100 // 30 = 3, not ceil(100 / 30) = 4
        (33, 3),
        (25, 4),
        (12, 8),
        (7, 14),
        (3, 25),
        (1, 25),
        (34, 3),
        (50, 3),
        (8333, 3),
        (8334, 2),
        (20000, 1),
        (100000, 1),
        (0, 3),
    ],
)
def test_auto_epochs_rule(n_examples: int, epochs: int) -> None:
    assert resolve_epochs(n_examples) == epochs


def test_explicit_epochs_and_bad_values() -> None:
    assert resolve_epochs(1000, 4) == 4
    with pytest.raises(UsageError):
        resolve_epochs(10, 0)
    with pytest.raises(UsageError):
        resolve_epochs(10, "many")


def test_estimate_training_cost() -> None:
    est = estimate_training_cost(200_000, 50, "gpt-4o-mini")
    assert est.n_epochs == 3
    assert est.trained_tokens == 600_000
    assert est.usd == pytest.approx(1.8)
    assert "openai.com/api/pricing" in est.price_source and "2025-06-01" in est.price_source


BASE_PRICES = {
    "gpt-4o-2024-08-06": (2.50, 10.00),
    "gpt-4o-mini-2024-07-18": (0.15, 0.60),
    "gpt-4.1-2025-04-14": (2.00, 8.00),
    "gpt-4.1-mini-2025-04-14": (0.40, 1.60),
    "gpt-4.1-nano-2025-04-14": (0.10, 0.40),
    "gpt-3.5-turbo-0125": (0.50, 1.50),
}


@pytest.mark.parametrize("name", sorted(BASE_PRICES))
def test_base_and_fine_tuned_inference_prices(name: str) -> None:
    base_in, base_out = BASE_PRICES[name]
    _, ft_in, ft_out = PUBLISHED[name]
    info = model_info(name)
    assert (info.base_input_usd_per_1m, info.base_output_usd_per_1m) == (base_in, base_out)
    assert info.inference_prices(fine_tuned=False) == (base_in, base_out)
    assert info.inference_prices(fine_tuned=True) == (ft_in, ft_out)
    # 2M prompt + 0.5M completion tokens.
    assert inference_cost(name, 2_000_000, 500_000) == pytest.approx(2 * base_in + base_out / 2)
    ft = f"ft:{name}:acme::abc123"
    assert inference_cost(ft, 2_000_000, 500_000) == pytest.approx(2 * ft_in + ft_out / 2)
    ckpt = f"{ft}:ckpt-step-10"
    assert inference_cost(ckpt, 2_000_000, 500_000) == inference_cost(ft, 2_000_000, 500_000)


def test_inference_cost_aliases_and_batch_discount() -> None:
    assert is_fine_tuned("ft:gpt-4.1-nano-2025-04-14:local::x") and not is_fine_tuned("gpt-4o")
    assert inference_cost("gpt-4.1-nano", 1_000_000, 1_000_000) == pytest.approx(0.5)
    assert inference_cost("gpt-4.1-nano", 1_000_000, 1_000_000, batch=True) == pytest.approx(0.25)
    ft = "ft:gpt-4.1-nano-2025-04-14:acme::x"
    assert inference_cost(ft, 1_000_000, 1_000_000) == pytest.approx(1.0)
    assert inference_cost(ft, 1_000_000, 1_000_000, batch=True) == pytest.approx(0.5)
    # A base model costs less to call than its fine-tune, so costs are no longer overstated.
    assert inference_cost("gpt-4o", 1000, 1000) < inference_cost(
        "ft:gpt-4o-2024-08-06::x", 1000, 1000
    )


def test_unknown_model_is_priced_conservatively_either_way() -> None:
    assert inference_cost("my-model", 1_000_000, 0) == pytest.approx(3.75)
    assert inference_cost("ft:my-model:acme::x", 1_000_000, 0) == pytest.approx(3.75)


def test_price_override_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {
                "date": "2030-01-01",
                "source": "our contract",
                "models": {
                    "gpt-4o-mini-2024-07-18": {"training_usd_per_1m": 1.0},
                    "custom": {"context_limit": 100, "trainable": True},
                },
            }
        )
    )
    monkeypatch.setenv("OPENAI_FT_PRICES", str(path))
    assert model_info("gpt-4o-mini").training_usd_per_1m == 1.0
    assert model_info("gpt-4o-mini").input_usd_per_1m == 0.3
    assert model_info("gpt-4o-mini").base_input_usd_per_1m == 0.15  # kept from the built-in table
    custom = model_info("custom")
    assert custom.known and custom.context_limit == 100
    # A model without base prices is priced like its fine-tune (the fallback's price here).
    assert inference_cost("custom", 1_000_000, 0) == inference_cost("ft:custom::x", 1_000_000, 0)
    est = estimate_training_cost(1_000_000, 100, "gpt-4o-mini")
    assert est.usd == pytest.approx(3.0) and est.price_source == "our contract as of 2030-01-01"


def test_bad_price_override_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "prices.json"
    path.write_text("{not json")
    monkeypatch.setenv("OPENAI_FT_PRICES", str(path))
    with pytest.raises(UsageError, match=r"prices\.json:1"):
        model_info("gpt-4o")
    monkeypatch.setenv("OPENAI_FT_PRICES", str(tmp_path / "missing.json"))
    with pytest.raises(UsageError, match="cannot read"):
        model_info("gpt-4o")


def cookbook_epochs(n: int) -> int:
    """OpenAI's fine-tuning data preparation cookbook, transcribed."""
    target, lo, hi, min_e, max_e = 3, 100, 25000, 1, 25
    if n * target < lo:
        return min(max_e, lo // n)
    if n * target > hi:
        return max(min_e, hi // n)
    return target


def test_auto_epochs_equal_the_cookbook_and_the_local_service_uses_them() -> None:
    from openai_ft.local.engines import get_engine

    engine = get_engine()
    for n in range(1, 30_001):
        assert resolve_epochs(n) == cookbook_epochs(n), n
    for n in (12, 30, 33, 99, 8334):
        hp = engine.resolve_hyperparameters(n, "supervised", {})
        assert hp.n_epochs == cookbook_epochs(n), n


def test_examples_over_the_context_limit_are_billed_at_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": {"tiny": {"context_limit": 100, "trainable": True}}}))
    monkeypatch.setenv("OPENAI_FT_PRICES", str(path))
    assert billed_tokens([40, 100, 5000, 99], "tiny") == 40 + 100 + 100 + 99
    assert billed_tokens([], "tiny") == 0
    est = estimate_training_cost(billed_tokens([40, 5000], "tiny"), 2, "tiny", 2)
    assert (est.tokens_per_epoch, est.trained_tokens) == (140, 280)


def test_validate_estimates_cost_on_truncated_examples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openai_ft.dataset.validate import validate

    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": {"tiny": {"context_limit": 60, "trainable": True}}}))
    monkeypatch.setenv("OPENAI_FT_PRICES", str(prices))
    rows = [
        {"messages": [{"role": "user", "content": f"q{i} " + "word " * (200 if i == 0 else 1)},
                      {"role": "assistant", "content": "a"}]}
        for i in range(10)
    ]  # fmt: skip
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = validate(data, model="tiny")
    assert report.tokens.max > 60  # the long example is counted in full ...
    capped = report.tokens.total - report.tokens.max + 60
    assert report.estimate.tokens_per_epoch == capped  # ... and billed at the limit
    assert report.estimate.trained_tokens == capped * report.estimate.n_epochs
