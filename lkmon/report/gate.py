"""The CI latency gate: latency and cost budgets (``--budget``), a regression check against a
pinned baseline (``--baseline``, ``--tolerance``), and their JUnit XML.

Budget grammar (``parse_budget``), comma-separated items, spaces allowed around each token::

    spec   := item ("," item)*
    item   := STAGE "." STAT "<=" SECONDS ["s"] | "cost" "<=" AMOUNT
    STAGE  := eou_delay | transcription_delay | llm_ttft | tts_ttfb | e2e_latency | heard_gap
              (aliases: eou, transcription, ttft, ttfb, e2e, heard)
    STAT   := p50 | p95 | p99 | max | mean

e.g. ``e2e.p95<=1.5,ttft.p50<=0.4,cost<=0.05``. A budget holds when the statistic over every
turn that has the figure (seconds; ``statistics.quantiles``, inclusive) is at most its limit; a
stage with no figure at all fails (nothing was measured), and so does an unknown cost. Cost is
the session's estimated total (the mean per session for several), in the snapshot's currency.

A baseline figure (``check_baseline``) is the ratio new/baseline of a stage's p50 or p95 with
its 95 % bootstrap interval (``lkmon.report.compare``): it fails only when the whole interval
lies above ``1 + tolerance``, so noise alone does not fail a build; from too few turns it is
skipped, never failed. The cost has no interval: it fails above ``baseline * (1 + tolerance)``.
No textual or livekit import here.
"""

from __future__ import annotations

import math
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lkmon.model import vocab
from lkmon.model.stats import StageStats
from lkmon.report.compare import GROUP_LABELS, STAGES, Sample, compare
from lkmon.store.files import write_private_atomic

STAGE_NAMES: dict[str, vocab.Stage] = {s.field: s for s in STAGES}
"""Budget stage names (the snapshot's metric names) -> stage."""
ALIASES: dict[str, str] = {"eou": "eou_delay", "transcription": "transcription_delay",
                           "ttft": "llm_ttft", "ttfb": "tts_ttfb", "e2e": "e2e_latency",
                           "heard": "heard_gap"}
"""Short stage names -> metric names."""
STATS: tuple[str, ...] = ("p50", "p95", "p99", "max", "mean")
"""Budget statistics."""
DEFAULT_TOLERANCE: dict[str, float] = {"p50": 0.15, "p95": 0.20, "cost": 0.10}
"""``--tolerance`` when not given: fractions (15 %, 20 %, 10 %)."""


class GateError(ValueError):
    """A bad ``--budget`` or ``--tolerance`` spec; ``str()`` is one line."""


@dataclass(frozen=True, slots=True)
class Budget:
    """One budget: ``stage.stat <= limit`` (seconds), or the cost (``stage`` ``None``)."""

    stage: vocab.Stage | None
    stat: str | None
    limit: float

    @property
    def name(self) -> str:
        """Canonical text: ``e2e_latency.p95<=1.5``, ``cost<=0.05``."""
        what = "cost" if self.stage is None else f"{self.stage.field}.{self.stat}"
        return f"{what}<={self.limit:g}"


_ITEM = re.compile(r"^\s*(?P<left>[^<>=]*?)\s*(?P<op><=|<|>=|>|==|=)\s*(?P<right>.*?)\s*$")


def _number(text: str, item: str, *, unit: str) -> float:
    raw = text[:-1].strip() if unit == "s" and text.endswith("s") else text
    try:
        value = float(raw)
    except ValueError:
        what = "seconds" if unit == "s" else "an amount"
        raise GateError(f"budget {item!r}: {text!r} is not a number ({what})") from None
    if not math.isfinite(value) or value < 0:
        raise GateError(f"budget {item!r}: the limit must be a number >= 0")
    return value


