"""A seeded mutation fuzzer of the readers (issue 11, point 10).

A real snapshot (the one lkmon writes of tests/data/real_session_0870) and the real journal of
that session are mutated: truncated, bits flipped, bytes of invalid UTF-8 put in, a value
replaced by one of the wrong type, NaN or Infinity, a huge number, deep nesting or a lone
surrogate, keys dropped, journal lines dropped, doubled or swapped. Each case must end as a
clean load (which lkmon then writes and reads back) or as one ``SnapshotError`` line naming the
file: never another exception. Case ``N`` of a run is ``random.Random(N)``, so a failure names
the seed that reproduces it.

The default lane runs a few hundred cases in-process (about a second); ``-m slow`` runs
thousands. One case runs the real console script, to see the error is one line there too.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_cli_bad_input import assert_one_line_error, lkmon_process

from lkmon.store.restore import SnapshotError, load_session, parse_snapshot
from lkmon.store.snapshot import dump_snapshot, to_snapshot, write_snapshot

DATA = Path(__file__).resolve().parent / "data"
JOURNAL = DATA / "real_session_0870.journal.jsonl"

DEEP = "\x00deep\x00"
"""Placeholder for a nested list too deep to build with ``json.dumps``."""
BAD_UTF8 = "\x00bad utf-8\x00"
"""Placeholder for bytes that are not UTF-8, put in after dumping."""

ODD_VALUES: list[Any] = [
    "abc", "", [], {}, [1, "a"], {"a": 1}, True, False, None, 0, -1, 1.5,
    float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 5e-324, -0.0,
    10**400, -(10**30), 2**63, -(2**63) - 1,
    "\udcff", "bad\udcffname", "\ud800", "\x1b]0;title\x07", "é" * 50,
    DEEP, BAD_UTF8,
]
"""Values put where a snapshot or event field was: wrong types, non-finite and huge numbers,
lone surrogates, control characters, deep nesting, invalid UTF-8."""


def _dump(data: Any, rng: random.Random) -> bytes:
    text = json.dumps(data, ensure_ascii=rng.random() < 0.5)  # NaN, Infinity as literals
    depth = rng.choice([150, 201, 1_100, 50_000])
    text = text.replace(json.dumps(DEEP), "[" * depth + "]" * depth)
    raw = text.encode("utf-8", "surrogatepass")
    return raw.replace(json.dumps(BAD_UTF8).encode(), b'"\xff\xfe\xc3"')


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _mutate_tree(data: Any, rng: random.Random) -> Any:
    """``data`` (parsed JSON) with one node replaced by an odd value, or a key dropped."""
    paths = _paths(data)
    path = rng.choice(paths[1:] or paths)
    if not path:
        return rng.choice(ODD_VALUES)
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    if isinstance(parent, dict) and rng.random() < 0.2:
        del parent[path[-1]]
    else:
        parent[path[-1]] = rng.choice(ODD_VALUES)
    return data


def _bytes_mutation(raw: bytes, rng: random.Random) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:  # truncation
        return raw[: rng.randrange(len(raw))]
    if kind == 1:  # bit flips
        b = bytearray(raw)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return bytes(b)
    at = rng.randrange(len(raw))
    if kind == 2:  # invalid UTF-8 (or a BOM) put in
        odd = rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xef\xbb\xbf"])
        return raw[:at] + odd + raw[at:]
    return raw[:at] + rng.choice([b"{", b"[", b'"', b"\\", b"\n", b",", b"}", b""]) + raw[
        at + rng.randint(0, 40):
    ]


def mutate_snapshot(raw: bytes, rng: random.Random) -> bytes:
    if rng.random() < 0.4:
        return _bytes_mutation(raw, rng)
    data = json.loads(raw)
    for _ in range(rng.randint(1, 3)):
        data = _mutate_tree(data, rng)
    return _dump(data, rng)


def mutate_journal(raw: bytes, rng: random.Random) -> bytes:
    if rng.random() < 0.3:
        return _bytes_mutation(raw, rng)
    lines = raw.rstrip(b"\n").split(b"\n")
    kind = rng.randrange(3)
    i = rng.randrange(len(lines))
    if kind == 0:  # one line's event mutated
        lines[i] = _dump(_mutate_tree(json.loads(lines[i]), rng), rng)
    elif kind == 1:  # lines dropped, doubled or swapped (the header too)
        j = rng.randrange(len(lines))
        op = rng.randrange(3)
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(j, lines[i])
        else:
            lines[i], lines[j] = lines[j], lines[i]
    else:  # a whole line replaced by an odd JSON value
        lines[i] = _dump(rng.choice(ODD_VALUES), rng)
    return b"\n".join(lines) + rng.choice([b"\n", b"", b"\r\n"])


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    snap = tmp_path_factory.mktemp("seed") / "real.json"
    write_snapshot(load_session(JOURNAL), snap)
    return {".json": snap.read_bytes(), ".journal.jsonl": JOURNAL.read_bytes()}


def check(path: Path) -> str:
    """Load ``path``: ``"error"`` (one ``SnapshotError`` line naming it) or ``"loaded"`` (and
    the snapshot lkmon writes of it reads back). Any other exception propagates."""
    try:
        model = load_session(path)
    except SnapshotError as e:
        msg = str(e)
        assert msg and "\n" not in msg and str(path) in msg, msg
        return "error"
    parse_snapshot(dump_snapshot(to_snapshot(model)), where="re-written")
    return "loaded"


def run_cases(tmp_path: Path, seeds: dict[str, bytes], cases: range) -> Counter[str]:
    mutators: dict[str, Callable[[bytes, random.Random], bytes]] = {
        ".json": mutate_snapshot,
        ".journal.jsonl": mutate_journal,
    }
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    for n in cases:
        rng = random.Random(n)
        suffix = ".json" if n % 2 == 0 else ".journal.jsonl"
        raw = mutators[suffix](seeds[suffix], rng)
        path = tmp_path / f"case{n}{suffix}"
        path.write_bytes(raw)
        try:
            outcomes[f"{suffix} {check(path)}"] += 1
            path.unlink()
        except Exception as e:  # the finding: kept on disk for a look
            failures.append(f"case {n} ({path}): {type(e).__name__}: {str(e)[:200]}")
    assert not failures, "\n".join(failures[:20]) + f"\n({len(failures)} failures)"
    return outcomes


def test_fuzz_readers(tmp_path: Path, seeds: dict[str, bytes]) -> None:
    outcomes = run_cases(tmp_path, seeds, range(400))
    print(dict(outcomes))
    # the mutations reach both ends: files that still load, and files refused in one line
    assert outcomes[".json loaded"] and outcomes[".json error"]
    assert outcomes[".journal.jsonl loaded"] and outcomes[".journal.jsonl error"]


@pytest.mark.slow
def test_fuzz_readers_thousands(tmp_path: Path, seeds: dict[str, bytes]) -> None:
    print(dict(run_cases(tmp_path, seeds, range(400, 10_400))))


def test_a_fuzzed_file_is_one_line_from_the_console_script(
    tmp_path: Path, seeds: dict[str, bytes]
) -> None:
    path = tmp_path / "fuzzed.json"
    path.write_bytes(mutate_snapshot(seeds[".json"], random.Random(7)))
    assert check(path) == "error"
    proc = lkmon_process(["replay", str(path), "--export", str(tmp_path / "out.json")], tmp_path)
    assert_one_line_error(proc, str(path))
