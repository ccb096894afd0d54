"""Small HTML and SVG helpers for the simulator's report: escaping, number formats, colours,
tables and chart primitives. Every function takes any value and copes with what is missing."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DASH = "–"

# Sequential palettes (light to dark), ColorBrewer-like, readable when printed.
BLUES = ("#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b")
REDS = ("#fff5f0", "#fcbba1", "#fb6a4a", "#cb181d", "#67000d")
INK, MUTED, GRID, NO_DATA = "#1d2733", "#5f6b7a", "#e3e8ef", "#e9edf2"
GOOD, WARN, BAD = "#2e7d32", "#ef8f00", "#c62828"
OFFERED, TAKEN, SL_LINE = "#c6dbef", "#6baed6", "#08306b"


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def num(value: object) -> float | None:
    """A finite number, or None for anything else (missing, bool, text, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def as_map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_seq(value: object) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else ()


def fmt_int(value: object) -> str:
    number = num(value)
    return DASH if number is None else f"{round(number):,}"


def fmt_pct(value: object, digits: int = 1) -> str:
    number = num(value)
    return DASH if number is None else f"{number * 100:.{digits}f} %"


def fmt_g(value: object) -> str:
    """Shortest exact text of a number (for data attributes), '' for none."""
    number = num(value)
    return "" if number is None else f"{number:g}"


def fmt_secs(value: object) -> str:
    """Seconds as '12.3 s', '4m 05s' or '2h 07m'."""
    number = num(value)
    if number is None:
        return DASH
    if number < 59.95:
        return f"{number:.1f} s"
    if number < 3599.5:
        minutes, seconds = divmod(round(number), 60)
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(round(number / 60), 60)
    return f"{hours}h {minutes:02d}m"


def fmt_short(value: float) -> str:
    """A number that fits in a heatmap cell."""
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}" if value == round(value) or value >= 10 else f"{value:.1f}"


def ramp(stops: Sequence[str], t: float) -> str:
    """The colour a share ``t`` (0..1) of the way along the palette ``stops``."""
    t = min(1.0, max(0.0, t)) * (len(stops) - 1)
    i = min(int(t), len(stops) - 2)
    a, b, f = rgb(stops[i]), rgb(stops[i + 1]), t - i
    return "#" + "".join(f"{round(a[k] + (b[k] - a[k]) * f):02x}" for k in range(3))


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def ink_for(fill: str) -> str:
    """Dark text on light fills, white on dark ones."""
    red, green, blue = rgb(fill)
    return INK if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else "#ffffff"


def sl_colour(value: float | None, goal: float) -> str:
    if value is None:
        return "#9aa5b1"
    return GOOD if value >= goal else WARN if value >= goal - 0.1 else BAD


def nice_top(value: float) -> tuple[float, float]:
    """An axis top >= value and a round tick step (1, 2 or 5 x 10^k), about 5 ticks."""
    if value <= 0:
        return 1.0, 0.2
    raw = value / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return step * math.ceil(value / step - 1e-9), step


def natural_key(key: str) -> tuple[int, float, str]:
    """Sort numeric ids (agents '201', numbers) by value, the rest after by name."""
    try:
        return 0, float(key), key
    except ValueError:
        return 1, 0.0, key


def el(tag: str, body: str = "", /, **attrs: object) -> str:
    """An SVG element; ``font_size`` becomes ``font-size``, ``class_`` ``class``."""
    parts = []
    for key, value in attrs.items():
        text = f"{value:.1f}".rstrip("0").rstrip(".") if isinstance(value, float) else value
        parts.append(f'{key.rstrip("_").replace("_", "-")}="{esc(text)}"')
    attr = "".join(f" {part}" for part in parts)
    return f"<{tag}{attr}>{body}</{tag}>" if body else f"<{tag}{attr}/>"


def svg_text(
    x: float, y: float, text: str, anchor: str = "start", fill: str = INK, size: int = 11
) -> str:
    return el("text", esc(text), x=x, y=y, font_size=size, text_anchor=anchor, fill=fill)


def svg_rect(
    x: float, y: float, w: float, h: float, fill: str, tip: str = "", /, **more: object
) -> str:
    body = el("title", esc(tip)) if tip else ""
    return el("rect", body, x=x, y=y, width=w, height=h, fill=fill, **more)


def svg_line(x1: float, y1: float, x2: float, y2: float, stroke: str, **more: object) -> str:
    return el("line", x1=x1, y1=y1, x2=x2, y2=y2, stroke=stroke, **more)


def svg_doc(svg_id: str, width: float, height: float, label: str, body: Iterable[str]) -> str:
    return (
        f'<svg id="{esc(svg_id)}" viewBox="0 0 {width:g} {height:g}" role="img" '
        f'aria-label="{esc(label)}">{"".join(body)}</svg>'
    )


def section(title: str, note: str, body: str, anchor: str) -> str:
    note_html = f'<p class="note">{esc(note)}</p>' if note else ""
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{note_html}{body}</section>'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Cells in ``rows`` are HTML already (escaped by the caller)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


Column = tuple[str, Callable[[Mapping[str, Any]], str]]


def col(header: str, key: str, show: Callable[[object], str]) -> Column:
    return header, lambda row: show(row.get(key))


def keyed_table(first: str, items: Mapping[str, Any], columns: Sequence[Column]) -> str:
    """One row per item (sorted by name), one column per (header, cell function)."""
    rows = [
        [esc(name), *(cell(as_map(items[name])) for _, cell in columns)]
        for name in sorted(items, key=natural_key)
    ]
    return table([first, *(header for header, _ in columns)], rows)


def inline_bar(share: float | None, colour: str, width: int = 120) -> str:
    if not share or share <= 0:
        return ""
    style = f"width:{min(share, 1) * width:.0f}px;background:{colour}"
    return f'<span class="inline-bar" style="{style}"></span>'
