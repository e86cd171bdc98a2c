"""WAV input that lkmon 0.1 took, hung on or loaded whole (issue 11, point 17): each bad one is a
clear ``lkmon: error:`` line and exit 2 before the session starts; an odd but valid one plays.

In-process (``lkmon.cli.main``) with real files: a header saying 2,147,483,647 Hz (0.1
resampled it to 0 samples and waited 30 s), a 1-sample WAV, a float WAV holding NaN (garbage
played), a FIFO named ``.wav`` (0.1 hung forever), more audio in all than a session takes (41
ten-minute files loaded 1.1 GB before the session started), a valid WAV whose name is not UTF-8
(0.1: "not a readable WAV"); and a second ``AgentSession`` in one entrypoint (0.1: silently not
monitored).
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from livekit.agents import Agent, AgentSession
from test_cli_bad_input import SCRIPTED, WAV, assert_one_line_error, lkmon

from lkmon.agent.audio import recordings
from lkmon.agent.audio.recordings import expand_wav_paths, load_recordings
from lkmon.agent.host.jobctx import take_over_sessions


def _wav(path: Path, samples: Any, rate: int = 16000, subtype: str = "PCM_16") -> Path:
    sf.write(str(path), samples, rate, subtype=subtype)
    return path


def _huge_rate(path: Path) -> Path:
    """A valid WAV whose header says 2,147,483,647 Hz (and the byte rate to match)."""
    _wav(path, np.zeros(16000, dtype=np.int16))
    raw = bytearray(path.read_bytes())
    assert raw[12:16] == b"fmt "
    raw[24:28] = struct.pack("<I", 2_147_483_647)
    raw[28:32] = struct.pack("<I", 2_147_483_647 * 2 % 2**32)
    path.write_bytes(bytes(raw))
    return path


def _nan_float(path: Path) -> Path:
    samples = np.zeros(16000, dtype=np.float32)
    samples[100:200] = np.nan
    return _wav(path, samples, subtype="FLOAT")


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


BAD = {
    "2,147,483,647 Hz": (_huge_rate, "unsupported sample rate in WAV file"),
    "1 sample": (lambda p: _wav(p, np.zeros(1, dtype=np.int16)), "WAV file too short"),
    "float with NaN": (_nan_float, "holds samples that are not numbers (NaN or infinity)"),
    "FIFO named .wav": (_fifo, "not a regular file"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_a_bad_wav_is_one_line_before_the_session(tmp_path: Path, case: str) -> None:
    make, expected = BAD[case]
    path = make(tmp_path / "input.wav")
    result = lkmon(["run", SCRIPTED, "--headless", "--input", str(path)], tmp_path)
    assert_one_line_error(result, expected)
    assert str(path) in result.stderr


@pytest.mark.timeout(60)
def test_a_fifo_in_a_folder_is_not_taken(tmp_path: Path) -> None:
    _fifo(tmp_path / "pipe.wav")
    _wav(tmp_path / "a.wav", np.zeros(16000, dtype=np.int16))
    assert expand_wav_paths([tmp_path]) == [tmp_path / "a.wav"]


def test_the_total_is_checked_from_the_headers_before_any_file_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """41 ten-minute files are 1.1 GB loaded: the cap is an hour in all (shrunk here to 2 s, so
    that the files stay small), refused before one sample is read."""
    files = [_wav(tmp_path / f"{i}.wav", np.zeros(16000, dtype=np.int16)) for i in range(3)]
    monkeypatch.setattr(recordings, "MAX_TOTAL_SECONDS", 2.0)
    loaded: list[Path] = []
    real = recordings.load_recording
    monkeypatch.setattr(recordings, "load_recording",
                        lambda p, r=16000: loaded.append(p) or real(p, r))
    result = lkmon(["run", SCRIPTED, "--headless", "--input", str(tmp_path)], tmp_path)
    assert_one_line_error(result, "WAV input too long in total: 0.0 h in 3 files")
    assert loaded == []
    assert len(load_recordings(files[:2])) == 2


def test_a_valid_wav_whose_name_is_not_utf8_plays(tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9 \xff.wav")  # a Latin-1 name: lone surrogates in Python
    path = tmp_path / name
    path.write_bytes(WAV.read_bytes())
    [recording] = load_recordings(expand_wav_paths([tmp_path]))
    assert recording.path == path and recording.duration > 1.0


async def test_a_second_agent_session_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    taken: list[Any] = []
    started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    first, second = AgentSession(), AgentSession()
    with caplog.at_level(logging.WARNING, logger="lkmon.runner"):
        with take_over_sessions(lambda session, agent, audio: taken.append(session), started):
            try:
                await first.start(Agent(instructions="one"))
                await second.start(Agent(instructions="two"))
            finally:
                await first.aclose()
                await second.aclose()
    assert taken == [first] and started.done()
    warnings = [r.getMessage() for r in caplog.records if "second AgentSession" in r.getMessage()]
    assert len(warnings) == 1, caplog.records
    assert "monitors only the first" in warnings[0]
