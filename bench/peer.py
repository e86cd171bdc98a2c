"""The peer: LiveKit's own console in text mode against ``lkmon run --input text`` (item 6).

The same agent (``agent_entry.py``, local models) gets the same typed messages, one after the
other, each once the agent has been quiet for 1 s, in four arms that run in turn (the order
rotates every round, so drift on this shared machine falls on every arm):

    console: LiveKit's console, ``python agent_entry.py console --text`` (livekit-agents 1.8.9's
        deprecated Rich console, ``livekit/agents/cli/_legacy.py``; the Go ``lk agent console``
        it points to is not installed and needs a LiveKit server). It runs in a 120x40 pty; the
        messages are typed at its prompt and its replies read off the screen. Its per-turn TTFT is
        the ``llm_ttft: N ms`` it prints under each reply (assistant ``ChatMessage.metrics
        ['llm_node_ttft']``). In text mode the console has no audio output, so no TTS runs.
    lkmon: ``lkmon run agent_entry.py --models local --input text --headless --output null``,
        the messages piped on stdin; TTFT from the snapshot (``turns[].metrics.llm_ttft``, the same
        ``llm_node_ttft``). lkmon always gives the session an audio output, so TTS runs and the
        replies play in real time into the null sink.
    bare_none / bare_null: ``bench/_bare.py``, the same agent in a plain ``AgentSession`` with no
        tool around it, without audio output (the console's workload) and with the null sink
        (lkmon's workload).

Every arm runs under ``bench._driver``, whose probe samples the process CPU time; the CPU of a
turn is the process CPU between the first message sent and the last reply, divided by the turns.

Figures (``peer.*``), per round then the median over rounds with the spread:
    llm_ttft_ratio_lkmon_vs_console: median per-turn TTFT, lkmon / console (target <= 1.0-ish:
        lkmon adds no cost).
    cpu_per_turn_ratio_lkmon_vs_console: CPU per turn, lkmon / console (different workloads: TTS).
    cpu_per_turn_ratio_lkmon_vs_bare_null: the same workload with and without lkmon.
    cpu_per_turn_ratio_console_vs_bare_none: the same workload with and without the console.
Sizes: 5 messages x 3 rounds; ``--quick``: 2 messages x 1 round.
"""

from __future__ import annotations

import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._pty import Terminal
from bench._sessions import REPO, driver_argv, median_or_nan, read_events, store_args
from bench.probe import cpu_between

NAME = "peer"
MESSAGES = [
    "What is the capital of France?",
    "Tell me a fun fact about cats.",
    "How do I boil an egg?",
    "Give me a tip for sleeping well.",
    "What is your favourite colour?",
]
GAP = 1.0
ARMS = ["console", "lkmon", "bare_null", "bare_none"]
TTFT_RE = re.compile(r"llm_ttft: ([\d.]+)ms")
LOCAL = {"LKMON_MODELS": "local"}


def _main_probe(probe: dict[str, Any]) -> dict[str, Any]:
    probes = probe.get("probes") or []
    if not probes:
        raise RuntimeError("the driver recorded no event loop")
    return max(probes, key=lambda p: len(p["lags"]))


def _cpu(probe: dict[str, Any], since: float, until: float) -> float:
    return cpu_between(_main_probe(probe)["cpu"], since, until)


