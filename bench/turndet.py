"""Turn detection on the offline pipeline (issue 13 part 4): how soon the default agent decides
that the user is done, and how often it decides too soon.

Each arm is one ``lkmon run ARM --headless --models local --output null`` (its own process, the
real default agent with its settings replaced by the arm's ``TurnTaking``; a real-time null
sink), on two sets of recordings built from the shared clips:

    plain: six clips as they are (one utterance each, no pause inside);
    pauses: six utterances with a known pause inside: five clips cut between two words (at the
        quietest 10 ms within 0.12 s of the boundary) with 0.35-0.8 s of silence inserted, and
        librivox_0880 + 0.6 s + librivox_0930 (two sentences, one utterance).

The caller plays one recording per turn and waits for the reply, so an interrupted reply is a
reply that cut in early (it played in the pause and the user went on). Figures per arm and set,
from the snapshot: EOU delay p50/p95 (``turns[].metrics.eou_delay``), transcription delay p50,
e2e latency p50/p95, heard gap p50 (``turns[].metrics.heard_gap`` when lkmon has it),
``early_cuts`` (replies interrupted; ``turns[].interruption == "cut_in_early"`` when lkmon has
it), ``split`` (user turns beyond one per recording: the pause ended the turn, whether or not a
reply played). Targets on 2 cores: EOU p50 <= 0.35 s with no more early cuts than the VAD arm,
e2e p50 <= 0.6 s.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from bench._sessions import REPO, audio_dir
from bench.common import figure

NAME = "turndet"
RATE = 16000
PLAIN = ["librivox_sense_0870", "librivox_sense_0890", "librivox_sense_0920",
         "librivox_sense_0930", "goforward", "something"]
CUTS: list[tuple[str, float, float]] = [
    # (clip, seconds of the word boundary, seconds of silence inserted)
    ("librivox_sense_0870", 3.48, 0.6),  # "... leisure to consider | how much there might ..."
    ("librivox_sense_0890", 2.28, 0.5),  # "unless to be rather cold hearted | and rather ..."
    ("librivox_sense_0920", 2.62, 0.8),  # "had he married a more amiable woman | he might ..."
    ("librivox_sense_0930", 1.40, 0.4),  # "he might even have been | made amiable himself"
    ("librivox_sense_0880", 1.22, 0.35),  # "he was not | an ill disposed young man"
]
ARMS: dict[str, dict[str, Any]] = {
    # today's default agent: the VAD alone, LiveKit's default delays
    "vad": dict(detector=False, vad_silence=0.30, stt_silence=None, min_delay=0.5, max_delay=3.0),
    # the turn detector, Whisper still after the session VAD's end of speech
    "detector": dict(detector=True, vad_silence=0.30, stt_silence=None, min_delay=0.3,
                     max_delay=1.5),
    # the turn detector, Whisper on its own shorter silence window
    "detector_stt015": dict(detector=True, vad_silence=0.30, stt_silence=0.15, min_delay=0.3,
                            max_delay=1.5),
}


def quietest(samples: np.ndarray, at: float, within: float = 0.12) -> int:
    """Sample index of the quietest 10 ms frame within ``within`` s of ``at`` s."""
    hop = RATE // 100
    lo = max(0, int((at - within) * RATE))
    hi = min(len(samples) - hop, int((at + within) * RATE))
    starts = range(lo, max(lo + 1, hi), hop)
    energy = [float(np.mean(samples[s : s + hop].astype(np.float64) ** 2)) for s in starts]
    return starts[int(np.argmin(energy))] + hop // 2


def build_recordings(out: Path) -> dict[str, list[Path]]:
    """Write the two sets' WAV files under ``out`` (16 kHz mono int16); set name -> paths."""
    src = audio_dir()

    def clip(name: str) -> np.ndarray:
        pcm, rate = sf.read(src / f"{name}.wav", dtype="int16")
        assert rate == RATE, (name, rate)
        return pcm

    def write(name: str, pcm: np.ndarray) -> Path:
        path = out / f"{name}.wav"
        sf.write(path, pcm, RATE, subtype="PCM_16")
        return path

    (out / "plain").mkdir(parents=True, exist_ok=True)
    (out / "pauses").mkdir(parents=True, exist_ok=True)
    plain = [write(f"plain/{i}_{n}", clip(n)) for i, n in enumerate(PLAIN)]
    pauses = []
    for i, (name, at, pause) in enumerate(CUTS):
        pcm = clip(name)
        cut = quietest(pcm, at)
        silence = np.zeros(int(pause * RATE), dtype=np.int16)
        pauses.append(write(f"pauses/{i}_{name}", np.concatenate([pcm[:cut], silence, pcm[cut:]])))
    joined = np.concatenate([clip("librivox_sense_0880"), np.zeros(int(0.6 * RATE), np.int16),
                             clip("librivox_sense_0930")])
    pauses.append(write(f"pauses/{len(CUTS)}_0880_0930", joined))
    return {"plain": plain, "pauses": pauses}


