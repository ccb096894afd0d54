"""The simulator's KPIs as one self-contained HTML page for a call-centre manager.

No scripts, stylesheets, fonts or images are fetched: the CSS is inline and every chart
is SVG drawn here. Any key of the KPI dict may be missing or empty; what is there is
shown, and sections without data are left out. All text from the input is escaped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from switchboard.sim.charts import (
    Grid,
    day_chart,
    heatmap_svg,
    heatmaps,
)
from switchboard.sim.html import (
    BAD,
    BLUES,
    DASH,
    GOOD,
    GRID,
    MUTED,
    NO_DATA,
    REDS,
    WARN,
    WEEKDAYS,
    as_map,
    as_seq,
    col,
    esc,
    fmt_int,
    fmt_pct,
    fmt_secs,
    fmt_short,
    ink_for,
    inline_bar,
    keyed_table,
    natural_key,
    num,
    ramp,
    section,
    sl_colour,
    svg_doc,
    svg_line,
    svg_rect,
    svg_text,
    table,
)
from switchboard.sim.kpi import DEFAULT_SL_SECONDS, UNDER_ANNOUNCED_BY

__all__ = ["render_report"]

DEFAULT_SL_GOAL = 0.8  # the usual 80/20 goal; a "service_level_goal" key overrides it


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


# --------------------------------------------------------------------------- headline cards


def _within(k: Mapping[str, Any]) -> str:
    """The service-level threshold as words: one figure, or each queue's own range.

    The overall service level measures every queue against its own threshold and calls
    outside queues against the default one, so a single "within 20 s" can be wrong.
    """
    queues = [as_map(q) for q in as_map(k.get("per_queue")).values()]
    limits = {t for q in queues if (t := num(q.get("service_level_target"))) is not None}
    calls, in_queues = num(k.get("calls")), sum(num(q.get("calls")) or 0 for q in queues)
    if limits and calls is not None and calls > in_queues:
        limits.add(DEFAULT_SL_SECONDS)  # some calls were answered outside any queue
    if len(limits) > 1:
        return f"within each queue's target ({min(limits):g}-{max(limits):g} s)"
    target = next(iter(limits), None) or num(k.get("service_level_target"))
    return f"within {target:g} s" if target else "within the target"


def _callbacks_sub(k: Mapping[str, Any]) -> str:
    outcomes = as_map(k.get("callback_outcomes"))
    if "callback_outcomes" in k and not outcomes:
        return "none attempted"
    tried = sum(num(v) or 0 for v in outcomes.values())
    return f"reached, of {tried:,.0f} attempted" if tried else "customers reached"


def _cards(k: Mapping[str, Any], goal: float) -> str:
    calls = num(k.get("calls"))

    def share(key: str, then: str) -> str:
        part = num(k.get(key))
        if part is None or not calls:
            return then
        return f"{part / calls * 100:.1f} % of calls, {then}"

    sl = num(k.get("service_level"))
    cards = [
        ("Calls", fmt_int(k.get("calls")), _traffic(k) or "offered", None),
        ("Answered", fmt_int(k.get("answered")), share("answered", "by an agent"), GOOD),
        ("Missed", fmt_int(k.get("missed")), share("missed", "no agent talked to them"), BAD),
        ("Abandoned", fmt_int(k.get("abandoned")), share("abandoned", "part of missed"), WARN),
        ("Lost", fmt_int(k.get("lost")), "numbers missed and not reached since", BAD),
        ("Callbacks", fmt_int(k.get("callbacks")), _callbacks_sub(k), None),
        ("Service level", fmt_pct(sl), "answered " + _within(k), sl_colour(sl, goal)),
        ("ASA", fmt_secs(k.get("asa")), "mean wait of answered calls", None),
        ("Mean wait", fmt_secs(k.get("mean_wait")), "answered and abandoned callers", None),
        ("P90 wait", fmt_secs(k.get("p90_wait")), "9 in 10 of them waited less", None),
        ("Occupancy", fmt_pct(k.get("occupancy")), "agents' staffed time on calls", None),
        ("Channels full", fmt_int(k.get("channel_exhausted")), "callers met a full number", BAD),
        ("Voicemails", fmt_int(k.get("voicemails")), "messages left", None),
    ]
    if "rejected" in k:
        cards.append(("Rejected", fmt_int(k.get("rejected")), "refused by the rules", None))
    if k.get("completed"):
        cards.append(("Informed", fmt_int(k.get("completed")), "heard an IVR message", None))
    out = []
    for label, value, sub, colour in cards:
        style = f' style="border-left-color:{colour}"' if colour else ""
        out.append(
            f'<div class="card"{style}><div class="label">{esc(label)}</div>'
            f'<div class="value">{esc(value)}</div><div class="sub">{esc(sub)}</div></div>'
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
    rows = "".join(f"<dt>{esc(term)}</dt><dd>{esc(text)}</dd>" for term, text in terms)
    return (
        '<details class="terms"><summary>What the figures mean</summary>'
        f'<dl class="terms">{rows}</dl></details>'
    )


def _traffic(k: Mapping[str, Any]) -> str:
    """'175 a day' when the run is longer than a day."""
    calls, days = num(k.get("calls")), num(k.get("days"))
    if calls is None or not days or days <= 1:
        return ""
    return f"offered, {calls / days:,.0f} a day"


def _period(k: Mapping[str, Any]) -> str:
    """'Fri 27 Nov – Sun 29 Nov 2026 (3 days)' from the start date and the day count."""
    start, days = k.get("start"), num(k.get("days"))
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
    calls, numbers = num(k.get("calls")), as_map(k.get("per_number"))
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
    reasons = {r: n for r, v in as_map(k.get("reasons")).items() if (n := num(v))}
    if unfinished := num(k.get("unfinished")):
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
        if reason == "voicemail" and (left := num(k.get("voicemails"))) is not None:
            words += f" ({left:,.0f} left a message)"
        w = width * count / total
        tip = f"{words}: {count:,.0f} calls, {count / total * 100:.1f} %"
        bar.append(svg_rect(x, 0, w, height, fill, tip, class_="outcome", data_reason=reason))
        if w >= 44:
            bar.append(svg_text(x + w / 2, 21, fmt_short(count), "middle", ink_for(fill), 12))
        x += w
        swatch = f'<span class="inline-bar" style="width:12px;background:{fill}"></span>'
        rows.append([swatch + esc(words), fmt_int(count), fmt_pct(count / total)])
    calls = num(k.get("calls"))
    rows.append(["<b>All calls</b>", f"<b>{fmt_int(total)}</b>", "<b>100.0 %</b>"])
    if calls is not None and round(calls) != round(total):
        rows.append([esc("calls counted in the KPIs"), fmt_int(calls), DASH])
    svg = svg_doc("outcomes-bar", width, height, "How the calls ended", bar)
    return svg + table(["How the call ended", "Calls", "Share"], rows)


# --------------------------------------------------------------------------- agents, tables


def _agents(per_agent: Mapping[str, Any]) -> str:
    """Occupancy bars, then the efficiency table (MISSION P2)."""
    ids = sorted(per_agent, key=natural_key)
    row_h, left, width = 24, 120, 1100
    bar_w = width - left - 80
    height = len(ids) * row_h + 30
    out = []
    for pct in (0, 25, 50, 75, 100):
        x = left + bar_w * pct / 100
        out += [
            svg_line(x, 4, x, height - 22, GRID),
            svg_text(x, height - 6, f"{pct} %", anchor="middle", fill=MUTED),
        ]
    for i, agent in enumerate(ids):
        stats = as_map(per_agent[agent])
        occupancy = num(stats.get("occupancy"))
        y = 6 + i * row_h
        out.append(svg_text(left - 8, y + 14, agent, "end", size=12))
        if occupancy is not None:
            fill = BAD if occupancy >= 0.9 else "#2171b5" if occupancy >= 0.6 else "#9ecae1"
            length = bar_w * min(max(occupancy, 0), 1)
            out += [
                svg_rect(left, y + 3, length, row_h - 8, fill, rx=3),
                svg_text(left + length + 6, y + 14, f"{occupancy * 100:.1f} %"),
            ]
    columns = [col("Answered", "answered", fmt_int)]
    if any(num(as_map(row).get("callbacks")) for row in per_agent.values()):
        columns.append(col("Callbacks", "callbacks", fmt_int))
    columns += [
        col("Rings not answered", "not_answered", fmt_int),
        col("Talk time", "talk_time", fmt_secs),
        col("Avg time to answer", "avg_answer", fmt_secs),
        col("Occupancy", "occupancy", fmt_pct),
    ]
    svg = svg_doc("agent-occupancy", width, height, "Occupancy per agent", out)
    return svg + keyed_table("Agent", per_agent, columns)


def _queues(per_queue: Mapping[str, Any], goal: float) -> str:
    def service_level(q: Mapping[str, Any]) -> str:
        sl, target = num(q.get("service_level")), num(q.get("service_level_target"))
        badge = f'<span class="badge" style="background:{sl_colour(sl, goal)}">{fmt_pct(sl)}</span>'
        return badge + (f" <small>in {target:g} s</small>" if target else "")

    def left_otherwise(q: Mapping[str, Any]) -> str:
        """Exits other than the three columns before it, so the row adds up to Calls."""
        if "exits" not in q:
            return DASH
        other = {r: n for r, v in as_map(q["exits"]).items()
                 if r not in ("answered", "abandoned", "timeout") and (n := num(v))}
        if not other:
            return "0"
        tip = ", ".join(f"{REASONS.get(r, (r,))[0]}: {n:,.0f}" for r, n in sorted(other.items()))
        return f'<span title="{esc(tip)}">{fmt_int(sum(other.values()))}</span>'

    def callbacks(q: Mapping[str, Any]) -> str:
        return fmt_int(sum(num(v) or 0 for v in as_map(q.get("callback_exits")).values()))

    columns = [
        col("Calls", "calls", fmt_int),
        col("Answered", "answered", fmt_int),
        col("Abandoned", "abandoned", fmt_int),
        col("Timed out", "timeout", fmt_int),
        ("Left otherwise", left_otherwise),
        ("Service level", service_level),
        col("ASA", "asa", fmt_secs),
        col("Mean wait", "mean_wait", fmt_secs),
        col("P90 wait", "p90_wait", fmt_secs),
    ]
    if any(as_map(as_map(q).get("callback_exits")) for q in per_queue.values()):
        columns.append(("Callback jobs", callbacks))
    return keyed_table("Queue", per_queue, columns)


def _outside_queues(k: Mapping[str, Any], per_queue: Mapping[str, Any]) -> str:
    """Why the queues' calls fall short of all calls, and what the extra columns count."""
    note = ""
    calls = num(k.get("calls"))
    entered = sum(num(as_map(q).get("calls")) or 0 for q in per_queue.values())
    if calls and entered < calls:
        note += (
            f" {entered:,.0f} queue entries among {calls:,.0f} calls: the others rang agents "
            "or mobiles directly, or ended in a menu, voicemail or the rules."
        )
    note += " Left otherwise: by a key, to a callback or voicemail (hover for the detail)."
    if any(as_map(as_map(q).get("callback_exits")) for q in per_queue.values()):
        note += " Callback jobs: callbacks that waited in the queue for an agent (not calls)."
    return note


