"""A self-contained HTML report of a session: turn table with latency bars, percentiles,
transcript, usage and cost. Inline CSS only: no script, no font, no image, no network.

Every string goes through ``lkmon.redact.default_redactor()`` before it is escaped;
``redact_text=True`` replaces transcript text with same-length placeholders, as in snapshots.
No textual or livekit import here.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

from lkmon.model import vocab
from lkmon.model.state import SessionModel
from lkmon.model.turns import Turn
from lkmon.model.usage import PriceTable
from lkmon.redact import default_redactor, placeholder
from lkmon.store.files import write_private_atomic

STAGE_LABELS = {s.key: s.label for s in vocab.STAGES.values()}
STAGE_COLOURS = {s.key: s.colour for s in vocab.BAR_STAGES}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2330;
background:#fafbfc}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #dde;
padding-bottom:4px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{padding:4px 8px;border-bottom:1px solid #eef;text-align:left;vertical-align:top}
th{background:#f0f2f7;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.meta{color:#556;margin:0}.meta b{color:#1d2330}
.bar{display:flex;height:14px;min-width:2px;background:#f0f2f7;border-radius:2px;overflow:hidden}
.seg{height:100%}.bar-cell{width:38%}
.good{color:#1d8a4e;font-weight:600}.warn{color:#b7791f;font-weight:600}
.bad{color:#c53030;font-weight:600}.na{color:#99a}
.tag{display:inline-block;font-size:11px;padding:0 5px;border-radius:3px;margin-right:3px;
background:#eef;color:#445}.tag.failed{background:#fde8e8;color:#c53030}
.tag.int{background:#fff4e0;color:#b7791f}
.legend span{display:inline-block;margin-right:14px}.sw{display:inline-block;width:10px;
height:10px;margin-right:4px;border-radius:2px;vertical-align:middle}
.tr-user{color:#1d4ed8}.tr-agent{color:#1d2330}.tr-tool{color:#6b4fbb}.tr-system{color:#c53030}
.unheard{color:#99a;text-decoration:line-through}.small{font-size:12px;color:#667}
"""


_fmt_s = vocab.fmt_s


def _fmt_num(value: float | None, digits: int = 3) -> str:
    return vocab.fmt_s(value, digits)


def _e2e_class(value: float | None, thresholds: tuple[float, float]) -> str:
    if value is None:
        return "na"
    good, bad = thresholds
    return "good" if value < good else "bad" if value >= bad else "warn"


def _clock(ts: float | None, start: float | None) -> str:
    """``+m:ss.s`` after the session start (``HH:MM:SS`` UTC when the start is unknown)."""
    if ts is None:
        return ""
    if start is None:
        return time.strftime("%H:%M:%S", time.gmtime(ts))
    offset = max(ts - start, 0.0)
    return f"+{int(offset // 60)}:{offset % 60:04.1f}"


def _bar(turn: Turn, scale: float) -> str:
    parts = []
    for key, value in turn.stages().items():
        if value is None or value <= 0 or scale <= 0:
            continue
        width = min(value / scale * 100.0, 100.0)
        title = f"{STAGE_LABELS[key]} {value:.3f} s"
        parts.append(
            f'<div class="seg" style="width:{width:.2f}%;background:{STAGE_COLOURS[key]}" '
            f'title="{title}"></div>'
        )
    return f'<div class="bar">{"".join(parts)}</div>'


