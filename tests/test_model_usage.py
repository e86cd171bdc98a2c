"""Price table and cost: TOML prices per provider/model, local providers cost 0, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from lkmon.model.events import ModelUsage
from lkmon.model.usage import PriceTable, PriceTableError


def test_default_table_ships_and_prices_cloud_models() -> None:
    table = PriceTable.default()
    assert table.currency == "USD"
    usage = ModelUsage(
        "llm",
        "livekit",
        "openai/gpt-4.1-mini",
        input_tokens=1_000_000,
        input_cached_tokens=200_000,
        output_tokens=100_000,
    )
    # 800k uncached at 0.40, 200k cached at 0.10, 100k output at 1.60 (per 1M)
    assert table.cost(usage) == pytest.approx(0.32 + 0.02 + 0.16)
    stt = ModelUsage("stt", "livekit", "deepgram/nova-3", audio_duration=120.0)
    assert table.cost(stt) == pytest.approx(2 * 0.0077)
    tts = ModelUsage("tts", "livekit", "cartesia/sonic-3", characters_count=10_000)
    assert table.cost(tts) == pytest.approx(10_000 * 50.0 / 1e6)


def test_local_providers_cost_zero_and_unknown_is_none() -> None:
    table = PriceTable.default()
    local = ModelUsage("llm", "llama.cpp", "smollm2", input_tokens=10**6)
    assert table.cost(local) == 0.0 and table.is_local("faster-whisper")
    unknown = ModelUsage("llm", "acme", "brain-9000", input_tokens=10)
    assert table.cost(unknown) is None
    assert table.total([local, unknown]) == 0.0
    assert table.total([unknown]) is None
    assert table.total([]) == 0


def test_user_file_overrides_and_wildcard(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        'currency = "EUR"\nlocal_providers = ["my-box"]\n'
        '[prices.livekit."openai/gpt-4.1-mini"]\ninput_per_1m = 1.0\noutput_per_1m = 2.0\n'
        '[prices.acme."*"]\noutput_per_1m = 3.0\n'
    )
    table = PriceTable.load(path)
    assert table.currency == "EUR" and table.source == str(path)
    u = ModelUsage("llm", "livekit", "openai/gpt-4.1-mini", input_tokens=10**6, output_tokens=10**6)
    assert table.cost(u) == pytest.approx(3.0)  # cached price defaults to the input price
    assert table.cost(ModelUsage("llm", "acme", "any", output_tokens=10**6)) == 3.0
    assert table.cost(ModelUsage("llm", "my-box", "x", output_tokens=10**6)) == 0.0
    # the shipped entries are still there
    assert table.price_for("livekit", "deepgram/nova-3") is not None
    alone = PriceTable.load(path, include_default=False)
    assert alone.price_for("livekit", "deepgram/nova-3") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("this is [not toml", "corrupt price table"),
        ('[prices.x."y"]\ninput_per_1m = "cheap"\n', "must be a number >= 0"),
        ('[prices.x."y"]\ninput_per_1m = -1\n', "must be a number >= 0"),
        ('[prices.x."y"]\ninput_per_mil = 1\n', "unknown key 'input_per_mil'"),
        ("prices = 3\n", "[prices] must be a table"),
        ("[prices]\nx = 1\n", "prices.x"),
        ('local_providers = "all"\n', "bad currency or local_providers"),
    ],
)
def test_corrupt_price_table_is_one_line_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(PriceTableError) as info:
        PriceTable.load(path)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_price_table(tmp_path: Path) -> None:
    with pytest.raises(PriceTableError, match="cannot read price table"):
        PriceTable.load(tmp_path / "nope.toml")