def _numbers(per_number: Mapping[str, Any]) -> str:
    def share(row: Mapping[str, Any]) -> float | None:
        calls, exhausted = num(row.get("calls")), num(row.get("exhausted"))
        return exhausted / calls if calls and exhausted is not None else None

    worst = max((share(as_map(row)) or 0.0 for row in per_number.values()), default=0.0)

    def share_cell(row: Mapping[str, Any]) -> str:
        value = share(row)
        return inline_bar(value / worst if value and worst else None, BAD) + fmt_pct(value)

    columns = [
        col("Calls", "calls", fmt_int),
        col("Refused", "exhausted", fmt_int),
        ("Share of calls", share_cell),
    ]
    return keyed_table("Number", per_number, columns)


ESTIMATORS = {"switchboard": "switchboard", "moving_average": "moving average (classic PBX)"}


def _eta(eta: Mapping[str, Any]) -> tuple[str, str]:
    """A note comparing the two estimators, and their table (MISSION B3)."""
    maes = {name: num(as_map(v).get("mae")) for name, v in eta.items()}
    worst = max((m for m in maes.values() if m is not None), default=0.0)
    rows = []
    for name, value in eta.items():
        mae, row = maes[name], as_map(value)
        bar = inline_bar(mae / worst if mae is not None and worst > 0 else None, "#2171b5", 60)
        under = inline_bar(num(row.get("under_announced")), BAD, 60) + fmt_pct(
            row.get("under_announced"))
        bias = num(row.get("bias"))
        bias_html = DASH if bias is None else (
            ("+" if bias >= 0 else "-") + fmt_secs(abs(bias))
            + (" (too long)" if bias > 0 else " (too short)" if bias < 0 else ""))
        rows.append([esc(ESTIMATORS.get(name, name)), bar + fmt_secs(mae), esc(bias_html),
                     fmt_int(row.get("n")), under])
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
    return note, table(headers, rows)


