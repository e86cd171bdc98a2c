"""Turn detection on the offline pipeline (issue 13 part 4): how soon the default agent decides
that the user is done, and how often it decides too soon.

Each arm is one ``lkmon run ARM --headless --models local --output null`` (its own process, the
real default agent with its settings replaced by the arm's ``TurnTaking``; a real-time null
sink), on two sets of recordings built from the shared clips:

    plain: six clips as they are (one utterance each, no pause inside);
    pauses: six utterances with a known pause inside: five clips cut between two words (at the
        quietest 10 ms within 0.12 s of the boundary) with 0.35-0.8 s of silence inserted, and
        librivox_0880 + 0.6 s + librivox_0930 (two sentences, one utterance).

The caller plays one recording per turn and waits for the reply (``--gap`` 1 s). Figures per
arm and set, pooled over ``LKMON_BENCH_ROUNDS`` rounds (default 1; arms alternate in order), from
the snapshots: EOU delay p50/p95 (``turns[].metrics.eou_delay``), transcription delay p50, e2e
latency p50/p95, LLM TTFT and TTS TTFB p50, heard gap p50 (``turns[].metrics.heard_gap``);
counts: ``early_cuts`` (``turns[].interruption == "cut_in_early"``: a reply that started in the
pause while the user went on), ``interrupted`` (replies interrupted, any class), ``split`` (user
turns beyond one per recording: a pause ended the turn, whether or not its reply played),
``unlikely`` (turns the detector's committed prediction found unlikely to be over, which wait the
max delay); then each arm's EOU and e2e p50 over the ``vad`` arm's. Targets on 2 cores: EOU p50
<= 0.35 s with no more early cuts than the ``vad`` arm (the default agent before), e2e p50 <= 0.6
s.

``python -m bench.turndet [--quick] [--keep DIR] [ARM...]`` runs some arms and keeps the files.
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
    # the default agent before: the VAD alone, LiveKit's default delays
    "vad": dict(detector=False, vad_silence=0.30, stt_silence=None, min_delay=0.5, max_delay=3.0),
    # the VAD alone, Whisper on its own 0.15 s window, a short min delay: fast, unguarded
    "vad_stt015": dict(detector=False, vad_silence=0.30, stt_silence=0.15, min_delay=0.3,
                       max_delay=3.0),
    # the turn detector, Whisper after the session VAD's end of speech
    "detector": dict(detector=True, vad_silence=0.30, stt_silence=None, min_delay=0.3,
                     max_delay=1.5),
    # the turn detector and Whisper's own 0.15 s window: agent_entry.LOCAL_TURN_TAKING
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
    snap.unlink(missing_ok=True)
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


FIGURES = ("eou_delay", "transcription_delay", "e2e_latency", "llm_ttft", "tts_ttfb", "heard_gap")


def turn_values(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The spoken turns' figures (seconds, lists over turns) and counts of one session."""
    spoken = [t for t in snapshot["turns"]
              if t.get("user_text") and not t.get("typed") and not t.get("greeting")]
    out: dict[str, Any] = {
        key: [t["metrics"][key] for t in spoken if t["metrics"].get(key) is not None]
        for key in FIGURES
    }
    out["turns"] = len(spoken)
    out["early_cuts"] = sum(1 for t in spoken if t.get("interruption") == "cut_in_early")
    out["interrupted"] = sum(1 for t in spoken if t.get("interrupted"))
    out["unlikely"] = sum(
        1 for t in spoken for pr in ((t.get("eou_parts") or {}).get("predictions") or [])
        if pr.get("committed") and pr.get("probability") is not None
        and pr.get("threshold") is not None and pr["probability"] < pr["threshold"]
    )
    return out


def pool(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several sessions of one arm and set: lists joined, counts added."""
    out: dict[str, Any] = {}
    for r in runs:
        for key, value in r.items():
            out[key] = out.get(key, [] if isinstance(value, list) else 0) + value
    return out


def report(key: str, v: dict[str, Any], recordings: int) -> dict[str, float | None]:
    """Print one arm and set's figures; returns them by name."""
    fig: dict[str, float | None] = {
        "eou_p50": p50(v["eou_delay"]), "eou_p95": p95(v["eou_delay"]),
        "transcription_p50": p50(v["transcription_delay"]),
        "e2e_p50": p50(v["e2e_latency"]), "e2e_p95": p95(v["e2e_latency"]),
        "ttft_p50": p50(v["llm_ttft"]), "ttfb_p50": p50(v["tts_ttfb"]),
        "heard_gap_p50": p50(v["heard_gap"]),
    }
    for name, value in fig.items():
        if value is not None:
            figure(NAME, f"{key}.{name}", value, "s")
    counts = {"turns": v["turns"], "early_cuts": v["early_cuts"],
              "interrupted": v["interrupted"], "unlikely": v["unlikely"],
              "split": max(0, v["turns"] - recordings)}
    for name, value in counts.items():
        figure(NAME, f"{key}.{name}", value, "turns")
    return {**fig, **{k: float(c) for k, c in counts.items()}}


def run(quick: bool, arms: list[str] | None = None, keep: Path | None = None) -> None:
    """Every arm on both sets, ``LKMON_BENCH_ROUNDS`` rounds (default 1), the arms' order
    reversed every other round; figures pooled over the rounds; then each arm's EOU and e2e
    p50 against the ``vad`` arm's (ratios). ``quick``: the first arm, two recordings of each set.

    ``keep``: write the recordings, agent files and snapshots there instead of a temporary
    folder that is removed.
    """
    names = arms or (list(ARMS)[:1] if quick else list(ARMS))
    rounds = 1 if quick else int(os.environ.get("LKMON_BENCH_ROUNDS", "1"))
    with tempfile.TemporaryDirectory(prefix="lkmon-bench-turndet-") as tmp:
        out = keep or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        sets = {label: (paths[:2] if quick else paths)
                for label, paths in build_recordings(out).items()}
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        loads = []
        for r in range(rounds):
            for arm in names if r % 2 == 0 else names[::-1]:
                for label, inputs in sets.items():
                    loads.append(os.getloadavg()[0])
                    snapshot = run_arm(out, arm, inputs, f"{label}-{r}")
                    runs.setdefault((arm, label), []).append(turn_values(snapshot))
        loads.append(os.getloadavg()[0])
        figure(NAME, "load_average_1min", loads, "")
        results = {key: report(f"{key[0]}.{key[1]}", pool(v), len(sets[key[1]]) * len(v))
                   for key, v in runs.items()}
        for (arm, label), fig in results.items():
            base = results.get(("vad", label))
            if arm == "vad" or base is None:
                continue
            for name in ("eou_p50", "e2e_p50"):
                if fig[name] and base[name]:
                    figure(NAME, f"{arm}.{label}.{name}_vs_vad", fig[name] / base[name], "x")


if __name__ == "__main__":  # python -m bench.turndet [--quick] [--keep DIR] [ARM...]
    args = sys.argv[1:]
    keep = Path(args[args.index("--keep") + 1]) if "--keep" in args else None
    run(quick="--quick" in args, arms=[a for a in args if a in ARMS] or None, keep=keep)
