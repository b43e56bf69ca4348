"""Small, dependency-free SVG charts (deterministic output, no scripts, no network)."""

from __future__ import annotations

from html import escape

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#475569", "#ea580c"]


def _fmt(v: float) -> str:
    a = abs(v)
    if a >= 1e8:
        return f"{v / 1e8:.1f}亿"
    if a >= 1e4:
        return f"{v / 1e4:.1f}万"
    if a >= 100:
        return f"{v:,.0f}"
    return f"{v:.2f}".rstrip("0").rstrip(".") if a else "0"


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    import math

    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * exp:
            return m * exp
    return 10 * exp


def empty(message: str, width: int = 640, height: int = 80) -> str:
    return (
        f'<svg class="chart empty" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f8fafc" stroke="#e2e8f0"/>'
        f'<text x="{width / 2}" y="{height / 2 + 5}" text-anchor="middle" fill="#64748b" font-size="14">'
        f"{escape(message)}</text></svg>"
    )


def line_chart(
    series: dict[str, list[tuple[str, float]]], *, title: str, unit: str = "", width: int = 640, height: int = 260
) -> str:
    """Lines over a shared category axis (labels in order of first appearance)."""
    labels: list[str] = []
    for points in series.values():
        for x, _ in points:
            if x not in labels:
                labels.append(x)
    values = [v for pts in series.values() for _, v in pts if v is not None]
    if not labels or not values:
        return empty(f"{title}: 暂无数据 no data yet", width)
    left, right, top, bottom = 64, 16, 30, 40
    w, h = width - left - right, height - top - bottom
    vmax = _nice_max(max(*values, 0))
    vmin = min(0.0, *values)
    span = (vmax - vmin) or 1.0
    xs = {lab: left + (w * i / max(1, len(labels) - 1)) for i, lab in enumerate(labels)}

    def y(v):
        return top + h - (v - vmin) / span * h

    out = [
        f'<svg class="chart line" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<text x="{left}" y="18" font-size="13" font-weight="600" fill="#0f172a">{escape(title)}</text>',
    ]
    for k in range(5):
        v = vmin + span * k / 4
        out.append(
            f'<line x1="{left}" x2="{left + w}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e2e8f0"/>'
            f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11" fill="#475569">{_fmt(v)}</text>'
        )
    step = max(1, len(labels) // 8)
    for i, lab in enumerate(labels):
        if i % step == 0 or i == len(labels) - 1:
            # the last label ends at its point (centred, it would be cut off at the chart's right edge)
            anchor = "end" if i == len(labels) - 1 and len(labels) > 1 else "middle"
            out.append(
                f'<text x="{xs[lab]:.1f}" y="{top + h + 16}" text-anchor="{anchor}" font-size="10" fill="#475569">'
                f"{escape(lab)}</text>"
            )
    for n, (name, pts) in enumerate(series.items()):
        color = PALETTE[n % len(PALETTE)]
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{xs[x]:.1f},{y(v):.1f}"
            for i, (x, v) in enumerate(p for p in pts if p[1] is not None)
        )
        out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, v in pts:
            if v is not None and len(pts) <= 40:
                out.append(
                    f'<circle cx="{xs[x]:.1f}" cy="{y(v):.1f}" r="2.5" fill="{color}">'
                    f"<title>{escape(name)} {escape(x)}: {_fmt(v)} {escape(unit)}</title></circle>"
                )
        out.append(
            f'<rect x="{left + 8 + n * 150}" y="{height - 14}" width="10" height="10" fill="{color}"/>'
            f'<text x="{left + 22 + n * 150}" y="{height - 5}" font-size="11" fill="#0f172a">{escape(name)}</text>'
        )
    out.append(f'<text x="8" y="{top - 4}" font-size="10" fill="#64748b">{escape(unit)}</text></svg>')
    return "".join(out)


def _text_width(text: str, size: int = 11) -> float:
    """Rendered width estimate: a CJK character is one em, a Latin one about 0.6 em."""
    return sum(size if "\u2e80" <= ch <= "\uffef" else 0.6 * size for ch in text)


def _fit(text: str, width: float, size: int = 11) -> str:
    """The text, shortened with an ellipsis to fit `width`."""
    if _text_width(text, size) <= width:
        return text
    while text and _text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def bar_chart(
    items: list[tuple[str, float]],
    *,
    title: str,
    unit: str = "",
    width: int = 640,
    reference: list[tuple[str, float]] | None = None,
) -> str:
    """Horizontal bars, largest first as given; optional reference lines (e.g. limit grades)."""
    items = [(k, v) for k, v in items if v is not None]
    if not items:
        return empty(f"{title}: 暂无数据 no data yet", width)
    row, top = 24, 28
    # the label column as wide as the longest label needs, at most half the chart; longer labels are
    # shortened with an ellipsis (the full label stays in the bar's tooltip)
    most = width // 2 - 12
    labels = [_fit(label, most) for label, _ in items]
    left = max(120, min(most, max(_text_width(t) for t in labels))) + 12
    height = top + row * len(items) + 24
    vmax = _nice_max(max([v for _, v in items] + [r[1] for r in (reference or [])] + [0]))
    w = width - left - 70
    out = [
        f'<svg class="chart bar" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<text x="8" y="18" font-size="13" font-weight="600" fill="#0f172a">{escape(title)}</text>',
    ]
    for i, (label, v) in enumerate(items):
        y = top + i * row
        bw = max(0.0, v) / vmax * w
        out.append(
            f'<text x="{left - 6}" y="{y + 15}" text-anchor="end" font-size="11" fill="#0f172a">'
            f"{escape(labels[i])}</text>"
            f'<rect x="{left}" y="{y + 4}" width="{bw:.1f}" height="{row - 8}" fill="{PALETTE[i % len(PALETTE)]}">'
            f"<title>{escape(label)}: {_fmt(v)} {escape(unit)}</title></rect>"
            f'<text x="{left + bw + 4:.1f}" y="{y + 15}" font-size="11" fill="#334155">{_fmt(v)}</text>'
        )
    for name, v in reference or []:
        x = left + v / vmax * w
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{height - 20}" stroke="#dc2626" '
            'stroke-dasharray="4 3"/>'
            f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" font-size="10" fill="#dc2626">'
            f"{escape(name)}</text>"
        )
    out.append(
        f'<text x="{width - 8}" y="18" text-anchor="end" font-size="10" fill="#64748b">{escape(unit)}</text></svg>'
    )
    return "".join(out)


def donut(items: list[tuple[str, float]], *, title: str, width: int = 320, height: int = 220) -> str:
    import math

    items = [(k, v) for k, v in items if v and v > 0]
    total = sum(v for _, v in items)
    if not items or total <= 0:
        return empty(f"{title}: 暂无数据 no data yet", width)
    cx, cy, r, r2 = 90, 120, 70, 40
    out = [
        f'<svg class="chart donut" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<text x="8" y="18" font-size="13" font-weight="600" fill="#0f172a">{escape(title)}</text>',
    ]
    angle = -math.pi / 2
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
        out.append(
            f'<path d="{p}" fill="{color}"><title>{escape(label)}: {frac:.1%}</title></path>'
            f'<rect x="180" y="{40 + i * 18}" width="10" height="10" fill="{color}"/>'
            f'<text x="195" y="{49 + i * 18}" font-size="11" fill="#0f172a">{escape(label)} {frac:.1%}</text>'
        )
        angle = a2
    out.append("</svg>")
    return "".join(out)