MOBILE = "#d9cff0"  # staffing: the hour is covered with agents reached on their mobiles


def _staffing(staffing: Sequence[Any], observed: Sequence[Any]) -> str:
    """Needed vs reachable agents as a weekday x hour grid, the detail in a table (B6).

    Reachable: on shift (``agents_on``) plus on duty by mobile (``agents_by_mobile``, 0
    in KPIs from before it). An hour that needs the mobiles to be covered is lavender, not
    red: its calls were handled as designed. Red is short even counting the mobiles.
    Weekdays that ``observed`` (the heatmap's ``days_observed``) says were never simulated
    stay grey: advising zero agents for them would be a guess.
    """
    need: Grid = [[None] * 24 for _ in range(7)]
    on: list[list[tuple[float, float] | None]] = [[None] * 24 for _ in range(7)]
    rows = []
    for entry in staffing:
        s = as_map(entry)
        day, hour = num(s.get("weekday")), num(s.get("hour"))
        if day is None or hour is None or not (0 <= day < 7 and 0 <= hour < 24):
            continue
        d, h = int(day), int(hour)
        if len(observed) == 7 and num(observed[d]) == 0:
            continue
        needed, scheduled = num(s.get("agents_needed")), num(s.get("agents_on"))
        mobile = num(s.get("agents_by_mobile")) or 0.0
        need[d][h] = needed
        if scheduled is not None:
            on[d][h] = (scheduled, mobile)
        rate = num(s.get("calls_per_hour")) or 0.0
        if rate > 0 or (scheduled or 0) > 0 or mobile > 0:
            reachable = None if scheduled is None else scheduled + mobile
            gap = None if needed is None or reachable is None else reachable - needed
            gap_html = DASH if gap is None else f"{gap:+.1f}"
            if gap is not None and gap < 0:
                gap_html = f'<b style="color:{BAD}">{gap_html}</b>'
            erlangs = num(s.get("erlangs")) or 0
            on_html = DASH if scheduled is None else f"{scheduled:.1f}"
            wanting = num(s.get("agent_calls_per_hour"))
            row = [f"{WEEKDAYS[d]} {h:02d}:00", f"{rate:.1f}",
                   DASH if wanting is None else f"{wanting:.1f}", f"{erlangs:.2f}",
                   fmt_int(needed)]
            rows.append([*row, on_html, f"{mobile:.1f}", gap_html,
                         fmt_int(s.get("channels_needed"))])
    peak = max((v for row in need for v in row if v is not None), default=0.0)

    def label(d: int, h: int, value: float) -> str:
        if (staff := on[d][h]) is None:
            return f"{value:.0f}"
        scheduled, mobile = staff
        if value == 0 and scheduled + mobile < 0.5:
            return ""
        return f"{value:.0f}/{scheduled:.0f}" + (f"+{mobile:.0f}" if mobile >= 0.5 else "")

    def colour(d: int, h: int, value: float) -> str:
        if (staff := on[d][h]) is None:
            return ramp(BLUES[:3], value / peak if peak else 0)
        scheduled, mobile = staff
        if scheduled + mobile < value:
            return ramp(REDS[1:4], (value - scheduled - mobile) / max(value, 1))
        if scheduled < value:
            return MOBILE
        if value == 0 and scheduled < 0.5:
            return "#f7f9fb"
        return "#c7e9c0" if scheduled - value < 3 else "#fff3bf"

    def tip(d: int, h: int, value: float) -> str:
        if (staff := on[d][h]) is None:
            return f"{value:.0f} agents needed"
        scheduled, mobile = staff
        words = f"{value:.0f} needed, {scheduled:.1f} on shift"
        if mobile:
            words += f", {mobile:.1f} by mobile"
        if scheduled + mobile < value:
            return words + ": short"
        return words + (": covered by mobile" if scheduled < value else "")

    grid = heatmap_svg("staffing-grid", need, BLUES, "agents", label, colour, tip)

    def swatch(fill: str) -> str:
        return f'<span class="inline-bar" style="width:12px;background:{fill}"></span>'

    key = (
        '<p class="note">Each cell: agents needed / agents on shift (average), '
        "+ agents on duty by mobile when there were any. "
        f'{swatch(REDS[2])}<b style="color:{BAD}">Red</b>: short, even counting the '
        f"mobiles (or nobody was reachable); {swatch('#c7e9c0')}green: enough on shift; "
        f"{swatch('#fff3bf')}yellow: 3 or more to spare; {swatch(MOBILE)}lavender: by "
        "mobile, too few or no agents on shift and agents reached off shift on their "
        "mobiles (a duty person) made up the rest.</p>"
    )
    headers = ["Hour", "Calls/h", "For agents/h", "Erlangs", "Agents needed", "On shift",
               "By mobile", "Spare", "Channels"]
    return (
        f"{grid}{key}<details><summary>Hour by hour ({len(rows)} hours with calls or "
        f"agents)</summary>{table(headers, rows)}</details>"
    )