def run_console(workdir: Path, messages: list[str], timeout: float = 120.0) -> dict[str, Any]:
    """LiveKit's console in text mode, in a pty: type each message, read each reply.

    Raises:
        RuntimeError: the console did not start, answer, or write its results.
    """
    out = workdir / "probe.json"
    term = Terminal(driver_argv(out, ["console", "--text"], script="agent_entry.py"),
                    cwd=REPO, env=LOCAL, size=(120, 40))
    # the greeting: its reply is logged (conversation_item_added, role assistant) at DEBUG
    greeted = term.wait_for(lambda s: '"role": "assistant"' in s and "Type to talk" in s,
                            timeout=timeout)
    if not greeted:
        term.signal()
        term.wait(10)
        raise RuntimeError("console: no greeting/prompt:\n" + term.text()[-1500:])
    turns = []
    for text in messages:
        time.sleep(GAP)
        before = term.count(TTFT_RE.pattern)
        sent = time.time()
        term.send(text + "\n")
        if not term.wait_for(lambda s, b=before: len(TTFT_RE.findall(s)) > b, timeout=60):
            break
        turns.append({"sent": sent, "replied": time.time()})
        term.wait_for(lambda s: s.rstrip().endswith("for shortcuts") or "Type to talk" in
                      s[-400:], timeout=10)
    term.signal()
    status = term.wait(timeout=30)
    if not out.exists():
        raise RuntimeError(f"console: no results (exit {status}):\n" + term.text()[-800:])
    ttft = [float(v) / 1000.0 for v in TTFT_RE.findall(term.text())]
    return {"turns": turns, "ttft": ttft[: len(turns)], "probe": json.loads(out.read_text()),
            "cpu_total": term.cpu_seconds or 0.0}


