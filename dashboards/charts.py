"""Small, dependency-free SVG charts (deterministic output, no scripts, no network).

Every chart:
- states what its figures are in lines under its title (`notes`: the energy basis, 当量值 or 等价值, and
  anything else a reader must know), wrapped to the chart's width;
- shows all its numbers in one scale (`Scale`: tce, 万tce or 亿tce, chosen from the chart's largest value
  and named in its unit label), axis ticks at round values of that scale (1, 2 or 5 × 10ⁿ steps);
- places its labels so that none overlaps another or leaves the chart (text widths estimated:
  ASCII 0.6 em, any other character one em; line boxes 1.5 em): x-axis labels thinned, legends wrapped,
  limit labels stacked, the chart as tall as its content."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#475569", "#ea580c"]
TITLE_SIZE, NOTE_SIZE, LABEL_SIZE, TICK_SIZE = 13, 11, 11, 10
LINE = 1.5  # line height, in em
ASCENT, DESCENT, GAP = 1.2, 0.3, 2.0  # of a CJK font, in em; the gap between lines in px


def _text_width(text: str, size: float = LABEL_SIZE) -> float:
    """Rendered width estimate: ASCII about 0.6 em; anything else (CJK, full-width, and symbols such as ±
    or √ that CJK fonts draw full-width) one em."""
    return sum(0.6 * size if ch < "\x80" else size for ch in text)


def _fit(text: str, width: float, size: float = LABEL_SIZE) -> str:
    """The text, shortened with an ellipsis to fit `width` (the full text stays in a tooltip)."""
    if _text_width(text, size) <= width:
        return text
    while text and _text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def _wrap(text: str, width: float, size: float) -> list[str]:
    """`text` broken into lines no wider than `width` (at spaces where it can, else anywhere)."""
    lines: list[str] = []
    line = ""
    for ch in text:
        if _text_width(line + ch, size) > width and line:
            cut = line.rfind(" ")
            if cut > len(line) // 2:
                lines.append(line[:cut])
                line = line[cut + 1 :]
            else:
                lines.append(line)
                line = ""
        line += ch
    if line.strip():
        lines.append(line)
    return lines


@dataclass(frozen=True)
class Scale:
    """One scale for every number of a chart: its divisor, the unit it shows, the decimals of values."""

    divisor: float
    unit: str
    decimals: int

    def value(self, v: float) -> str:
        return f"{v / self.divisor:,.{self.decimals}f}"

    def tick(self, v: float, step: float) -> str:
        decimals = max(0, -math.floor(math.log10(step / self.divisor) + 1e-9))
        return f"{v / self.divisor:,.{decimals}f}"


def scale_for(largest: float, unit: str) -> Scale:
    """tce figures of ten thousand and more in 万tce (a hundred million: 亿tce); any other unit as it is.
    Values to three significant digits of the largest (at least none, at most four decimals)."""
    m = abs(largest)
    divisor, shown = 1.0, unit
    if unit == "tce" and m >= 1e8:
        divisor, shown = 1e8, "亿tce"
    elif unit == "tce" and m >= 1e4:
        divisor, shown = 1e4, "万tce"
    m /= divisor
    decimals = 0 if m >= 100 else min(4, max(0, 2 - math.floor(math.log10(m)))) if m > 0 else 0
    return Scale(divisor, shown, decimals)


def nice_ticks(vmin: float, vmax: float, intervals: int = 4) -> list[float]:
    """Axis ticks from ≤ vmin to ≥ vmax (0 included) at a step of 1, 2 or 5 × 10ⁿ, about `intervals` of them."""
    lo, hi = min(0.0, vmin), max(0.0, vmax)
    if hi == lo:
        hi = lo + 1.0
    raw = (hi - lo) / intervals
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [k * step for k in range(first, last + 1)]


def _svg_open(kind: str, title: str, width: float, height: float) -> str:
    return (
        f'<svg class="chart {kind}" width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    )


def _heading(title: str, notes: list[str], width: float, right: str = "") -> tuple[list[str], float]:
    """Title and note lines at the top; returns the SVG and the y below them. `right`: a short text at the
    title line's right end (the unit), the title wrapped short of it. Lines are stacked by the font's
    ascent and descent (CJK fonts: about 1.2 and 0.3 em) with a gap, so that no two touch."""
    out: list[str] = []
    reserve = _text_width(right, TICK_SIZE) + 16 if right else 0
    y = 2.0
    first = True
    for line in _wrap(title, width - 16 - reserve, TITLE_SIZE):
        baseline = y + ASCENT * TITLE_SIZE
        out.append(
            f'<text x="8" y="{baseline:.1f}" font-size="{TITLE_SIZE}" font-weight="600" fill="#0f172a">'
            f"{escape(line)}</text>"
        )
        if right and first:
            out.append(
                f'<text x="{width - 8:.0f}" y="{baseline:.1f}" text-anchor="end" font-size="{TICK_SIZE}" '
                f'fill="#64748b">{escape(right)}</text>'
            )
        first = False
        y = baseline + DESCENT * TITLE_SIZE + GAP
    for note in notes:
        for line in _wrap(note, width - 16, NOTE_SIZE):
            baseline = y + ASCENT * NOTE_SIZE
            out.append(
                f'<text class="chart-note" x="8" y="{baseline:.1f}" font-size="{NOTE_SIZE}" fill="#64748b">'
                f"{escape(line)}</text>"
            )
            y = baseline + DESCENT * NOTE_SIZE + GAP
    return out, y + 6


def _legend(entries: list[tuple[str, str, str]], x0: float, y0: float, width: float) -> tuple[list[str], float]:
    """Legend entries (label, colour, shape 'rect'|'band') wrapped into rows from (x0, y0); returns SVG and
    the y below the last row."""
    out: list[str] = []
    x, y = x0, y0
    row = LABEL_SIZE * LINE + 3
    for label, color, shape in entries:
        w = 14 + _text_width(label, LABEL_SIZE) + 18
        if x + w > width - 8 and x > x0:
            x, y = x0, y + row
        opacity = ' fill-opacity="0.25"' if shape == "band" else ""
        out.append(
            f'<rect x="{x:.1f}" y="{y + 2:.1f}" width="10" height="10" fill="{color}"{opacity}/>'
            f'<text x="{x + 14:.1f}" y="{y + 11:.1f}" font-size="{LABEL_SIZE}" fill="#0f172a">{escape(label)}</text>'
        )
        x += w
    return out, y + row


def empty(message: str, width: int = 640, height: int = 80) -> str:
    return (
        f'<svg class="chart empty" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f8fafc" stroke="#e2e8f0"/>'
        f'<text x="{width / 2}" y="{height / 2 + 5}" text-anchor="middle" fill="#64748b" font-size="14">'
        f"{escape(message)}</text></svg>"
    )


def _x_labels(labels: list[str], xs: dict[str, float], size: float) -> list[int]:
    """Indices of the category labels to print: evenly thinned so that none overlaps the next, the last
    always (end-anchored at its point), the one before it dropped when it would touch it."""
    if not labels:
        return []
    gap = 6
    spacing = (xs[labels[-1]] - xs[labels[0]]) / max(1, len(labels) - 1)
    widest = max(_text_width(lab, size) for lab in labels)
    step = max(1, math.ceil((widest + gap) / spacing)) if spacing > 0 else 1
    shown = list(range(0, len(labels), step))
    last = len(labels) - 1
    if shown[-1] == last:
        shown.pop()
    if shown and len(labels) > 1:
        prev = shown[-1]
        prev_right = xs[labels[prev]] + _text_width(labels[prev], size) / 2
        last_left = xs[labels[last]] - _text_width(labels[last], size)
        if prev_right + gap > last_left and len(shown) > 1:
            shown.pop()
    shown.append(last)
    return shown


def line_chart(
    series: dict[str, list[tuple[str, float]]],
    *,
    title: str,
    unit: str = "",
    notes: list[str] | None = None,
    bands: dict[str, tuple[str, list[tuple[str, float | None, float | None]]]] | None = None,
    width: int = 640,
    plot_height: int = 190,
) -> str:
    """Lines over a shared category axis (labels in order of first appearance). `bands`: shaded ranges
    under the lines, name → (colour, [(label, low, high)]) (e.g. prediction intervals)."""
    bands = bands or {}
    labels: list[str] = []
    for x in [x for pts in series.values() for x, _ in pts] + [x for _, b in bands.values() for x, _, _ in b]:
        if x not in labels:
            labels.append(x)
    values = [v for pts in series.values() for _, v in pts if v is not None]
    values += [v for _, b in bands.values() for _, lo, hi in b for v in (lo, hi) if v is not None]
    if not labels or not values:
        return empty(f"{title}: 暂无数据 no data yet", width)
    scale = scale_for(max(abs(v) for v in values), unit)
    head, top = _heading(title, notes or [], width, f"单位：{scale.unit}" if scale.unit else "")
    ticks = nice_ticks(min(values), max(values))
    tick_texts = [scale.tick(t, ticks[1] - ticks[0]) for t in ticks]
    left = max(36.0, max(_text_width(t, TICK_SIZE) for t in tick_texts) + 14)
    right = 16  # the last x label is end-anchored at its point: nothing sticks out right
    top += 6
    w, h = width - left - right, plot_height
    vmin, vmax = ticks[0], ticks[-1]
    xs = {lab: left + (w * i / max(1, len(labels) - 1)) for i, lab in enumerate(labels)}

    def y(v: float) -> float:
        return top + h - (v - vmin) / (vmax - vmin) * h

    out = list(head)
    for t, text in zip(ticks, tick_texts, strict=True):
        out.append(
            f'<line x1="{left:.1f}" x2="{left + w:.1f}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#e2e8f0"/>'
            f'<text x="{left - 6:.1f}" y="{y(t) + 4:.1f}" text-anchor="end" font-size="{TICK_SIZE}" fill="#475569">'
            f"{text}</text>"
        )
    for i in _x_labels(labels, xs, TICK_SIZE):
        lab = labels[i]
        anchor = "end" if i == len(labels) - 1 and len(labels) > 1 else "middle"
        if i == 0 and len(labels) > 1:
            anchor = "start" if xs[lab] - _text_width(lab, TICK_SIZE) / 2 < 2 else "middle"
        out.append(
            f'<text x="{xs[lab]:.1f}" y="{top + h + 22:.1f}" text-anchor="{anchor}" font-size="{TICK_SIZE}" '
            f'fill="#475569">{escape(lab)}</text>'
        )
    legend: list[tuple[str, str, str]] = []
    for name, (color, points) in bands.items():
        ranges = [(x, lo, hi) for x, lo, hi in points if lo is not None and hi is not None]
        if not ranges:
            continue
        upper = " ".join(f"{xs[x]:.1f},{y(hi):.1f}" for x, _, hi in ranges)
        lower = " ".join(f"{xs[x]:.1f},{y(lo):.1f}" for x, lo, _ in reversed(ranges))
        tips = "; ".join(f"{x}: {scale.value(lo)}–{scale.value(hi)}" for x, lo, hi in ranges)
        out.append(
            f'<polygon points="{upper} {lower}" fill="{color}" fill-opacity="0.25" stroke="none">'
            f"<title>{escape(name)} ({escape(scale.unit)}) {escape(tips)}</title></polygon>"
        )
        legend.append((name, color, "band"))
    for n, (name, pts) in enumerate(series.items()):
        color = PALETTE[n % len(PALETTE)]
        drawn = [(x, v) for x, v in pts if v is not None]
        path = " ".join(f"{'M' if i == 0 else 'L'}{xs[x]:.1f},{y(v):.1f}" for i, (x, v) in enumerate(drawn))
        out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, v in drawn:
            if len(drawn) <= 40:
                out.append(
                    f'<circle cx="{xs[x]:.1f}" cy="{y(v):.1f}" r="2.5" fill="{color}">'
                    f"<title>{escape(name)} {escape(x)}: {scale.value(v)} {escape(scale.unit)}</title></circle>"
                )
        legend.append((name, color, "rect"))
    legend_svg, bottom = _legend(legend, left, top + h + 32, width)
    out += legend_svg
    height = bottom + 4
    return _svg_open("line", title, width, height) + "".join(out) + "</svg>"


def bar_chart(
    items: list[tuple[str, float]],
    *,
    title: str,
    unit: str = "",
    notes: list[str] | None = None,
    width: int = 640,
    reference: list[tuple[str, float]] | None = None,
) -> str:
    """Horizontal bars, in the order given; optional reference lines (e.g. limit grades), their labels
    (name and value) stacked in rows under the bars where they would touch."""
    items = [(k, v) for k, v in items if v is not None]
    if not items:
        return empty(f"{title}: 暂无数据 no data yet", width)
    reference = [(n, v) for n, v in reference or [] if v is not None]
    everything = [v for _, v in items] + [v for _, v in reference]
    scale = scale_for(max(abs(v) for v in everything), unit)
    head, top = _heading(title, notes or [], width, f"单位：{scale.unit}" if scale.unit else "")
    row = 24
    # the label column as wide as the longest label needs, at most half the chart; longer labels are
    # shortened with an ellipsis (the full label stays in the bar's tooltip)
    most = width // 2 - 12
    labels = [_fit(label, most) for label, _ in items]
    left = max(60, min(most, max(_text_width(t) for t in labels))) + 12
    ticks = nice_ticks(min(everything), max(everything))
    vmin, vmax = ticks[0], ticks[-1]
    value_texts = [scale.value(v) for _, v in items]
    w = width - left - max(_text_width(t) for t in value_texts) - 16

    def x(v: float) -> float:
        return left + (v - vmin) / (vmax - vmin) * w

    out = list(head)
    bars_bottom = top + row * len(items)
    for i, (label, v) in enumerate(items):
        y = top + i * row
        x0, x1 = sorted((x(0), x(v)))
        # the value right of the bar, or inside its end when a reference line would cross it there
        tw = _text_width(value_texts[i])
        crossed = any(x1 - 1 <= x(r) <= x1 + tw + 8 for _, r in reference)
        inside = crossed and x1 - x0 >= tw + 8
        value = (
            f'<text x="{x1 - 4:.1f}" y="{y + 16}" text-anchor="end" font-size="{LABEL_SIZE}" fill="#ffffff">'
            if inside
            else f'<text x="{x1 + 4:.1f}" y="{y + 16}" font-size="{LABEL_SIZE}" fill="#334155">'
        )
        out.append(
            f'<text x="{left - 6}" y="{y + 16}" text-anchor="end" font-size="{LABEL_SIZE}" fill="#0f172a">'
            f"{escape(labels[i])}</text>"
            f'<rect x="{x0:.1f}" y="{y + 4}" width="{x1 - x0:.1f}" height="{row - 8}" '
            f'fill="{PALETTE[i % len(PALETTE)]}">'
            f"<title>{escape(label)}: {value_texts[i]} {escape(scale.unit)}</title></rect>"
            f"{value}{value_texts[i]}</text>"
        )
    # reference labels: the first row that has room for each (sorted by position)
    rows: list[list[tuple[float, float]]] = []
    placed = []
    ref_row = TICK_SIZE * 1.6
    for name, v in sorted(reference, key=lambda r: r[1]):
        text = f"{name} {scale.value(v)}"
        half = _text_width(text, TICK_SIZE) / 2
        cx = min(max(x(v), half + 2), width - half - 2)
        for k, taken in enumerate([*rows, []]):
            if all(cx + half + 4 < a or cx - half - 4 > b for a, b in taken):
                if k == len(rows):
                    rows.append([])
                rows[k].append((cx - half, cx + half))
                placed.append((text, x(v), cx, k))
                break
    for text, lx, cx, k in placed:
        out.append(
            f'<line x1="{lx:.1f}" x2="{lx:.1f}" y1="{top - 2:.1f}" y2="{bars_bottom + 2:.1f}" '
            'stroke="#dc2626" stroke-dasharray="4 3"/>'
            f'<text x="{cx:.1f}" y="{bars_bottom + 4 + (k + 1) * ref_row - 4:.1f}" text-anchor="middle" '
            f'font-size="{TICK_SIZE}" fill="#dc2626">{escape(text)}</text>'
        )
    height = bars_bottom + len(rows) * ref_row + 10
    return _svg_open("bar", title, width, height) + "".join(out) + "</svg>"


def donut(items: list[tuple[str, float]], *, title: str, notes: list[str] | None = None, width: int = 640) -> str:
    """Shares of a whole (positive parts only): the ring left, the legend (name and share) right."""
    items = [(k, v) for k, v in items if v and v > 0]
    total = sum(v for _, v in items)
    if not items or total <= 0:
        return empty(f"{title}: 暂无数据 no data yet", width)
    head, top = _heading(title, notes or [], width)
    r, r2 = 70, 40
    cx, cy = 16 + r, top + 8 + r
    out = list(head)
    angle = -math.pi / 2
    legend_x, row = cx + r + 30, LABEL_SIZE * LINE + 3
    for i, (label, v) in enumerate(items):
        frac = v / total
        a2 = angle + frac * 2 * math.pi - (1e-6 if frac >= 1 else 0)
        large = 1 if frac > 0.5 else 0
        p = (
            f"M{cx + r * math.cos(angle):.2f},{cy + r * math.sin(angle):.2f} "
            f"A{r},{r} 0 {large} 1 {cx + r * math.cos(a2):.2f},{cy + r * math.sin(a2):.2f} "
            f"L{cx + r2 * math.cos(a2):.2f},{cy + r2 * math.sin(a2):.2f} "
            f"A{r2},{r2} 0 {large} 0 {cx + r2 * math.cos(angle):.2f},{cy + r2 * math.sin(angle):.2f} Z"
        )
        color = PALETTE[i % len(PALETTE)]
        ly = top + 8 + i * row
        out.append(
            f'<path d="{p}" fill="{color}"><title>{escape(label)}: {frac:.1%}</title></path>'
            f'<rect x="{legend_x}" y="{ly + 2:.1f}" width="10" height="10" fill="{color}"/>'
            f'<text x="{legend_x + 14}" y="{ly + 11:.1f}" font-size="{LABEL_SIZE}" fill="#0f172a">'
            f"{escape(_fit(f'{label} {frac:.1%}', width - legend_x - 22))}</text>"
        )
        angle = a2
    height = max(cy + r + 12, top + 8 + len(items) * row + 8)
    return _svg_open("donut", title, width, height) + "".join(out) + "</svg>"