def parse_budget(spec: str) -> list[Budget]:
    """Parse a ``--budget`` spec (grammar in the module docstring).

    Raises:
        GateError: an empty spec or item, a stage or statistic lkmon does not know, an operator
            other than ``<=``, a limit that is not a number >= 0 (one line, naming the item).
    """
    if not spec.strip():
        raise GateError("empty budget: use e.g. 'e2e.p95<=1.5,cost<=0.05'")
    budgets = []
    for item in spec.split(","):
        if not item.strip():
            raise GateError(f"{spec!r}: an empty item between commas")
        m = _ITEM.match(item)
        if m is None:
            raise GateError(f"budget {item.strip()!r}: use STAGE.STAT<=SECONDS or cost<=USD")
        left, op, right = m["left"].lower(), m["op"], m["right"]
        item = item.strip()
        if op != "<=":
            raise GateError(f"budget {item!r}: only '<=' is supported, not {op!r}")
        if left == "cost":
            budgets.append(Budget(None, None, _number(right, item, unit="")))
            continue
        stage_name, dot, stat = left.partition(".")
        if not dot:
            raise GateError(f"budget {item!r}: use STAGE.STAT<=SECONDS (e.g. e2e.p95<=1.5) "
                            "or cost<=USD")
        name = ALIASES.get(stage_name, stage_name)
        if name not in STAGE_NAMES:
            known = ", ".join([*STAGE_NAMES, *ALIASES])
            raise GateError(f"budget {item!r}: unknown stage {stage_name!r} (one of {known})")
        if stat not in STATS:
            raise GateError(f"budget {item!r}: unknown statistic {stat!r} "
                            f"(one of {', '.join(STATS)})")
        budgets.append(Budget(STAGE_NAMES[name], stat, _number(right, item, unit="s")))
    return budgets


def parse_tolerance(spec: str) -> dict[str, float]:
    """``p50=15%,p95=20%,cost=10%`` -> fractions; keys left out keep ``DEFAULT_TOLERANCE``'s.
    A value is a percentage (``15%``) or a fraction (``0.15``).

    Raises:
        GateError: an unknown key, a missing ``=``, a value that is not a number >= 0.
    """
    out = dict(DEFAULT_TOLERANCE)
    for item in spec.split(","):
        key, eq, value = (p.strip() for p in item.partition("="))
        if not eq or not key:
            raise GateError(f"tolerance {item.strip()!r}: use KEY=PERCENT, e.g. p95=20%")
        if key not in DEFAULT_TOLERANCE:
            raise GateError(f"tolerance {item.strip()!r}: unknown key {key!r} "
                            f"(one of {', '.join(DEFAULT_TOLERANCE)})")
        pct = value.endswith("%")
        try:
            number = float(value[:-1] if pct else value)
        except ValueError:
            raise GateError(f"tolerance {item.strip()!r}: {value!r} is not a number") from None
        if not math.isfinite(number) or number < 0:
            raise GateError(f"tolerance {item.strip()!r}: must be >= 0")
        out[key] = number / 100.0 if pct else number
    return out


Status = Literal["pass", "fail", "skip"]


@dataclass(frozen=True, slots=True)
class Check:
    """One gate figure, as every output shows it (texts already formatted)."""

    kind: Literal["budget", "baseline"]
    name: str
    limit: str
    measured: str
    margin: str
    status: Status
    message: str = ""


def stat_of(values: list[float], stat: str) -> float | None:
    """``stat`` (p50/p95/p99/max/mean) of ``values`` in seconds; ``None`` when empty."""
    if not values:
        return None
    if stat == "p99":
        if len(values) == 1:
            return values[0]
        import statistics

        return statistics.quantiles(values, n=100, method="inclusive")[98]
    value: float | None = getattr(StageStats.of(values), stat)
    return value


def evaluate_budgets(budgets: list[Budget], sample: Sample) -> list[Check]:
    """Each budget against ``sample`` (every turn, tool calls or not)."""
    out = []
    for b in budgets:
        if b.stage is None:
            cost = sample.cost
            limit = f"<= {vocab.fmt_cost(b.limit)} {sample.currency}"
            if cost is None:
                out.append(Check("budget", b.name, limit, "?", vocab.MISSING, "fail",
                                 "the cost is unknown (a price is missing)"))
                continue
            ok = cost <= b.limit
            out.append(Check("budget", b.name, limit, f"{vocab.fmt_cost(cost)} {sample.currency}",
                             f"{b.limit - cost:+.4f}", "pass" if ok else "fail",
                             "" if ok else f"cost {cost:.4f} over the budget {b.limit:g}"))
            continue
        values = sample.values(b.stage)
        measured = stat_of(values, b.stat or "p50")
        limit = f"<= {b.limit:g} s"
        if measured is None:
            out.append(Check("budget", b.name, limit, vocab.MISSING, vocab.MISSING, "fail",
                             f"no turn has its {b.stage.label}: nothing was measured"))
            continue
        ok = measured <= b.limit
        out.append(Check(
            "budget", b.name, limit, f"{vocab.fmt_s(measured)} (n={len(values)})",
            vocab.fmt_s(b.limit - measured, signed=True), "pass" if ok else "fail",
            "" if ok else f"{b.stage.label} {b.stat} {vocab.fmt_s(measured)} over the budget "
                          f"{b.limit:g} s (n={len(values)})",
        ))
    return out