def arm_file(out: Path, arm: str) -> Path:
    """An agent file: the default agent with the arm's turn-taking."""
    path = out / f"agent_{arm}.py"
    path.write_text(
        "import lkmon.examples.agent_entry as base\n"
        f"base.LOCAL_TURN_TAKING = base.TurnTaking(**{ARMS[arm]!r})\n"
        "from lkmon.examples.agent_entry import Assistant, server  # noqa: E402,F401\n"
    )
    return path


def run_arm(out: Path, arm: str, inputs: list[Path], label: str) -> dict[str, Any]:
    """One headless session; returns the snapshot (dict).

    Raises:
        RuntimeError: lkmon failed or wrote no snapshot.
    """
    snap = out / f"{arm}-{label}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    env.pop("LKMON_TURN_DETECTION", None)
    env["PYTHONPATH"] = str(REPO)
    argv = [sys.executable, "-m", "lkmon", "run", str(arm_file(out, arm)), "--headless",
            "--models", "local", "--output", "null", "--no-db", "--export", str(snap),
            "--input", *map(str, inputs)]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode not in (0, 1) or not snap.exists():
        raise RuntimeError(f"{arm}/{label}: exit {proc.returncode}: {proc.stderr[-800:]}")
    return json.loads(snap.read_text())


def p50(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def p95(values: list[float]) -> float | None:
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def summarise(snapshot: dict[str, Any], recordings: int) -> dict[str, Any]:
    """The figures of one session (seconds; counts)."""
    spoken = [t for t in snapshot["turns"]
              if t.get("user_text") and not t.get("typed") and not t.get("greeting")]

    def values(key: str) -> list[float]:
        return [t["metrics"][key] for t in spoken if t["metrics"].get(key) is not None]

    has_class = any("interruption" in t for t in snapshot["turns"])
    early = sum(1 for t in spoken if (t.get("interruption") == "cut_in_early" if has_class
                                      else t.get("interrupted")))
    return {
        "turns": len(spoken),
        "eou_p50": p50(values("eou_delay")), "eou_p95": p95(values("eou_delay")),
        "transcription_p50": p50(values("transcription_delay")),
        "e2e_p50": p50(values("e2e_latency")), "e2e_p95": p95(values("e2e_latency")),
        "ttft_p50": p50(values("llm_ttft")), "ttfb_p50": p50(values("tts_ttfb")),
        "heard_gap_p50": p50(values("heard_gap")),
        "early_cuts": early,
        "split": max(0, len(spoken) - recordings),
    }


UNITS = {"turns": "turns", "early_cuts": "replies", "split": "turns"}


def run(quick: bool, arms: list[str] | None = None, keep: Path | None = None) -> None:
    """Every arm on both sets (``quick``: the first arm and two recordings of each set).

    ``keep``: write the recordings, agent files and snapshots there instead of a temporary
    folder that is removed.
    """
    names = arms or (list(ARMS)[:1] if quick else list(ARMS))
    with tempfile.TemporaryDirectory(prefix="lkmon-bench-turndet-") as tmp:
        out = keep or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        sets = build_recordings(out)
        for arm in names:
            for label, inputs in sets.items():
                inputs = inputs[:2] if quick else inputs
                fig = summarise(run_arm(out, arm, inputs, label), len(inputs))
                for key, value in fig.items():
                    if value is not None:
                        figure(NAME, f"{arm}.{label}.{key}", value, UNITS.get(key, "s"))


if __name__ == "__main__":  # python -m bench.turndet [--quick] [--keep DIR] [ARM...]
    args = sys.argv[1:]
    keep = Path(args[args.index("--keep") + 1]) if "--keep" in args else None
    run(quick="--quick" in args, arms=[a for a in args if a in ARMS] or None, keep=keep)
