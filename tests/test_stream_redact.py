"""A multi-word secret streamed word by word is redacted whole (issue 11, point 15).

LiveKit hands the agent's transcript to lkmon delta by delta (``TextOutput.capture_text``); lkmon
0.1 redacted each delta alone, so a secret of several words reached the journal and the
snapshot's ``agent_transcript`` events piece by piece (the assembled turn was redacted). The
bridge now holds back a tail that could still be the start of a secret.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from livekit.agents import AgentSession

import lkmon.redact
from lkmon.agent.observe.bridge import Bridge
from lkmon.model.events import AgentTranscript, Event, SessionStarted
from lkmon.model.state import SessionModel
from lkmon.redact import Redactor, StreamRedactor
from lkmon.store.journal import JournalWriter
from lkmon.store.snapshot import write_snapshot

SECRET = "Tr0ub4dor plover zephyr quixote"
WORDS = ("Tr0ub4dor", "plover", "zephyr", "quixote")
SPOKEN = f"Sure. The passphrase is {SECRET}, and Tr0ub4dor plover is half of it."


def _deltas(text: str) -> list[str]:
    """Word by word, each with its following space, as a TTS-aligned transcript arrives."""
    return re.findall(r"\S+\s*", text)


def test_stream_redactor_hides_a_secret_split_across_pieces() -> None:
    stream = StreamRedactor(Redactor([SECRET]))
    pieces = [stream.feed(d) for d in _deltas(SPOKEN)] + [stream.flush()]
    assert "".join(pieces) == (
        "Sure. The passphrase is [REDACTED], and Tr0ub4dor plover is half of it."
    )
    leaked = [p for p in pieces[:8] if any(w in p for w in WORDS)]  # up to "quixote, "
    assert not leaked, pieces
    # a start of the secret that turns out not to be one is passed on, not lost
    assert "Tr0ub4dor plover is" in "".join(pieces[8:])
    assert stream.feed("no secret here ") == "no secret here "


def test_stream_redactor_with_no_secret_holds_nothing() -> None:
    stream = StreamRedactor(Redactor())
    assert [stream.feed(d) for d in _deltas(SPOKEN)] == _deltas(SPOKEN)
    assert stream.flush() == ""


async def test_the_journal_and_snapshot_never_hold_the_secret_in_pieces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    redactor = Redactor()
    redactor.add([SECRET], anywhere=False)  # a .env value: hidden in free text
    monkeypatch.setattr(lkmon.redact, "_default", redactor)
    seen: list[Event] = [SessionStarted(ts=1.0, agent_file="a.py", models={}, input="text",
                                        output="null", lkmon_version="0")]
    bridge = Bridge(AgentSession(), seen.append)
    for delta in _deltas(SPOKEN):  # what LiveKit's TranscriptSynchronizer calls
        await bridge.transcript.capture_text(delta)
    bridge.transcript.flush()
    pieces = [e.text for e in seen if isinstance(e, AgentTranscript)]
    assert "".join(pieces).startswith("Sure. The passphrase is [REDACTED], and")

    journal = JournalWriter(tmp_path / "s.journal.jsonl")
    for e in seen:
        journal.write(e)
    journal.close()
    model = SessionModel()
    model.apply_many(seen)
    snapshot = write_snapshot(model, tmp_path / "s.json")
    for path in (journal.path, snapshot):
        text = path.read_text()
        assert "[REDACTED]" in text, path
        # each written delta before the redaction holds no word of the secret
        first = text.index("[REDACTED]")
        assert not any(w in text[:first] for w in WORDS), (path, text[:first])
