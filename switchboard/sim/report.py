"""The simulator's KPIs as one self-contained HTML page for a call-centre manager.

No scripts, stylesheets, fonts or images are fetched: the CSS is inline and every chart
is SVG drawn here. Any key of the KPI dict may be missing or empty; what is there is
shown, and sections without data are left out. All text from the input is escaped.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from switchboard.sim.kpi import DEFAULT_SL_SECONDS, UNDER_ANNOUNCED_BY

__all__ = ["render_report"]

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DASH = "–"
DEFAULT_SL_GOAL = 0.8  # the usual 80/20 goal; a "service_level_goal" key overrides it
FEW_CALLS = 10  # an hour's service level over fewer calls than this is mostly noise

# Sequential palettes (light to dark), ColorBrewer-like, readable when printed.
BLUES = ("#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b")
REDS = ("#fff5f0", "#fcbba1", "#fb6a4a", "#cb181d", "#67000d")
INK, MUTED, GRID, NO_DATA = "#1d2733", "#5f6b7a", "#e3e8ef", "#e9edf2"
GOOD, WARN, BAD = "#2e7d32", "#ef8f00", "#c62828"
OFFERED, TAKEN, SL_LINE = "#c6dbef", "#6baed6", "#08306b"

CSS = """
:root{--ink:#1d2733;--muted:#5f6b7a;--line:#e3e8ef;--bg:#f4f6f9;--card:#fff;--accent:#2171b5}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
 font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:28px 24px 48px}
header h1{margin:0 0 4px;font-size:26px} header p{margin:0;color:var(--muted)}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;
 padding:18px 20px;margin-top:20px}
section h2{margin:0 0 4px;font-size:18px}
section h3{margin:14px 0 6px;font-size:14px;color:var(--muted)}
p.note{margin:0 0 12px;color:var(--muted);font-size:13px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(165px,1fr));gap:12px;
 margin-top:20px}
.card{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--accent);
 border-radius:8px;padding:12px 14px}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:26px;font-weight:650;margin-top:2px;font-variant-numeric:tabular-nums}
.card .sub{color:var(--muted);font-size:12px;min-height:1.2em}
.scroll{overflow-x:auto}
dl.terms{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:8px 0 0;
 font-size:13px} dl.terms dt{font-weight:600} dl.terms dd{margin:0;color:var(--muted)}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:right}
