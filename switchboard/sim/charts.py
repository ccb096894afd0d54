"""The report's charts, drawn as inline SVG: the weekday x hour heatmaps and the day chart
(offered and answered calls per hour, and the service level over the day)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from switchboard.sim.html import (
    BLUES,
    GOOD,
    GRID,
    INK,
    MUTED,
    NO_DATA,
    OFFERED,
    REDS,
    SL_LINE,
    TAKEN,
    WEEKDAYS,
    as_map,
    as_seq,
    el,
    esc,
    fmt_g,
    fmt_short,
    ink_for,
    nice_top,
    num,
    ramp,
    sl_colour,
    svg_doc,
    svg_line,
    svg_rect,
    svg_text,
)

FEW_CALLS = 10  # an hour's service level over fewer calls than this is mostly noise

Grid = list[list[float | None]]


def as_grid(value: object) -> Grid:
    """7 x 24 cells, None where the input has no number."""
    rows = as_seq(value)
    grid: Grid = []
    for day in range(7):
        row = as_seq(rows[day]) if day < len(rows) else ()
        grid.append([num(row[h]) if h < len(row) else None for h in range(24)])
    return grid


def heatmap_svg(
    svg_id: str,
    grid: Grid,
    stops: Sequence[str],
    caption: str,
    label: Callable[[int, int, float], str] = lambda d, h, v: fmt_short(v) if v else "",
    colour: Callable[[int, int, float], str] | None = None,
    words: Callable[[int, int, float], str] | None = None,
) -> str:
    """Weekdays down, hours 0-23 across, the number in each cell; colour legend below.

    With ``colour`` given the cells are coloured by it and the legend is left to the caller.
    ``words`` says a cell's tooltip after its weekday and hour (default: its label).
    """
    cell_w, cell_h, left, top = 45, 30, 46, 22
    legend = colour is None
    width, height = left + 24 * cell_w + 4, top + 7 * cell_h + (40 if legend else 6)
    peak = max((v for row in grid for v in row if v is not None), default=0.0)
    out = [
        svg_text(left + h * cell_w + cell_w / 2, 15, f"{h:02d}", anchor="middle", fill=MUTED)
        for h in range(24)
    ]
    for day, row in enumerate(grid):
        y = top + day * cell_h
        out.append(svg_text(left - 8, y + cell_h / 2 + 4, WEEKDAYS[day], "end", size=12))
        for hour, value in enumerate(row):
            x = left + hour * cell_w
            text, fill, ink = "", NO_DATA, INK
            if value is not None:
                share = value / peak if peak > 0 else 0.0
                fill = colour(day, hour, value) if colour else ramp(stops, share)
                text = label(day, hour, value)
                ink = ink_for(fill)
            shown = text or ("no data" if value is None else f"{value:g}")
            if words is not None and value is not None:
                shown = words(day, hour, value)
            tip = f"{WEEKDAYS[day]} {hour:02d}:00  {shown}"
            data = {"data_weekday": day, "data_hour": hour, "data_value": fmt_g(value)}
            box = (x + 1, y + 1, cell_w - 2, cell_h - 2)
            out.append(svg_rect(*box, fill, tip, rx=3, class_="cell", **data))
            if text:
                out.append(
                    svg_text(x + cell_w / 2, y + cell_h / 2 + 4, text, anchor="middle", fill=ink)
                )
    if legend:
        x, y = left + 40, top + 7 * cell_h + 16
        offsets = [i / (len(stops) - 1) for i in range(len(stops))]
        stops_svg = "".join(el("stop", offset=t, stop_color=ramp(stops, t)) for t in offsets)
        gradient = f'<linearGradient id="{esc(svg_id)}-scale">{stops_svg}</linearGradient>'
        out += [
            f"<defs>{gradient}</defs>",
            svg_rect(x, y, 220, 10, f"url(#{svg_id}-scale)", rx=2),
            svg_text(x - 6, y + 9, "0", anchor="end"),
            svg_text(x + 226, y + 9, fmt_short(peak)),
            svg_text(x + 280, y + 9, caption, fill=MUTED),
        ]
    return svg_doc(svg_id, width, height, caption, out)


def heatmaps(heatmap: Mapping[str, Any]) -> str:
    """The calls and missed-calls heatmaps (MISSION P3); weekdays never observed are grey."""
    observed = [num(d) for d in as_seq(heatmap.get("days_observed"))]
    out = []
    for key, caption, stops, legend in (
        ("calls", "All calls", BLUES, "calls per weekday and hour"),
        ("missed", "Missed calls", REDS, "missed calls per weekday and hour"),
    ):
        if not as_seq(heatmap.get(key)):
            continue
        grid = as_grid(heatmap[key])
        if len(observed) == 7:
            grid = [[None] * 24 if observed[d] == 0 else row for d, row in enumerate(grid)]
        out.append(f"<h3>{caption}</h3>" + heatmap_svg(f"heatmap-{key}", grid, stops, legend))
    return "".join(out)


# --------------------------------------------------------------------------- the day chart


def day_chart(per_hour: Sequence[Any], goal: float) -> str:
    """Offered and answered calls per hour (bars, average day), service level (line)."""
    calls, answered = [0.0] * 24, [0.0] * 24
    sl_sum, sl_weight = [0.0] * 24, [0.0] * 24
    per_day: dict[str, list[float | None]] = {}
    days: set[str] = set()
    for entry in per_hour:
        row = as_map(entry)
        hour = num(row.get("hour"))
        if hour is None or not 0 <= hour < 24:
            continue
        h, day = int(hour), str(row.get("day", ""))
        days.add(day)
        n = num(row.get("calls")) or 0.0
        calls[h] += n
        answered[h] += num(row.get("answered")) or 0.0
        sl = num(row.get("service_level"))
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
    y_top, step = nice_top(max(offered))

    def y_calls(v: float) -> float:
        return top + plot_h * (1 - v / y_top)

    def y_sl(v: float) -> float:
        return top + plot_h * (1 - v)

    out = [
        svg_text(left - 8, top - 10, "calls/h", anchor="end", fill=MUTED),
        svg_text(width - 2, top - 10, "service level", anchor="end", fill=MUTED),
    ]
    for i in range(round(y_top / step) + 1):
        y = y_calls(i * step)
        out += [
            svg_line(left, y, width - right, y, GRID),
            svg_text(left - 8, y + 4, f"{i * step:g}", anchor="end", fill=MUTED),
        ]
    for pct in (0, 25, 50, 75, 100):
        out.append(svg_text(width - right + 8, y_sl(pct / 100) + 4, f"{pct} %", fill=MUTED))
    for h in range(24):
        x = left + h * band
        for value, fill, what in ((offered[h], OFFERED, "offered"), (taken[h], TAKEN, "answered")):
            if value > 0:
                y = y_calls(value)
                tip = f"{h:02d}:00  {value:.1f} calls/h {what}"
                out.append(
                    svg_rect(x + 5, y, band - 10, top + plot_h - y, fill, tip, class_="hour-bar")
                )
        out.append(
            svg_text(x + band / 2, top + plot_h + 16, f"{h:02d}", anchor="middle", fill=MUTED)
        )
    goal_y = y_sl(goal)
    out += [
        svg_line(
            left, goal_y, width - right, goal_y, GOOD, stroke_width=1.5, stroke_dasharray="6 4"
        ),
        svg_text(left + 6, goal_y - 5, f"goal {goal * 100:g} %", fill=GOOD),
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
            el("path", d=path(values), fill="none", stroke="#8e9aaf", stroke_width=1, opacity=0.7)
            for values in per_day.values()
        ]
    out.append(el("path", d=path(sl_all), fill="none", stroke=SL_LINE, stroke_width=2.5))
    for h, v in enumerate(sl_all):
        if v is not None:
            n, few = sl_weight[h], sl_weight[h] < FEW_CALLS
            text = f"{h:02d}:00  service level {v * 100:.1f} % over {n:,.0f} calls"
            tip = el("title", esc(text + (" (few calls: a noisy figure)" if few else "")))
            x, colour = left + (h + 0.5) * band, sl_colour(v, goal)
            fill, stroke = ("#ffffff", colour) if few else (colour, "#ffffff")
            out.append(el("circle", tip, cx=x, cy=y_sl(v), r=4, fill=fill, stroke=stroke,
                           stroke_width=1.5, class_="sl-few" if few else "sl"))
    y = height - 8
    out += [
        svg_rect(left, y - 9, 12, 10, OFFERED),
        svg_text(left + 16, y, "offered calls/h"),
        svg_rect(left + 120, y - 9, 12, 10, TAKEN),
        svg_text(left + 136, y, "answered calls/h"),
        svg_line(left + 250, y - 4, left + 270, y - 4, SL_LINE, stroke_width=2.5),
        svg_text(
            left + 276, y, "service level, all days" + (" (grey: each day)" if each_day else "")
        ),
        el("circle", cx=left + 566, cy=y - 4, r=4, fill="#ffffff", stroke=MUTED, stroke_width=1.5),
        svg_text(
            left + 576, y, f"hollow: fewer than {FEW_CALLS} calls in the hour, a noisy figure"
        ),
    ]
    return svg_doc("day-chart", width, height, "Offered calls and service level by hour", out)