def _run_piped(argv: list[str], stdin: str, timeout: float) -> tuple[int, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(argv, cwd=REPO, input=stdin, capture_output=True, text=True,
                          timeout=timeout, check=False, env=None)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc.returncode, cpu, proc.stdout + proc.stderr


def run_lkmon(workdir: Path, messages: list[str], timeout: float = 300.0) -> dict[str, Any]:
    """``lkmon run --input text --headless`` with the messages piped on stdin.

    Raises:
        RuntimeError: lkmon failed.
    """
    out = workdir / "probe.json"
    journal = workdir / "journal.jsonl"
    export = workdir / "snapshot.json"
    args = ["run", *store_args(["agent_entry.py", "--models", "local", "--input", "text",
                                "--headless", "--output", "null"], workdir),
            "--journal", str(journal), "--export", str(export)]
    code, cpu, output = _run_piped(driver_argv(out, args), "\n".join(messages) + "\n", timeout)
    if code != 0 or not out.exists() or not export.exists():
        raise RuntimeError(f"lkmon exited {code}:\n{output[-800:]}")
    snapshot = json.loads(export.read_text())
    events = read_events(journal)
    users = [float(e["ts"]) for e in events if e.get("type") == "conversation_item_added"
             and e.get("role") == "user"]
    replies = [float(e["ts"]) for e in events if e.get("type") == "conversation_item_added"
               and e.get("role") == "assistant"]
    ttft = [t["metrics"]["llm_ttft"] for t in snapshot["turns"]
            if t.get("user_text") is not None and t["metrics"].get("llm_ttft") is not None]
    turns = [{"sent": users[i], "replied": next((r for r in replies if r > users[i]), users[i])}
             for i in range(len(users))]
    return {"turns": turns, "ttft": ttft, "probe": json.loads(out.read_text()),
            "cpu_total": cpu}


def run_bare(workdir: Path, messages: list[str], audio: str,
             timeout: float = 300.0) -> dict[str, Any]:
    """``bench/_bare.py``: the agent alone, with (``null``) or without (``none``) audio output.

    Raises:
        RuntimeError: the script failed.
    """
    out = workdir / "probe.json"
    turns_out = workdir / "turns.json"
    args = ["--audio", audio, "--gap", str(GAP), "--out", str(turns_out), *messages]
    code, cpu, output = _run_piped(driver_argv(out, args, script="bench/_bare.py"), "", timeout)
    if code != 0 or not turns_out.exists():
        raise RuntimeError(f"bare ({audio}) exited {code}:\n{output[-800:]}")
    data = json.loads(turns_out.read_text())
    return {"turns": data["turns"], "ttft": [t["llm_ttft"] for t in data["turns"]
                                             if t["llm_ttft"] is not None],
            "probe": json.loads(out.read_text()), "cpu_total": cpu}


def measure(result: dict[str, Any]) -> dict[str, float]:
    """TTFT median, CPU per turn (first message to last reply) and process CPU of one run."""
    turns = result["turns"]
    if not turns:
        raise RuntimeError("no turn was answered")
    since, until = turns[0]["sent"], turns[-1]["replied"]
    cpu = _cpu(result["probe"], since, until)
    return {
        "ttft_p50": median_or_nan(result["ttft"]),
        "turns": len(turns),
        "cpu_per_turn": cpu / len(turns),
        "seconds_per_turn": (until - since) / len(turns),
        "cpu_total": result["cpu_total"],
    }


def one(arm: str, workdir: Path, messages: list[str]) -> dict[str, Any]:
    """Run one arm once."""
    workdir.mkdir(parents=True, exist_ok=True)
    if arm == "console":
        return run_console(workdir, messages)
    if arm == "lkmon":
        return run_lkmon(workdir, messages)
    return run_bare(workdir, messages, arm.removeprefix("bare_"))


def run(quick: bool = False) -> None:
    """Print the ``peer.*`` figures."""
    from bench.common import figure

    messages = MESSAGES[:2] if quick else MESSAGES
    rounds = 1 if quick else 3
    res: dict[str, list[dict[str, float]]] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory(prefix="lkmon-bench-peer-") as tmp:
        for i in range(rounds):
            order = ARMS[i % len(ARMS):] + ARMS[: i % len(ARMS)]
            for arm in order:
                m = measure(one(arm, Path(tmp) / f"{i}-{arm}", messages))
                if m["turns"] < len(messages):
                    print(f"# {NAME}: {arm} round {i}: only {m['turns']} of {len(messages)} "
                          "turns answered", flush=True)
                res[arm].append(m)
                print(f"# {NAME} round {i} {arm}: " + ", ".join(
                    f"{k}={v:.4g}" for k, v in m.items()), flush=True)

    def col(arm: str, key: str) -> list[float]:
        return [m[key] for m in res[arm]]

    def ratios(a: str, b: str, key: str) -> list[float]:
        return [x / y for x, y in zip(col(a, key), col(b, key), strict=True) if y]

    print(f"# {NAME}: {len(messages)} messages x {rounds} rounds; the console runs no TTS in "
          "text mode, lkmon and bare_null do", flush=True)
    for arm in ARMS:
        figure(NAME, f"llm_ttft_p50_{arm}", col(arm, "ttft_p50"), "s")
    figure(NAME, "llm_ttft_ratio_lkmon_vs_console", ratios("lkmon", "console", "ttft_p50"), "x",
           "~1: no added cost")
    figure(NAME, "llm_ttft_ratio_lkmon_vs_bare_null", ratios("lkmon", "bare_null", "ttft_p50"),
           "x")
    for arm in ARMS:
        figure(NAME, f"cpu_per_turn_{arm}", col(arm, "cpu_per_turn"), "CPU s")
    figure(NAME, "cpu_per_turn_ratio_lkmon_vs_console",
           ratios("lkmon", "console", "cpu_per_turn"), "x")
    figure(NAME, "cpu_per_turn_ratio_lkmon_vs_bare_null",
           ratios("lkmon", "bare_null", "cpu_per_turn"), "x", "~1: no added cost")
    figure(NAME, "cpu_per_turn_ratio_console_vs_bare_none",
           ratios("console", "bare_none", "cpu_per_turn"), "x")
    for arm in ARMS:
        figure(NAME, f"process_cpu_{arm}", col(arm, "cpu_total"), "CPU s")
    figure(NAME, "process_cpu_ratio_lkmon_vs_bare_null",
           ratios("lkmon", "bare_null", "cpu_total"), "x")
    figure(NAME, "process_cpu_ratio_console_vs_bare_none",
           ratios("console", "bare_none", "cpu_total"), "x")
    print(f"# {NAME}: seconds per turn: " + ", ".join(
        f"{arm} {statistics.median(col(arm, 'seconds_per_turn')):.2f}" for arm in ARMS),
        flush=True)


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