td{white-space:nowrap} th:first-child,td:first-child{text-align:left;white-space:normal}
th{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
tbody tr:nth-child(even){background:#fafbfd}
.badge{display:inline-block;min-width:62px;padding:1px 8px;border-radius:10px;color:#fff;
 font-weight:600;text-align:center}
.inline-bar{display:inline-block;height:9px;border-radius:4px;vertical-align:middle;
 margin-right:8px}
svg{display:block;width:100%;height:auto;font-family:inherit}
details summary{cursor:pointer;color:var(--accent);margin-top:10px}
header p.facts{margin-top:2px}
footer{color:var(--muted);font-size:12px;margin-top:24px;text-align:center}
"""


# --------------------------------------------------------------------------- small helpers


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: object) -> float | None:
    """A finite number, or None for anything else (missing, bool, text, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _seq(value: object) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else ()


def _int(value: object) -> str:
    number = _num(value)
    return DASH if number is None else f"{round(number):,}"


def _pct(value: object, digits: int = 1) -> str:
    number = _num(value)
    return DASH if number is None else f"{number * 100:.{digits}f} %"


def _g(value: object) -> str:
    """Shortest exact text of a number (for data attributes), '' for none."""
    number = _num(value)
    return "" if number is None else f"{number:g}"


def _secs(value: object) -> str:
    """Seconds as '12.3 s', '4m 05s' or '2h 07m'."""
    number = _num(value)
    if number is None:
        return DASH
    if number < 59.95:
        return f"{number:.1f} s"
    if number < 3599.5:
        minutes, seconds = divmod(round(number), 60)
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(round(number / 60), 60)
    return f"{hours}h {minutes:02d}m"


def _short(value: float) -> str:
    """A number that fits in a heatmap cell."""
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}" if value == round(value) or value >= 10 else f"{value:.1f}"


def _ramp(stops: Sequence[str], t: float) -> str:
    """The colour a share ``t`` (0..1) of the way along the palette ``stops``."""
    t = min(1.0, max(0.0, t)) * (len(stops) - 1)
    i = min(int(t), len(stops) - 2)
    a, b, f = _rgb(stops[i]), _rgb(stops[i + 1]), t - i
    return "#" + "".join(f"{round(a[k] + (b[k] - a[k]) * f):02x}" for k in range(3))


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _ink(fill: str) -> str:
    """Dark text on light fills, white on dark ones."""
    red, green, blue = _rgb(fill)
    return INK if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else "#ffffff"


def _sl_colour(value: float | None, goal: float) -> str:
    if value is None:
        return "#9aa5b1"
    return GOOD if value >= goal else WARN if value >= goal - 0.1 else BAD


def _nice_top(value: float) -> tuple[float, float]:
    """An axis top >= value and a round tick step (1, 2 or 5 x 10^k), about 5 ticks."""
    if value <= 0:
        return 1.0, 0.2
    raw = value / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return step * math.ceil(value / step - 1e-9), step


def _natural(key: str) -> tuple[int, float, str]:
    """Sort numeric ids (agents '201', numbers) by value, the rest after by name."""
    try:
        return 0, float(key), key
    except ValueError:
        return 1, 0.0, key


def _el(tag: str, body: str = "", /, **attrs: object) -> str:
    """An SVG element; ``font_size`` becomes ``font-size``, ``class_`` ``class``."""
    parts = []
    for key, value in attrs.items():
        text = f"{value:.1f}".rstrip("0").rstrip(".") if isinstance(value, float) else value
        parts.append(f'{key.rstrip("_").replace("_", "-")}="{_e(text)}"')
    attr = "".join(f" {part}" for part in parts)
    return f"<{tag}{attr}>{body}</{tag}>" if body else f"<{tag}{attr}/>"


def _text(
    x: float, y: float, text: str, anchor: str = "start", fill: str = INK, size: int = 11
) -> str:
    return _el("text", _e(text), x=x, y=y, font_size=size, text_anchor=anchor, fill=fill)


def _rect(
    x: float, y: float, w: float, h: float, fill: str, tip: str = "", /, **more: object
) -> str:
    body = _el("title", _e(tip)) if tip else ""
    return _el("rect", body, x=x, y=y, width=w, height=h, fill=fill, **more)


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, **more: object) -> str:
    return _el("line", x1=x1, y1=y1, x2=x2, y2=y2, stroke=stroke, **more)


def _svg(svg_id: str, width: float, height: float, label: str, body: Iterable[str]) -> str:
    return (
        f'<svg id="{_e(svg_id)}" viewBox="0 0 {width:g} {height:g}" role="img" '
        f'aria-label="{_e(label)}">{"".join(body)}</svg>'
    )


def _section(title: str, note: str, body: str, anchor: str) -> str:
    note_html = f'<p class="note">{_e(note)}</p>' if note else ""
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>{note_html}{body}</section>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Cells in ``rows`` are HTML already (escaped by the caller)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


Column = tuple[str, Callable[[Mapping[str, Any]], str]]


def _col(header: str, key: str, show: Callable[[object], str]) -> Column:
    return header, lambda row: show(row.get(key))


def _keyed_table(first: str, items: Mapping[str, Any], columns: Sequence[Column]) -> str:
    """One row per item (sorted by name), one column per (header, cell function)."""
    rows = [
        [_e(name), *(cell(_map(items[name])) for _, cell in columns)]
        for name in sorted(items, key=_natural)
    ]
    return _table([first, *(header for header, _ in columns)], rows)


def _inline_bar(share: float | None, colour: str, width: int = 120) -> str:
    if not share or share <= 0:
        return ""
    style = f"width:{min(share, 1) * width:.0f}px;background:{colour}"
    return f'<span class="inline-bar" style="{style}"></span>'


# --------------------------------------------------------------------------- headline cards


def _within(k: Mapping[str, Any]) -> str:
    """The service-level threshold as words: one figure, or each queue's own range.

    The overall service level measures every queue against its own threshold and calls
    outside queues against the default one, so a single "within 20 s" can be wrong.
    """
    queues = [_map(q) for q in _map(k.get("per_queue")).values()]
    limits = {t for q in queues if (t := _num(q.get("service_level_target"))) is not None}
    calls, in_queues = _num(k.get("calls")), sum(_num(q.get("calls")) or 0 for q in queues)
    if limits and calls is not None and calls > in_queues:
        limits.add(DEFAULT_SL_SECONDS)  # some calls were answered outside any queue
    if len(limits) > 1:
        return f"within each queue's target ({min(limits):g}-{max(limits):g} s)"
    target = next(iter(limits), None) or _num(k.get("service_level_target"))
    return f"within {target:g} s" if target else "within the target"


def _callbacks_sub(k: Mapping[str, Any]) -> str:
    outcomes = _map(k.get("callback_outcomes"))
    if "callback_outcomes" in k and not outcomes:
        return "none attempted"
    tried = sum(_num(v) or 0 for v in outcomes.values())
    return f"reached, of {tried:,.0f} attempted" if tried else "customers reached"


def _cards(k: Mapping[str, Any], goal: float) -> str:
    calls = _num(k.get("calls"))

    def share(key: str, then: str) -> str:
        part = _num(k.get(key))
        if part is None or not calls:
            return then
        return f"{part / calls * 100:.1f} % of calls, {then}"

    sl = _num(k.get("service_level"))
    cards = [
        ("Calls", _int(k.get("calls")), _traffic(k) or "offered", None),
        ("Answered", _int(k.get("answered")), share("answered", "by an agent"), GOOD),
        ("Missed", _int(k.get("missed")), share("missed", "no agent talked to them"), BAD),
        ("Abandoned", _int(k.get("abandoned")), share("abandoned", "part of missed"), WARN),
        ("Lost", _int(k.get("lost")), "numbers missed and not reached since", BAD),
        ("Callbacks", _int(k.get("callbacks")), _callbacks_sub(k), None),
        ("Service level", _pct(sl), "answered " + _within(k), _sl_colour(sl, goal)),
        ("ASA", _secs(k.get("asa")), "mean wait of answered calls", None),
        ("Mean wait", _secs(k.get("mean_wait")), "answered and abandoned callers", None),
        ("P90 wait", _secs(k.get("p90_wait")), "9 in 10 of them waited less", None),
        ("Occupancy", _pct(k.get("occupancy")), "agents' staffed time on calls", None),
        ("Channels full", _int(k.get("channel_exhausted")), "callers met a full number", BAD),
        ("Voicemails", _int(k.get("voicemails")), "messages left", None),
    ]
    if "rejected" in k:
        cards.append(("Rejected", _int(k.get("rejected")), "refused by the rules", None))
    if k.get("completed"):
        cards.append(("Informed", _int(k.get("completed")), "heard an IVR message", None))
    out = []
    for label, value, sub, colour in cards:
        style = f' style="border-left-color:{colour}"' if colour else ""
        out.append(
            f'<div class="card"{style}><div class="label">{_e(label)}</div>'
            f'<div class="value">{_e(value)}</div><div class="sub">{_e(sub)}</div></div>'
        )
    return f'<div class="cards">{"".join(out)}</div>' + _terms(k)


def _terms(k: Mapping[str, Any]) -> str:
    """What each headline figure counts, in the words of kpi.py's definitions."""
    within = _within(k)
    terms = [
        ("Calls", "every inbound call, refused ones included: answered + missed + rejected "
                  "+ informed = calls."),
        ("Missed", "not answered by an agent: hung up waiting, sent to voicemail, chose a "
                   "callback, reached the after-hours message... (see Where the calls went)."),
        ("Abandoned", "hung up while waiting in a queue; counted in missed too."),
        ("Lost", "numbers with a missed call that nobody reached afterwards, by a callback "
                 "or by answering a later call, at the end of the run."),
        ("Callbacks", "callbacks in which an agent and the customer talked."),
        ("Service level", f"calls answered {within}, divided by the calls answered plus "
                          "those abandoned after that time; callers who gave up sooner "
                          "count for neither."),
        ("ASA, waits", "time in a queue or ringing before an agent answered (ASA: answered "
                       "calls; mean and P90: answered and abandoned calls)."),
        ("Occupancy", "time talking or in wrap-up over the time staffed (available on "
                      "shift, or on a call); ringing is not counted."),
        ("Channels full", "callers who found every channel of the dialled number busy "
                          "(refused or overflowed)."),
    ]
    rows = "".join(f"<dt>{_e(term)}</dt><dd>{_e(text)}</dd>" for term, text in terms)
    return (
        '<details class="terms"><summary>What the figures mean</summary>'
        f'<dl class="terms">{rows}</dl></details>'
    )


def _traffic(k: Mapping[str, Any]) -> str:
    """'175 a day' when the run is longer than a day."""
    calls, days = _num(k.get("calls")), _num(k.get("days"))
    if calls is None or not days or days <= 1:
        return ""
    return f"offered, {calls / days:,.0f} a day"


def _period(k: Mapping[str, Any]) -> str:
    """'Fri 27 Nov – Sun 29 Nov 2026 (3 days)' from the start date and the day count."""
    start, days = k.get("start"), _num(k.get("days"))
    try:
        first = dt.date.fromisoformat(str(start))
    except ValueError:
        return f"from {start}" + (f" for {days:g} day(s)" if days else "") if start else ""
    if not days or days < 1:
        return f"from {first:%a %d %b %Y}"
    last = first + dt.timedelta(days=int(days) - 1)
    if last == first:
        return f"{first:%a %d %b %Y} (1 day)"
    head = f"{first:%a %d %b}" if last.year == first.year else f"{first:%a %d %b %Y}"
    return f"{head} {DASH} {last:%a %d %b %Y} ({int(days)} days)"


def _facts(k: Mapping[str, Any]) -> list[str]:
    """What was simulated: config, period, time zone, traffic, seed."""
    facts = []
    if k.get("config"):
        facts.append(f"config {k['config']}")
    if period := _period(k):
        zone = k.get("timezone")
        facts.append(period + (f", times in {zone}" if isinstance(zone, str) and zone else ""))
    calls, numbers = _num(k.get("calls")), _map(k.get("per_number"))
    if calls is not None:
        to = f" to {len(numbers)} number{'s' * (len(numbers) != 1)}" if numbers else ""
        facts.append(f"{calls:,.0f} calls offered{to}")
    if k.get("seed") is not None:
        facts.append(f"seed {k['seed']} (same seed, same result)")
    return facts


# --------------------------------------------------------------------------- outcomes

# Every CallFinished reason, in the order a manager reads them, with its words and colour.
REASONS = {
    "answered": ("answered by an agent", GOOD),
    "abandoned": ("hung up waiting in a queue", WARN),
    "hangup": ("hung up before a queue or an agent (greeting, menu, ringing)", "#f6c26b"),
    "no_answer": ("nobody answered the ringing", "#e57373"),
    "timeout": ("waited the longest allowed in a queue", "#e57373"),
    "callback": ("chose a callback", "#6baed6"),
    "voicemail": ("sent to voicemail", "#8e7cc3"),
    "exit_key": ("left a queue by a key", "#bdbdbd"),
    "after_hours": ("closed: heard the after-hours message", "#9aa5b1"),
    "informational": ("heard an information message to the end", "#a1d99b"),
    "full": ("queue full", BAD),
    "empty": ("queue without agents", BAD),
    "overflow": ("number's channels full", BAD),
    "rejected": ("refused by the rules (lists, known callers only)", "#5f6b7a"),
}


def _outcomes(k: Mapping[str, Any]) -> str:
    """How the calls ended (CallFinished reasons): one stacked bar and a table that adds up."""
    reasons = {r: n for r, v in _map(k.get("reasons")).items() if (n := _num(v))}
    if unfinished := _num(k.get("unfinished")):
        reasons["unfinished"] = unfinished
    total = sum(reasons.values())
    if total <= 0:
        return ""
    order = [*(r for r in REASONS if r in reasons), *sorted(set(reasons) - set(REASONS))]
    width, height = 1100, 34
    x, bar, rows = 0.0, [], []
    for reason in order:
        count = reasons[reason]
        words, fill = REASONS.get(reason, ("still going at the end" if reason == "unfinished"
                                           else reason.replace("_", " "), NO_DATA))
        if reason == "voicemail" and (left := _num(k.get("voicemails"))) is not None:
            words += f" ({left:,.0f} left a message)"
        w = width * count / total
        tip = f"{words}: {count:,.0f} calls, {count / total * 100:.1f} %"
        bar.append(_rect(x, 0, w, height, fill, tip, class_="outcome", data_reason=reason))
        if w >= 44:
            bar.append(_text(x + w / 2, 21, _short(count), "middle", _ink(fill), 12))
        x += w
        swatch = f'<span class="inline-bar" style="width:12px;background:{fill}"></span>'
        rows.append([swatch + _e(words), _int(count), _pct(count / total)])
    calls = _num(k.get("calls"))
    rows.append(["<b>All calls</b>", f"<b>{_int(total)}</b>", "<b>100.0 %</b>"])
    if calls is not None and round(calls) != round(total):
        rows.append([_e("calls counted in the KPIs"), _int(calls), DASH])
    svg = _svg("outcomes-bar", width, height, "How the calls ended", bar)
    return svg + _table(["How the call ended", "Calls", "Share"], rows)


# --------------------------------------------------------------------------- heatmaps

Grid = list[list[float | None]]


def _grid(value: object) -> Grid:
    """7 x 24 cells, None where the input has no number."""
    rows = _seq(value)
    grid: Grid = []
    for day in range(7):
        row = _seq(rows[day]) if day < len(rows) else ()
        grid.append([_num(row[h]) if h < len(row) else None for h in range(24)])
    return grid


def _heatmap_svg(
    svg_id: str,
    grid: Grid,
    stops: Sequence[str],
    caption: str,
    label: Callable[[int, int, float], str] = lambda d, h, v: _short(v) if v else "",
    colour: Callable[[int, int, float], str] | None = None,
) -> str:
    """Weekdays down, hours 0-23 across, the number in each cell; colour legend below.

    With ``colour`` given the cells are coloured by it and the legend is left to the caller.
    """
    cell_w, cell_h, left, top = 45, 30, 46, 22
    legend = colour is None
    width, height = left + 24 * cell_w + 4, top + 7 * cell_h + (40 if legend else 6)
    peak = max((v for row in grid for v in row if v is not None), default=0.0)
    out = [
        _text(left + h * cell_w + cell_w / 2, 15, f"{h:02d}", anchor="middle", fill=MUTED)
        for h in range(24)
    ]
    for day, row in enumerate(grid):
        y = top + day * cell_h
        out.append(_text(left - 8, y + cell_h / 2 + 4, WEEKDAYS[day], "end", size=12))
        for hour, value in enumerate(row):
            x = left + hour * cell_w
            text, fill, ink = "", NO_DATA, INK
            if value is not None:
                share = value / peak if peak > 0 else 0.0
                fill = colour(day, hour, value) if colour else _ramp(stops, share)
                text = label(day, hour, value)
                ink = _ink(fill)
            shown = text or ("no data" if value is None else f"{value:g}")
            tip = f"{WEEKDAYS[day]} {hour:02d}:00  {shown}"
            data = {"data_weekday": day, "data_hour": hour, "data_value": _g(value)}
            box = (x + 1, y + 1, cell_w - 2, cell_h - 2)
            out.append(_rect(*box, fill, tip, rx=3, class_="cell", **data))
            if text:
                out.append(
                    _text(x + cell_w / 2, y + cell_h / 2 + 4, text, anchor="middle", fill=ink)
                )
    if legend:
        x, y = left + 40, top + 7 * cell_h + 16
        offsets = [i / (len(stops) - 1) for i in range(len(stops))]
        stops_svg = "".join(_el("stop", offset=t, stop_color=_ramp(stops, t)) for t in offsets)
        gradient = f'<linearGradient id="{_e(svg_id)}-scale">{stops_svg}</linearGradient>'
        out += [
            f"<defs>{gradient}</defs>",
            _rect(x, y, 220, 10, f"url(#{svg_id}-scale)", rx=2),
            _text(x - 6, y + 9, "0", anchor="end"),
            _text(x + 226, y + 9, _short(peak)),
            _text(x + 280, y + 9, caption, fill=MUTED),
        ]
    return _svg(svg_id, width, height, caption, out)


def _heatmaps(heatmap: Mapping[str, Any]) -> str:
    """The calls and missed-calls heatmaps (MISSION P3); weekdays never observed are grey."""
    observed = [_num(d) for d in _seq(heatmap.get("days_observed"))]
    out = []
    for key, caption, stops, legend in (
        ("calls", "All calls", BLUES, "calls per weekday and hour"),
        ("missed", "Missed calls", REDS, "missed calls per weekday and hour"),
    ):
        if not _seq(heatmap.get(key)):
            continue
        grid = _grid(heatmap[key])
        if len(observed) == 7:
            grid = [[None] * 24 if observed[d] == 0 else row for d, row in enumerate(grid)]
        out.append(f"<h3>{caption}</h3>" + _heatmap_svg(f"heatmap-{key}", grid, stops, legend))
    return "".join(out)


# --------------------------------------------------------------------------- the day chart


def _day_chart(per_hour: Sequence[Any], goal: float) -> str:
    """Offered and answered calls per hour (bars, average day), service level (line)."""
    calls, answered = [0.0] * 24, [0.0] * 24
    sl_sum, sl_weight = [0.0] * 24, [0.0] * 24
    per_day: dict[str, list[float | None]] = {}
    days: set[str] = set()
    for entry in per_hour:
        row = _map(entry)
        hour = _num(row.get("hour"))
        if hour is None or not 0 <= hour < 24:
            continue
        h, day = int(hour), str(row.get("day", ""))
        days.add(day)
        n = _num(row.get("calls")) or 0.0
        calls[h] += n
        answered[h] += _num(row.get("answered")) or 0.0
        sl = _num(row.get("service_level"))
        if sl is not None and n > 0:
            sl_sum[h] += sl * n  # busy hours of busy days weigh more
            sl_weight[h] += n
            if n >= FEW_CALLS / 2:  # a day's hour of a call or two swings 0-100 %
                per_day.setdefault(day, [None] * 24)[h] = sl
    if not days or not any(calls):
        return ""
    offered = [c / len(days) for c in calls]
    taken = [a / len(days) for a in answered]
    sl_all = [s / w if w else None for s, w in zip(sl_sum, sl_weight, strict=True)]

    width, height, left, right, top, bottom = 1100, 330, 56, 58, 24, 50
    plot_w, plot_h = width - left - right, height - top - bottom
    band = plot_w / 24
    y_top, step = _nice_top(max(offered))

    def y_calls(v: float) -> float:
        return top + plot_h * (1 - v / y_top)

    def y_sl(v: float) -> float:
        return top + plot_h * (1 - v)

    out = [
        _text(left - 8, top - 10, "calls/h", anchor="end", fill=MUTED),
        _text(width - 2, top - 10, "service level", anchor="end", fill=MUTED),
    ]
    for i in range(round(y_top / step) + 1):
        y = y_calls(i * step)
        out += [
            _line(left, y, width - right, y, GRID),
            _text(left - 8, y + 4, f"{i * step:g}", anchor="end", fill=MUTED),
        ]
    for pct in (0, 25, 50, 75, 100):
        out.append(_text(width - right + 8, y_sl(pct / 100) + 4, f"{pct} %", fill=MUTED))
    for h in range(24):
        x = left + h * band
        for value, fill, what in ((offered[h], OFFERED, "offered"), (taken[h], TAKEN, "answered")):
            if value > 0:
                y = y_calls(value)
                tip = f"{h:02d}:00  {value:.1f} calls/h {what}"
                out.append(
                    _rect(x + 5, y, band - 10, top + plot_h - y, fill, tip, class_="hour-bar")
                )
        out.append(_text(x + band / 2, top + plot_h + 16, f"{h:02d}", anchor="middle", fill=MUTED))
    goal_y = y_sl(goal)
    out += [
        _line(left, goal_y, width - right, goal_y, GOOD, stroke_width=1.5, stroke_dasharray="6 4"),
        _text(left + 6, goal_y - 5, f"goal {goal * 100:g} %", fill=GOOD),
    ]

    def path(values: Sequence[float | None]) -> str:
        d, pen = [], "M"
        for h, v in enumerate(values):
            if v is None:
                pen = "M"  # an hour without calls breaks the line
                continue
            d.append(f"{pen}{left + (h + 0.5) * band:.1f},{y_sl(v):.1f}")
            pen = "L"
        return " ".join(d)

    each_day = 1 < len(per_day) <= 7  # more days than that would be a tangle
    if each_day:
        out += [
            _el("path", d=path(values), fill="none", stroke="#8e9aaf", stroke_width=1, opacity=0.7)
            for values in per_day.values()
        ]
    out.append(_el("path", d=path(sl_all), fill="none", stroke=SL_LINE, stroke_width=2.5))
    for h, v in enumerate(sl_all):
        if v is not None:
            n, few = sl_weight[h], sl_weight[h] < FEW_CALLS
            text = f"{h:02d}:00  service level {v * 100:.1f} % over {n:,.0f} calls"
            tip = _el("title", _e(text + (" (few calls: a noisy figure)" if few else "")))
            x, colour = left + (h + 0.5) * band, _sl_colour(v, goal)
            fill, stroke = ("#ffffff", colour) if few else (colour, "#ffffff")
            out.append(_el("circle", tip, cx=x, cy=y_sl(v), r=4, fill=fill, stroke=stroke,
                           stroke_width=1.5, class_="sl-few" if few else "sl"))
    y = height - 8
    out += [
        _rect(left, y - 9, 12, 10, OFFERED),
        _text(left + 16, y, "offered calls/h"),
        _rect(left + 120, y - 9, 12, 10, TAKEN),
        _text(left + 136, y, "answered calls/h"),
        _line(left + 250, y - 4, left + 270, y - 4, SL_LINE, stroke_width=2.5),
        _text(left + 276, y, "service level, all days" + (" (grey: each day)" if each_day else "")),
        _el("circle", cx=left + 566, cy=y - 4, r=4, fill="#ffffff", stroke=MUTED, stroke_width=1.5),
        _text(left + 576, y, f"hollow: fewer than {FEW_CALLS} calls in the hour, a noisy figure"),
    ]
    return _svg("day-chart", width, height, "Offered calls and service level by hour", out)


# --------------------------------------------------------------------------- agents, tables


def _agents(per_agent: Mapping[str, Any]) -> str:
    """Occupancy bars, then the efficiency table (MISSION P2)."""
    ids = sorted(per_agent, key=_natural)
    row_h, left, width = 24, 120, 1100
    bar_w = width - left - 80
    height = len(ids) * row_h + 30
    out = []
    for pct in (0, 25, 50, 75, 100):
        x = left + bar_w * pct / 100
        out += [
            _line(x, 4, x, height - 22, GRID),
            _text(x, height - 6, f"{pct} %", anchor="middle", fill=MUTED),
        ]
    for i, agent in enumerate(ids):
        stats = _map(per_agent[agent])
        occupancy = _num(stats.get("occupancy"))
        y = 6 + i * row_h
        out.append(_text(left - 8, y + 14, agent, "end", size=12))
        if occupancy is not None:
            fill = BAD if occupancy >= 0.9 else "#2171b5" if occupancy >= 0.6 else "#9ecae1"
            length = bar_w * min(max(occupancy, 0), 1)
            out += [
                _rect(left, y + 3, length, row_h - 8, fill, rx=3),
                _text(left + length + 6, y + 14, f"{occupancy * 100:.1f} %"),
            ]
    columns = [_col("Answered", "answered", _int)]
    if any(_num(_map(row).get("callbacks")) for row in per_agent.values()):
        columns.append(_col("Callbacks", "callbacks", _int))
    columns += [
        _col("Rings not answered", "not_answered", _int),
        _col("Talk time", "talk_time", _secs),
        _col("Avg time to answer", "avg_answer", _secs),
        _col("Occupancy", "occupancy", _pct),
    ]
    svg = _svg("agent-occupancy", width, height, "Occupancy per agent", out)
    return svg + _keyed_table("Agent", per_agent, columns)


def _queues(per_queue: Mapping[str, Any], goal: float) -> str:
    def service_level(q: Mapping[str, Any]) -> str:
        sl, target = _num(q.get("service_level")), _num(q.get("service_level_target"))
        badge = f'<span class="badge" style="background:{_sl_colour(sl, goal)}">{_pct(sl)}</span>'
        return badge + (f" <small>in {target:g} s</small>" if target else "")

    def left_otherwise(q: Mapping[str, Any]) -> str:
        """Exits other than the three columns before it, so the row adds up to Calls."""
        if "exits" not in q:
            return DASH
        other = {r: n for r, v in _map(q["exits"]).items()
                 if r not in ("answered", "abandoned", "timeout") and (n := _num(v))}
        if not other:
            return "0"
        tip = ", ".join(f"{REASONS.get(r, (r,))[0]}: {n:,.0f}" for r, n in sorted(other.items()))
        return f'<span title="{_e(tip)}">{_int(sum(other.values()))}</span>'

    def callbacks(q: Mapping[str, Any]) -> str:
        return _int(sum(_num(v) or 0 for v in _map(q.get("callback_exits")).values()))

    columns = [
        _col("Calls", "calls", _int),
        _col("Answered", "answered", _int),
        _col("Abandoned", "abandoned", _int),
        _col("Timed out", "timeout", _int),
        ("Left otherwise", left_otherwise),
        ("Service level", service_level),
        _col("ASA", "asa", _secs),
        _col("Mean wait", "mean_wait", _secs),
        _col("P90 wait", "p90_wait", _secs),
    ]
    if any(_map(_map(q).get("callback_exits")) for q in per_queue.values()):
        columns.append(("Callback jobs", callbacks))
    return _keyed_table("Queue", per_queue, columns)


def _outside_queues(k: Mapping[str, Any], per_queue: Mapping[str, Any]) -> str:
    """Why the queues' calls fall short of all calls, and what the extra columns count."""
    note = ""
    calls = _num(k.get("calls"))
    entered = sum(_num(_map(q).get("calls")) or 0 for q in per_queue.values())
    if calls and entered < calls:
        note += (
            f" {entered:,.0f} queue entries among {calls:,.0f} calls: the others rang agents "
            "or mobiles directly, or ended in a menu, voicemail or the rules."
        )
    note += " Left otherwise: by a key, to a callback or voicemail (hover for the detail)."
    if any(_map(_map(q).get("callback_exits")) for q in per_queue.values()):
        note += " Callback jobs: callbacks that waited in the queue for an agent (not calls)."
    return note


def _numbers(per_number: Mapping[str, Any]) -> str:
    def share(row: Mapping[str, Any]) -> float | None:
        calls, exhausted = _num(row.get("calls")), _num(row.get("exhausted"))
        return exhausted / calls if calls and exhausted is not None else None

    worst = max((share(_map(row)) or 0.0 for row in per_number.values()), default=0.0)

    def share_cell(row: Mapping[str, Any]) -> str:
        value = share(row)
        return _inline_bar(value / worst if value and worst else None, BAD) + _pct(value)

    columns = [
        _col("Calls", "calls", _int),
        _col("Refused", "exhausted", _int),
        ("Share of calls", share_cell),
    ]
    return _keyed_table("Number", per_number, columns)


ESTIMATORS = {"switchboard": "switchboard", "moving_average": "moving average (classic PBX)"}


def _eta(eta: Mapping[str, Any]) -> tuple[str, str]:
    """A note comparing the two estimators, and their table (MISSION B3)."""
    maes = {name: _num(_map(v).get("mae")) for name, v in eta.items()}
    worst = max((m for m in maes.values() if m is not None), default=0.0)
    rows = []
    for name, value in eta.items():
        mae, row = maes[name], _map(value)
        bar = _inline_bar(mae / worst if mae is not None and worst > 0 else None, "#2171b5", 60)
        under = _inline_bar(_num(row.get("under_announced")), BAD, 60) + _pct(
            row.get("under_announced"))
        bias = _num(row.get("bias"))
        bias_html = DASH if bias is None else (
            ("+" if bias >= 0 else "-") + _secs(abs(bias))
            + (" (too long)" if bias > 0 else " (too short)" if bias < 0 else ""))
        rows.append([_e(ESTIMATORS.get(name, name)), bar + _secs(mae), _e(bias_html),
                     _int(row.get("n")), under])
    ours, classic = maes.get("switchboard"), maes.get("moving_average")
    note = (
        "Mean absolute error of the wait announced to callers against the wait they had; "
        "switchboard estimates from position, free agents and handling times."
    )
    if ours is not None and classic is not None and classic > 0:
        change = (classic - ours) / classic * 100
        better = "smaller" if change >= 0 else "larger"
        note += f" switchboard's error is {abs(change):.0f} % {better} than the moving average's."
    note += (
        f" Callers who hung up count in neither figure (their wait is unknown), which "
        f"flatters an estimate that is too low; under-announced shows it: the share of "
        f"answered callers who waited more than {UNDER_ANNOUNCED_BY:g} s longer than they "
        f"were told. Bias: the mean of estimate minus real wait."
    )
    headers = ["Estimator", "Mean abs. error", "Bias", "Announcements", "Under-announced"]
    return note, _table(headers, rows)


def _staffing(staffing: Sequence[Any], observed: Sequence[Any]) -> str:
    """Needed vs scheduled agents as a weekday x hour grid, the detail in a table (B6).

    Weekdays that ``observed`` (the heatmap's ``days_observed``) says were never simulated
    stay grey: advising zero agents for them would be a guess.
    """
    need: Grid = [[None] * 24 for _ in range(7)]
    on: Grid = [[None] * 24 for _ in range(7)]
    rows = []
    for entry in staffing:
        s = _map(entry)
        day, hour = _num(s.get("weekday")), _num(s.get("hour"))
        if day is None or hour is None or not (0 <= day < 7 and 0 <= hour < 24):
            continue
        d, h = int(day), int(hour)
        if len(observed) == 7 and _num(observed[d]) == 0:
            continue
        needed, scheduled = _num(s.get("agents_needed")), _num(s.get("agents_on"))
        need[d][h], on[d][h] = needed, scheduled
        rate = _num(s.get("calls_per_hour")) or 0.0
        if rate > 0 or (scheduled or 0) > 0:
            gap = None if needed is None or scheduled is None else scheduled - needed
            gap_html = DASH if gap is None else f"{gap:+.1f}"
            if gap is not None and gap < 0:
                gap_html = f'<b style="color:{BAD}">{gap_html}</b>'
            erlangs, on_html = _num(s.get("erlangs")) or 0, _g(scheduled) or DASH
            row = [f"{WEEKDAYS[d]} {h:02d}:00", f"{rate:.1f}", f"{erlangs:.2f}", _int(needed)]
            rows.append([*row, on_html, gap_html, _int(s.get("channels_needed"))])
    peak = max((v for row in need for v in row if v is not None), default=0.0)

    def label(d: int, h: int, value: float) -> str:
        scheduled = on[d][h]
        if scheduled is None:
            return f"{value:.0f}"
        return "" if value == 0 and scheduled < 0.5 else f"{value:.0f}/{scheduled:.0f}"

    def colour(d: int, h: int, value: float) -> str:
        scheduled = on[d][h]
        if scheduled is None:
            return _ramp(BLUES[:3], value / peak if peak else 0)
        if scheduled < value:
            return _ramp(REDS[1:4], (value - scheduled) / max(value, 1))
        if value == 0 and scheduled < 0.5:
            return "#f7f9fb"
        return "#c7e9c0" if scheduled - value < 3 else "#fff3bf"

    grid = _heatmap_svg("staffing-grid", need, BLUES, "agents", label, colour)
    key = (
        f'<p class="note">Each cell: agents needed / agents scheduled (average). '
        f'<b style="color:{BAD}">Red</b>: short-staffed; green: enough; '
        "yellow: 3 or more to spare.</p>"
    )
    headers = ["Hour", "Calls/h", "Erlangs", "Agents needed", "Scheduled", "Spare", "Channels"]
    return (
        f"{grid}{key}<details><summary>Hour by hour ({len(rows)} hours with calls or "
        f"agents)</summary>{_table(headers, rows)}</details>"
    )


# --------------------------------------------------------------------------- the page


def render_report(kpis: dict[str, Any], title: str) -> str:
    """The KPIs of one simulation run as a self-contained HTML page."""
    k = _map(kpis)
    goal = _num(k.get("service_level_goal")) or DEFAULT_SL_GOAL
    target = _num(k.get("service_level_target"))
    within = _within(k)
    facts = _facts(k)
    parts = [
        f'<header><h1>{_e(title)}</h1><p class="facts">{_e(" · ".join(facts))}</p></header>',
        _cards(k, goal),
    ]
    if outcomes := _outcomes(k):
        note = "Every call ends one way; the shares add up to all calls."
        parts.append(_section("Where the calls went", note, outcomes, "outcomes"))

    if maps := _heatmaps(_map(k.get("heatmap"))):
        note = "Calls by weekday and hour, summed over the simulated days; grey: day not simulated."
        parts.append(_section("When calls come", note, maps, "heatmaps"))

    day_chart = _day_chart(_seq(k.get("per_hour")), goal)
    if day_chart:
        note = f"Calls per hour on an average day, and the share answered {within}."
        parts.append(_section("Through the day", note, day_chart, "day"))

    if per_agent := _map(k.get("per_agent")):
        note = (
            "Occupancy: share of the time staffed (available on shift, or on a call) spent "
            "talking or in wrap-up (ringing not counted). Callbacks: customers reached. "
            "Above 90 % for long wears people out."
        )
        parts.append(_section("Agents", note, _agents(per_agent), "agents"))

    if per_queue := _map(k.get("per_queue")):
        note = f"Service level: share answered {within}." + _outside_queues(k, per_queue)
        parts.append(_section("Queues", note, _queues(per_queue, goal), "queues"))
    if per_number := _map(k.get("per_number")):
        note = "Callers refused because every channel of the number was busy: raise the limit."
        parts.append(_section("Channels per number", note, _numbers(per_number), "numbers"))
    if eta := _map(k.get("eta_accuracy")):
        note, table = _eta(eta)
        parts.append(_section("Wait-time estimates", note, table, "eta"))

    if staffing := _seq(k.get("staffing")):
        observed = _seq(_map(k.get("heatmap")).get("days_observed"))
        staffing_within = f"within {target:g} s" if target else "within the target"
        note = (
            f"Erlang model of each hour's traffic: agents needed to answer "
            f"{goal * 100:g} % of calls {staffing_within}, against the agents scheduled."
        )
        parts.append(_section("Staffing advice", note, _staffing(staffing, observed), "staffing"))

    speed = ["switchboard simulate"]
    if (events := _num(k.get("events_per_second"))) is not None:
        speed.append(f"{events:,.0f} events/s")
    if (wall := _num(k.get("wall_seconds"))) is not None:
        speed.append(f"simulated in {wall:.2f} s")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>"
        + "".join(parts)
        + f"<footer>{_e(' · '.join(speed))}</footer></main></body></html>\n"
    )