def build_html_report(
    model: SessionModel,
    *,
    redact_text: bool = False,
    prices: PriceTable | None = None,
    thresholds: tuple[float, float] = (1.0, 2.0),
) -> str:
    """The report as one HTML document (a string).

    Args:
        model: the session.
        redact_text: replace transcript, user/agent text and tool arguments with placeholders.
        prices: price table for the cost column (default: ``model.prices``).
        thresholds: ``(good, bad)`` e2e latency in seconds: below good is green, from bad red.
    """
    redactor = default_redactor()

    def esc(text: object) -> str:
        return html.escape(redactor.redact(str(text)))

    def txt(text: str | None) -> str:
        if text is None:
            return '<span class="na">\u2013</span>'
        return esc(placeholder(text) if redact_text else text)

    info = model.session
    start = info.started_at
    summary = model.summary()
    table = prices or model.prices
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>lkmon report \u2013 {esc(info.agent_file or 'session')}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>lkmon session report: {esc(info.agent_file or 'session')}</h1>",
    ]
    started = (
        time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(start)) if start is not None else "?"
    )
    models = ", ".join(f"{k}: {v}" for k, v in info.models.items()) or "?"
    dash = "\u2013"
    redacted_note = " \u00b7 <b>text redacted</b>" if redact_text else ""
    out.append(
        f'<p class="meta">started <b>{esc(started)}</b> \u00b7 duration '
        f"<b>{_fmt_num(info.duration, 1)} s</b> \u00b7 turns <b>{len(model.turns)}</b> \u00b7 "
        f"errors <b>{model.error_count}</b> \u00b7 close reason "
        f"<b>{esc(info.close_reason or dash)}</b></p>"
        f'<p class="meta">models {esc(models)} \u00b7 input {esc(info.input or "?")} \u00b7 '
        f"output {esc(info.output or '?')} \u00b7 lkmon {esc(info.lkmon_version or '?')}"
        f"{redacted_note}</p>"
    )

    # -- percentiles
    out.append(
        "<h2>Latency percentiles</h2><table><tr><th>stage</th><th class=n>turns</th>"
        "<th class=n>p50</th><th class=n>p95</th><th class=n>max</th></tr>"
    )
    for key in ("eou", "llm_ttft", "tts_ttfb", "e2e"):
        s = summary[key]
        out.append(
            f"<tr><td>{STAGE_LABELS[key]}</td><td class=n>{s.count}</td>"
            f"<td class=n>{_fmt_s(s.p50)}</td><td class=n>{_fmt_s(s.p95)}</td>"
            f"<td class=n>{_fmt_s(s.max)}</td></tr>"
        )
    out.append("</table>")
    if summary.worst_turn is not None:
        stage = STAGE_LABELS.get(summary.worst_stage or "", "\u2013")
        out.append(
            f'<p class="small">worst turn: <b>#{summary.worst_turn}</b>, e2e '
            f"{_fmt_s(summary.worst_e2e)}, dominant stage <b>{stage}</b></p>"
        )

    # -- turns
    scale = max(
        (sum(v for v in t.stages().values() if v is not None) for t in model.turns), default=0.0
    )
    out.append('<h2>Turns</h2><p class="legend small">')
    for key, colour in STAGE_COLOURS.items():
        out.append(
            f'<span><i class="sw" style="background:{colour}"></i>{STAGE_LABELS[key]}</span>'
        )
    out.append(
        f"<span>bar scale: {scale:.3f} s full width</span><span>e2e: green &lt; "
        f"{thresholds[0]:g} s, red \u2265 {thresholds[1]:g} s</span></p>"
        "<table><tr><th class=n>#</th><th>time</th><th>user</th><th>agent</th>"
        "<th class=bar-cell>EOU / TTFT / TTFB</th><th class=n>EOU</th><th class=n>TTFT</th>"
        "<th class=n>TTFB</th><th class=n>e2e</th></tr>"
    )
    for t in model.turns:
        m = t.metrics
        tags = []
        if t.typed:
            tags.append('<span class="tag">typed</span>')
        if t.greeting:
            tags.append('<span class="tag">no user turn</span>')
        if t.tool_calls:
            names = ", ".join(c.name for c in t.tool_calls)
            tags.append(f'<span class="tag">tool: {esc(names)}</span>')
        if t.interrupted:
            tags.append('<span class="tag int">interrupted</span>')
        if t.failed:
            tags.append('<span class="tag failed">failed</span>')
        unheard = f' <span class="unheard">{txt(t.unheard_text)}</span>' if t.unheard_text else ""
        out.append(
            f"<tr><td class=n>{t.index}</td><td>{_clock(t.started_at, start)}</td>"
            f"<td>{txt(t.user_text)}</td><td>{''.join(tags)}{txt(t.agent_text)}{unheard}</td>"
            f"<td class=bar-cell>{_bar(t, scale)}</td><td class=n>{_fmt_num(m.eou_delay)}</td>"
            f"<td class=n>{_fmt_num(m.llm_ttft)}</td><td class=n>{_fmt_num(m.tts_ttfb)}</td>"
            f'<td class="n {_e2e_class(m.e2e_latency, thresholds)}">'
            f"{_fmt_num(m.e2e_latency)}</td></tr>"
        )
    out.append("</table>")

    # -- usage
    out.append(
        "<h2>Usage and estimated cost</h2><table><tr><th>kind</th><th>provider / model</th>"
        "<th class=n>prompt tok</th><th class=n>cached tok</th><th class=n>completion tok</th>"
        "<th class=n>characters</th><th class=n>audio s</th>"
        f"<th class=n>cost ({esc(table.currency)})</th></tr>"
    )
    packages = getattr(model, "packages", None)
    for c in table.costs(model.usage, packages):
        u = c.usage
        cost = "?" if c.cost is None else f"{c.cost:.4f}"
        via = c.shown_via
        via_html = f' <span class="meta">via {esc(via)}</span>' if via else ""
        out.append(
            f"<tr><td>{esc(u.kind)}</td><td>{esc(c.shown_provider)} / {esc(u.model)}{via_html}</td>"
            f"<td class=n>{u.input_tokens}</td><td class=n>{u.input_cached_tokens}</td>"
            f"<td class=n>{u.output_tokens}</td><td class=n>{u.characters_count}</td>"
            f"<td class=n>{u.audio_duration:.1f}</td><td class=n>{cost}</td></tr>"
        )
    total = table.total(model.usage, packages)
    out.append(
        f"<tr><th colspan=7>total</th><th class=n>"
        f"{'?' if total is None else f'{total:.4f}'}</th></tr></table>"
    )

    # -- VAD
    vad = model.vad
    out.append(
        f'<h2>VAD</h2><p class="meta">speech segments <b>{vad.speech_count}</b> \u00b7 speech '
        f"<b>{vad.speech_total:.1f} s</b> \u00b7 silence between speech "
        f"<b>{vad.silence_total:.1f} s</b> \u00b7 inferences <b>{vad.inference_count}</b> "
        f"\u00b7 real-time factor <b>{_fmt_num(vad.realtime_factor, 4)}</b></p>"
    )

    # -- errors
    if model.errors:
        out.append("<h2>Errors</h2><table><tr><th>time</th><th>source</th><th>message</th></tr>")
        for err in model.errors:
            out.append(
                f"<tr><td>{_clock(err.ts, start)}</td><td>{esc(err.source)}</td>"
                f"<td>{esc(err.message)}</td></tr>"
            )
        out.append("</table>")

    # -- transcript
    out.append("<h2>Transcript</h2><table><tr><th>time</th><th>who</th><th>text</th></tr>")
    for e in model.transcript:
        text = txt(e.text)
        if e.unheard_text:
            text += f' <span class="unheard">{txt(e.unheard_text)}</span>'
        if e.interrupted:
            text += ' <span class="tag int">interrupted</span>'
        turn = f" #{e.turn}" if e.turn is not None else ""
        out.append(
            f'<tr class="tr-{esc(e.role)}"><td>{_clock(e.ts, start)}</td>'
            f"<td>{esc(e.role)}{turn}</td><td>{text}</td></tr>"
        )
    out.append("</table>")
    if model.fallback_joins:
        out.append(f'<p class="small">{model.fallback_joins} join(s) made without a speech_id.</p>')
    out.append("</body></html>\n")
    return "".join(out)


def write_html_report(
    model: SessionModel,
    path: str | Path,
    *,
    redact_text: bool = False,
    prices: PriceTable | None = None,
    thresholds: tuple[float, float] = (1.0, 2.0),
) -> Path:
    """Write the HTML report of ``model`` to ``path`` (atomically, mode 0600).

    Args:
        model: the session.
        path: destination ``.html`` file (its directory must exist).
        redact_text: replace transcript text with same-length placeholders.
        prices: price table for the cost column (default: ``model.prices``).
        thresholds: ``(good, bad)`` e2e latency colouring, seconds.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        OSError: the directory is missing, read-only or full.
    """
    dest = Path(path)
    data = build_html_report(
        model, redact_text=redact_text, prices=prices, thresholds=thresholds
    ).encode("utf-8")
    return write_private_atomic(dest, data, fsync=False)
