"""Price table and cost: TOML prices per provider/model, local providers cost 0, bad files;
which provider bills a row (plugin package, hosts overrides, well-known hosts, via HOST)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lkmon.model.events import ModelUsage, PluginMetrics, UsageUpdated
from lkmon.model.providers import PackageMap, package_of, split_host
from lkmon.model.state import SessionModel
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
        ("hosts = 1\n", "[hosts] must be a table"),
        ('[hosts."h:1"]\nlocal = "yes"\n', "hosts.h:1.local must be true or false"),
        ('[hosts."h:1"]\nfree = true\n', "hosts.h:1 has unknown key 'free'"),
        ('[hosts."h:1"]\nprovider = 3\n', "hosts.h:1.provider must be a name"),
        ('[hosts."h:1".prices."m"]\noutput_per_1m = -2\n', "must be a number >= 0"),
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


# -- which provider bills a row ----------------------------------------------------------------

OPENAI_LLM = "livekit.plugins.openai.llm.LLM"
GPT41_1000 = 1000 * 2.00 / 1e6  # 1000 uncached prompt tokens of gpt-4.1 at $2.00 / 1M


def _session(rows: list[ModelUsage], metrics: list[tuple[str, str, str, str]],
             prices: PriceTable | None = None) -> SessionModel:
    """A model fed plugin metrics ``(kind, label, provider, model)`` then one usage update."""
    model = SessionModel(prices)
    for i, (kind, label, provider, name) in enumerate(metrics):
        model.apply(PluginMetrics(ts=100.0 + i, kind=kind, label=label, provider=provider,
                                  model=name))  # type: ignore[arg-type]
    model.apply(UsageUpdated(ts=200.0, usage=rows))
    return model


def test_gpt41_is_priced_exactly_from_the_table() -> None:
    table = PriceTable.default()
    price = table.price_for("openai", "gpt-4.1")
    assert price is not None and (price.input_per_1m, price.output_per_1m) == (2.00, 8.00)
    u = ModelUsage("llm", "api.openai.com", "gpt-4.1", input_tokens=1000)
    assert table.cost(u) == pytest.approx(0.002)
    # 1000 prompt (200 cached at $0.50), 500 completion at $8.00
    u = ModelUsage("llm", "api.openai.com", "gpt-4.1", input_tokens=1000, input_cached_tokens=200,
                   output_tokens=500)
    assert table.cost(u) == pytest.approx(800 * 2.0 / 1e6 + 200 * 0.5 / 1e6 + 500 * 8.0 / 1e6)


def test_openai_plugin_at_api_openai_com_bills_openai_with_no_via() -> None:
    row = ModelUsage("llm", "api.openai.com", "gpt-4.1", input_tokens=1000)
    model = _session([row], [("llm", OPENAI_LLM, "api.openai.com", "gpt-4.1")])
    [c] = model.costs()
    assert (c.billed_provider, c.via, c.package, c.local) == ("openai", "", "openai", False)
    assert c.cost == pytest.approx(GPT41_1000) and c.name == "openai/gpt-4.1"
    assert model.total_cost() == pytest.approx(GPT41_1000)
    # no metric seen: the well-known host gives the same answer
    [c] = PriceTable.default().costs([row])
    assert (c.billed_provider, c.via, c.package) == ("openai", "", None)
    assert c.cost == pytest.approx(GPT41_1000)


def test_openai_plugin_behind_a_proxy_bills_openai_rates_via_the_host() -> None:
    row = ModelUsage("llm", "127.0.0.1:8000", "gpt-4.1", input_tokens=1000)
    model = _session([row], [("llm", OPENAI_LLM, "127.0.0.1:8000", "gpt-4.1")])
    [c] = model.costs()
    assert (c.billed_provider, c.via, c.package) == ("openai", "127.0.0.1:8000", "openai")
    assert c.cost == pytest.approx(GPT41_1000)
    assert c.name == "openai/gpt-4.1 via 127.0.0.1:8000"
    # without the metric nobody knows what serves 127.0.0.1:8000: unknown, never 0
    [c] = PriceTable.default().costs([row])
    assert c.cost is None and c.billed_provider is None and c.name == "127.0.0.1:8000/gpt-4.1"
    assert PriceTable.default().total([row]) is None


def test_hosts_override_makes_a_self_hosted_server_local(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[hosts."127.0.0.1:8000"]\nlocal = true\n')
    table = PriceTable.load(path)
    rows = [ModelUsage("llm", "127.0.0.1:8000", "gpt-4.1", input_tokens=10**6),
            ModelUsage("llm", "api.openai.com", "gpt-4.1", input_tokens=1000)]
    model = _session(rows, [("llm", OPENAI_LLM, "127.0.0.1:8000", "gpt-4.1"),
                            ("llm", OPENAI_LLM, "api.openai.com", "gpt-4.1")], table)
    local, cloud = model.costs()
    assert (local.cost, local.local, local.via) == (0.0, True, "127.0.0.1:8000")
    assert local.name == "openai/gpt-4.1 via 127.0.0.1:8000"
    assert cloud.cost == pytest.approx(GPT41_1000)  # other hosts keep their rates
    assert model.total_cost() == pytest.approx(GPT41_1000)
    # the same server on another port is not covered by a host:port entry
    assert table.cost(ModelUsage("llm", "127.0.0.1:9000", "gpt-4.1", input_tokens=1)) is None


def test_hosts_override_with_prices_provider_and_bare_hostname(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        '[hosts."gpu-box.lan:8000".prices."llama-3"]\ninput_per_1m = 1.0\noutput_per_1m = 3.0\n'
        '[hosts."proxy.corp"]\nprovider = "groq"\n'
    )
    table = PriceTable.load(path)
    own = table.resolve(ModelUsage("llm", "gpu-box.lan:8000", "llama-3", input_tokens=10**6,
                                   output_tokens=10**6))
    assert own.cost == pytest.approx(4.0) and own.name == "gpu-box.lan:8000/llama-3"
    assert (own.billed_provider, own.via) == ("gpu-box.lan:8000", "")
    # with the plugin known, the row is the plugin's, through that host
    packages = PackageMap()
    packages.set("gpu-box.lan:8000", "llama-3", "openai")
    c = table.resolve(own.usage, packages)
    assert c.cost == pytest.approx(4.0) and c.name == "openai/llama-3 via gpu-box.lan:8000"
    # a host entry without a port matches every port of it; provider = bills at groq's rates
    u = ModelUsage("llm", "proxy.corp:4000", "llama-3.3-70b-versatile", input_tokens=10**6)
    c = table.resolve(u)
    assert (c.billed_provider, c.via) == ("groq", "proxy.corp:4000")
    assert c.cost == pytest.approx(0.59)


def test_unknown_openai_model_is_unknown_never_zero() -> None:
    row = ModelUsage("llm", "api.openai.com", "gpt-9000", input_tokens=1000)
    model = _session([row], [("llm", OPENAI_LLM, "api.openai.com", "gpt-9000")])
    [c] = model.costs()
    assert c.billed_provider == "openai" and c.cost is None
    assert model.total_cost() is None


def test_openai_tts_and_stt_defaults_are_priced() -> None:
    # openai.TTS is not streaming: LiveKit wraps it in tts.StreamAdapter, which re-emits the
    # wrapped plugin's metrics, so the label that arrives is the plugin's own
    rows = [
        ModelUsage("tts", "api.openai.com", "gpt-4o-mini-tts", characters_count=900,
                   audio_duration=90.0, input_tokens=250, output_tokens=1500),
        ModelUsage("stt", "api.openai.com", "gpt-4o-mini-transcribe", audio_duration=60.0),
        ModelUsage("stt", "api.openai.com", "gpt-4o-transcribe", audio_duration=30.0),
        ModelUsage("stt", "api.openai.com", "whisper-1", audio_duration=120.0),
        ModelUsage("tts", "api.openai.com", "tts-1", characters_count=10_000, audio_duration=5.0),
    ]
    model = _session(rows, [
        ("tts", "livekit.plugins.openai.tts.TTS", "api.openai.com", "gpt-4o-mini-tts"),
        ("stt", "livekit.plugins.openai.stt.STT", "api.openai.com", "gpt-4o-mini-transcribe"),
    ])
    costs = [c.cost for c in model.costs()]
    # per-minute estimates ($0.015, $0.003, $0.006, $0.006 / min), tts-1 $15 / 1M characters
    assert costs == pytest.approx([1.5 * 0.015, 0.003, 0.003, 2 * 0.006, 0.15])
    assert all(c.billed_provider == "openai" for c in model.costs())


def test_openai_client_pointed_at_another_vendor_bills_that_vendor() -> None:
    # openai.LLM.with_groq(): the openai package, groq's own API host
    row = ModelUsage("llm", "api.groq.com", "llama-3.3-70b-versatile", input_tokens=10**6,
                     output_tokens=10**6)
    model = _session([row], [("llm", OPENAI_LLM, "api.groq.com", "llama-3.3-70b-versatile")])
    [c] = model.costs()
    assert (c.billed_provider, c.via) == ("groq", "") and c.cost == pytest.approx(0.59 + 0.79)
    # Azure OpenAI serves OpenAI's models at about its rates, shown via the resource host
    az = ModelUsage("llm", "my-res.openai.azure.com", "gpt-4.1", input_tokens=1000)
    c = PriceTable.default().resolve(az)
    assert (c.billed_provider, c.via) == ("openai", "my-res.openai.azure.com")
    assert c.cost == pytest.approx(GPT41_1000)


def test_named_providers_and_livekit_inference_resolve() -> None:
    table = PriceTable.default()
    dg = ModelUsage("stt", "Deepgram", "nova-3", audio_duration=60.0)  # no metric: by name
    assert table.cost(dg) == pytest.approx(0.0077)
    voice = ModelUsage("tts", "Deepgram", "aura-2-andromeda-en", characters_count=1000)
    assert table.cost(voice) == pytest.approx(0.030)  # the "aura-2-*" prefix, not "aura-*"
    assert table.cost(ModelUsage("tts", "Deepgram", "aura-luna-en", characters_count=1000)) == (
        pytest.approx(0.015))
    lk = ModelUsage("llm", "livekit", "openai/gpt-4.1-mini", input_tokens=10**6)
    model = _session([lk], [("llm", "livekit.agents.inference.llm.LLM", "livekit",
                             "openai/gpt-4.1-mini")])
    [c] = model.costs()
    assert (c.billed_provider, c.package, c.via) == ("livekit", "livekit", "")
    assert c.cost == pytest.approx(0.40)
    # lkmon's own plugins are local whatever they call themselves
    mine = ModelUsage("llm", "my-box", "x", input_tokens=10)
    model = _session([mine], [("llm", "lkmon.local.llm.SmolLLM", "my-box", "x")])
    assert [(c.cost, c.local) for c in model.costs()] == [(0.0, True)]


@pytest.mark.parametrize(
    ("label", "package"),
    [
        ("livekit.plugins.openai.llm.LLM", "openai"),
        ("livekit.plugins.openai.tts.TTS", "openai"),
        ("livekit.plugins.deepgram.stt.STT", "deepgram"),
        ("livekit.plugins.cartesia.tts.TTS", "cartesia"),
        ("livekit.plugins.elevenlabs.tts.TTS", "elevenlabs"),
        ("livekit.plugins.anthropic.llm.LLM", "anthropic"),
        ("livekit.plugins.google.llm.LLM", "google"),
        ("livekit.plugins.groq.services.LLM", "groq"),
        ("livekit.agents.inference.stt.STT", "livekit"),
        ("lkmon.local.tts.PiperTTS", "local"),
        ("livekit.agents.tts.stream_adapter.StreamAdapter", None),
        ("livekit.agents.stt.fallback_adapter.FallbackAdapter", None),
        ("", None),
    ],
)
def test_package_of_label(label: str, package: str | None) -> None:
    assert package_of(label) == package


def test_package_map_ignores_adapter_labels() -> None:
    packages = PackageMap()
    packages.saw("livekit.agents.tts.stream_adapter.StreamAdapter", "127.0.0.1:8000", "m")
    assert packages.get("127.0.0.1:8000", "m") is None and len(packages) == 0
    packages.saw("livekit.plugins.openai.tts.TTS", "127.0.0.1:8000", "m")
    assert packages.get("127.0.0.1:8000", "m") == "openai"


def test_split_host() -> None:
    assert split_host("127.0.0.1:8000") == ("127.0.0.1:8000", "127.0.0.1")
    assert split_host("API.OpenAI.com") == ("api.openai.com", "api.openai.com")
    assert split_host("localhost") == ("localhost", "localhost")
    assert split_host("[::1]:8000") == ("[::1]:8000", "[::1]")
    assert split_host("Deepgram") == ("", "") and split_host("") == ("", "")


def test_snapshot_rows_carry_via_and_reload(tmp_path: Path) -> None:
    from lkmon.store.restore import load_session, model_from_snapshot
    from lkmon.store.snapshot import build_snapshot, write_snapshot

    row = ModelUsage("llm", "127.0.0.1:8000", "gpt-4.1", input_tokens=1000)
    model = _session([row], [("llm", OPENAI_LLM, "127.0.0.1:8000", "gpt-4.1")])
    [u] = build_snapshot(model)["usage"]
    assert (u["billed_provider"], u["via"], u["package"]) == ("openai", "127.0.0.1:8000", "openai")
    assert u["cost"] == pytest.approx(GPT41_1000)
    loaded = load_session(write_snapshot(model, tmp_path / "s.json"))
    assert build_snapshot(loaded)["usage"] == [u]
    # from the sections alone (events incomplete): the package comes back from the row
    snap = build_snapshot(model)
    snap["events_complete"] = False
    snap["session"]["events_complete"] = False
    again = model_from_snapshot(snap)
    assert [c.cost for c in again.costs()] == pytest.approx([GPT41_1000])
    # a row written before these fields still loads (cost from the provider alone)
    for key in ("billed_provider", "via", "package"):
        snap["usage"][0].pop(key)
    old = model_from_snapshot(snap)
    assert [c.cost for c in old.costs()] == [None]


def test_html_report_and_headless_line_show_via() -> None:
    from lkmon.headless import cost_line
    from lkmon.report.html import build_html_report

    rows = [ModelUsage("llm", "127.0.0.1:8000", "gpt-4.1", input_tokens=1000),
            ModelUsage("stt", "nobody", "x", audio_duration=3.0)]
    model = _session(rows, [("llm", OPENAI_LLM, "127.0.0.1:8000", "gpt-4.1")])
    html = build_html_report(model)
    assert 'openai / gpt-4.1 <span class="meta">via 127.0.0.1:8000</span>' in html
    assert "<td class=n>0.0020</td>" in html
    assert cost_line(model) == (
        "lkmon: estimated cost 0.0020 USD (openai/gpt-4.1 via 127.0.0.1:8000 0.0020; nobody/x ?)"
    )