# --------------------------------------------------------------------------- the page


def render_report(kpis: dict[str, Any], title: str) -> str:
    """The KPIs of one simulation run as a self-contained HTML page."""
    k = as_map(kpis)
    goal = num(k.get("service_level_goal")) or DEFAULT_SL_GOAL
    target = num(k.get("service_level_target"))
    within = _within(k)
    facts = _facts(k)
    parts = [
        f'<header><h1>{esc(title)}</h1><p class="facts">{esc(" · ".join(facts))}</p></header>',
        _cards(k, goal),
    ]
    if outcomes := _outcomes(k):
        note = "Every call ends one way; the shares add up to all calls."
        parts.append(section("Where the calls went", note, outcomes, "outcomes"))

    if maps := heatmaps(as_map(k.get("heatmap"))):
        note = "Calls by weekday and hour, summed over the simulated days; grey: day not simulated."
        parts.append(section("When calls come", note, maps, "heatmaps"))

    chart = day_chart(as_seq(k.get("per_hour")), goal)
    if chart:
        note = f"Calls per hour on an average day, and the share answered {within}."
        parts.append(section("Through the day", note, chart, "day"))

    if per_agent := as_map(k.get("per_agent")):
        note = (
            "Occupancy: share of the time staffed (available on shift, or on a call) spent "
            "talking or in wrap-up (ringing not counted). Callbacks: customers reached. "
            "Above 90 % for long wears people out."
        )
        parts.append(section("Agents", note, _agents(per_agent), "agents"))

    if per_queue := as_map(k.get("per_queue")):
        note = f"Service level: share answered {within}." + _outside_queues(k, per_queue)
        parts.append(section("Queues", note, _queues(per_queue, goal), "queues"))
    if per_number := as_map(k.get("per_number")):
        note = "Callers refused because every channel of the number was busy: raise the limit."
        parts.append(section("Channels per number", note, _numbers(per_number), "numbers"))
    if eta := as_map(k.get("eta_accuracy")):
        note, table = _eta(eta)
        parts.append(section("Wait-time estimates", note, table, "eta"))

    if staffing := as_seq(k.get("staffing")):
        observed = as_seq(as_map(k.get("heatmap")).get("days_observed"))
        staffing_within = f"within {target:g} s" if target else "within the target"
        note = (
            f"Erlang model of each hour's traffic: agents needed to answer "
            f"{goal * 100:g} % of calls {staffing_within}, against the agents reachable. "
            "Agents are sized for the calls that wanted one (a queue or a ring); a call that "
            "only heard a menu or left a message needs a channel, not an agent. Reachable: "
            "the agents available on shift, plus those on duty by mobile (rung off shift for "
            "a call of that hour, or still on a call taken so; a duty person is seen only "
            "when rung, so this is averaged over the days the hour wanted an agent). An "
            "hour the mobiles covered is not a shortage."
        )
        parts.append(section("Staffing advice", note, _staffing(staffing, observed), "staffing"))

    speed = ["switchboard simulate"]
    if (events := num(k.get("events_per_second"))) is not None:
        speed.append(f"{events:,.0f} events/s")
    if (wall := num(k.get("wall_seconds"))) is not None:
        speed.append(f"simulated in {wall:.2f} s")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
        + "".join(parts)
        + f"<footer>{esc(' · '.join(speed))}</footer></main></body></html>\n"
    )