def check_baseline(baseline: Sample, current: Sample,
                   tolerance: dict[str, float] | None = None) -> list[Check]:
    """The current sample against the baseline: per stage and group the ratio current/baseline
    of p50 and p95 (each when ``tolerance`` has the key), and the cost per session."""
    tol = DEFAULT_TOLERANCE if tolerance is None else tolerance
    out = []
    comp = compare(baseline, current, with_p95="p95" in tol)
    for row in comp.rows:
        for r in (row.p50, row.p95):
            if r is None or r.stat not in tol:
                continue
            limit_value = 1.0 + tol[r.stat]
            name = f"{row.stage.label} {r.stat} ({GROUP_LABELS[row.group]})"
            limit = f"ratio <= {limit_value:.2f}"
            if r.low is None or r.high is None:
                measured = "-" if r.value is None else f"{r.value:.2f}"
                out.append(Check("baseline", name, limit, measured, vocab.MISSING, "skip",
                                 f"too few turns (n={row.a.n} baseline, n={row.b.n} now)"))
                continue
            assert r.value is not None
            failed = r.low > limit_value
            out.append(Check(
                "baseline", name, limit, f"{r.value:.2f} [{r.low:.2f}, {r.high:.2f}]",
                f"{limit_value - r.low:+.2f}", "fail" if failed else "pass",
                f"{row.stage.label} {r.stat} is {r.value:.2f}x the baseline's, the whole 95 % "
                f"interval above {limit_value:.2f}" if failed else "",
            ))
    if "cost" in tol:
        base, now = baseline.cost, current.cost
        limit = f"<= baseline x {1 + tol['cost']:.2f}"
        if base is None or now is None:
            out.append(Check("baseline", "cost per session", limit, vocab.fmt_cost(now),
                             vocab.MISSING, "skip", "a cost is unknown (a price is missing)"))
        else:
            cap = base * (1 + tol["cost"])
            failed = now > cap + 1e-12
            out.append(Check("baseline", "cost per session", limit,
                             f"{vocab.fmt_cost(now)} (baseline {vocab.fmt_cost(base)})",
                             f"{cap - now:+.4f}", "fail" if failed else "pass",
                             f"cost {now:.4f} over {cap:.4f}" if failed else ""))
    return out


def failed(checks: list[Check]) -> bool:
    """True when any check failed."""
    return any(c.status == "fail" for c in checks)


def junit_xml(checks: list[Check], *, suite: str = "lkmon check") -> bytes:
    """JUnit XML: one ``<testcase>`` per check (``classname`` ``lkmon.budget`` or
    ``lkmon.baseline``), ``<failure>`` for a failed one, ``<skipped>`` for one from too few
    turns; valid against Jenkins' junit-10.xsd (tests/data/junit-10.xsd)."""
    root = ET.Element("testsuites", name="lkmon", tests=str(len(checks)),
                      failures=str(sum(c.status == "fail" for c in checks)), errors="0")
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(checks)),
                       failures=str(sum(c.status == "fail" for c in checks)), errors="0",
                       skipped=str(sum(c.status == "skip" for c in checks)),
                       timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()))
    for c in checks:
        tc = ET.SubElement(ts, "testcase", name=c.name, classname=f"lkmon.{c.kind}")
        if c.status == "fail":
            ET.SubElement(tc, "failure", type=f"{c.kind}", message=c.message).text = (
                f"{c.name}: measured {c.measured}, limit {c.limit}")
        elif c.status == "skip":
            ET.SubElement(tc, "skipped", message=c.message)
        out = ET.SubElement(tc, "system-out")
        out.text = f"limit {c.limit}; measured {c.measured}; margin {c.margin}"
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def write_junit(checks: list[Check], path: str | Path) -> Path:
    """Write ``junit_xml(checks)`` to ``path`` atomically (mode 0600).

    Raises:
        OSError: the folder is missing or not writable.
    """
    return write_private_atomic(Path(path), junit_xml(checks))
