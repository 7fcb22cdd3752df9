"""The report dict as one self-contained HTML page: report.html.

Inline CSS and SVG, no external asset, and a CJK font stack, so the page reads
in Chinese offline. It shows the tables of ``report_tables`` (cut at
:data:`HTML_MAX_ROWS` rows; the CSVs and the workbook have all), with charts
above some of them.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from apps.analysis.report_tables import Table

HTML_MAX_ROWS = 300

CSS = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Microsoft YaHei",
"WenQuanYi Micro Hei",system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;
color:#222;line-height:1.5}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2.5rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.85rem}
th,td{border:1px solid #ddd;padding:.2rem .45rem;text-align:right;white-space:nowrap}
th{background:#f3f3f3}td.t{text-align:left}.scroll{overflow-x:auto}
svg text{font-family:inherit;font-size:12px}.note{color:#555;font-size:.85rem}
"""


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != 0 and abs(value) < 0.001:
            return f"{value:.2e}"
        return f"{value:.3f}"
    return str(value)


def _html_table(table: Table) -> str:
    """The table, cut at HTML_MAX_ROWS rows (the CSV and the workbook have all)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = []
    for row in table.rows[:HTML_MAX_ROWS]:
        cells = "".join(
            f'<td class="t">{html.escape(str(v))}</td>'
            if isinstance(v, str)
            else f"<td>{html.escape(_fmt(v))}</td>"
            for v in row
        )
        body.append(f"<tr>{cells}</tr>")
    more = len(table.rows) - HTML_MAX_ROWS
    csv_name = html.escape(f"{table.name}.csv")
    note = f'<p class="note">{more} more rows in {csv_name} 其余 {more} 行见 {csv_name}</p>'
    note = note if more > 0 else ""
    return f'<div class="scroll"><table><tr>{head}</tr>{"".join(body)}</table></div>{note}'


def _interval_chart(
    rows: list[tuple[str, float | None, list | None]],
    *,
    title: str,
    span: tuple[float, float] = (0.0, 0.0),
) -> str:
    """Horizontal dots with whiskers: one row per label, a zero line when 0 is in range."""
    shown = [(label, v, ci) for label, v, ci in rows if v is not None]
    if not shown:
        return ""
    values = [v for _, v, _ in shown] + [x for _, _, ci in shown if ci for x in ci]
    low, high = min([*values, span[0]]), max([*values, span[1]])
    if math.isclose(low, high):
        high = low + 1.0
    label_w, plot_w, row_h = 160, 420, 22
    height = row_h * len(shown) + 30

    def x(value: float) -> float:
        return label_w + (value - low) / (high - low) * plot_w

    parts = [
        f'<svg width="{label_w + plot_w + 60}" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<line x1="{x(0):.1f}" y1="4" x2="{x(0):.1f}" y2="{height - 22}" stroke="#999"/>',
    ]
    for i, (label, value, ci) in enumerate(shown):
        y = 14 + i * row_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 4}" text-anchor="end">{html.escape(label)}</text>'
        )
        parts.append(
            f'<rect x="{min(x(0), x(value)):.1f}" y="{y - 6}" width="{abs(x(value) - x(0)):.1f}" '
            f'height="12" fill="#7a9cc6"/>'
        )
        if ci:
            parts.append(
                f'<line x1="{x(ci[0]):.1f}" y1="{y}" x2="{x(ci[1]):.1f}" y2="{y}" '
                f'stroke="#222" stroke-width="1.5"/>'
            )
        parts.append(f'<text x="{label_w + plot_w + 8}" y="{y + 4}">{_fmt(value)}</text>')
    for tick in sorted({low, 0.0, high}):
        parts.append(
            f'<text x="{x(tick):.1f}" y="{height - 6}" text-anchor="middle">{_fmt(tick)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _profile_heatmap(report: dict) -> str:
    """Model × dimension table of mean scores, shaded by the deviation (z): blue
    where the model is relatively strong, red where it is weak."""
    dimensions = list(report["agreement"])
    if not report["models"]:
        return ""
    head = "".join(f"<th>{html.escape(d)}</th>" for d in dimensions)
    rows = []
    for model, entry in report["models"].items():
        cells = []
        for dimension in dimensions:
            p = entry["dimensions"].get(dimension) or {}
            deviation = p.get("deviation")
            shade = 0.0 if deviation is None else max(-1.0, min(1.0, deviation))
            colour = (
                f"rgba(60,110,200,{shade:.2f})" if shade >= 0 else (f"rgba(210,70,60,{-shade:.2f})")
            )
            text = f"{_fmt(p.get('mean'))} ({_fmt(deviation)})"
            cells.append(f'<td style="background:{colour}">{html.escape(text)}</td>')
        rows.append(f'<tr><td class="t">{html.escape(model)}</td>{"".join(cells)}</tr>')
    return (
        '<h3>mean (deviation) 均值（偏差）</h3><div class="scroll"><table>'
        f"<tr><th>model</th>{head}</tr>{''.join(rows)}</table></div>"
    )


def _charts(report: dict) -> dict[str, str]:
    """Charts shown above the table of the same name."""
    charts = {}
    alpha_rows = [
        (d, e["krippendorff_alpha"][e["level"]], e["krippendorff_alpha"]["ci95"])
        for d, e in report["agreement"].items()
    ]
    charts["agreement"] = _interval_chart(alpha_rows, title="Krippendorff's alpha", span=(0, 1))
    profile_charts = []
    dimensions = list(report["agreement"])
    for dimension in dimensions:
        rows = [
            (m, e["dimensions"].get(dimension, {}).get("deviation"), None)
            for m, e in report["models"].items()
        ]
        chart = _interval_chart(rows, title=f"deviation {dimension}")
        if chart:
            profile_charts.append(f"<h3>{html.escape(dimension)} · deviation (z)</h3>{chart}")
    charts["model_profiles"] = _profile_heatmap(report) + "".join(profile_charts)
    if report.get("pairwise"):
        bt = report["pairwise"]["bradley_terry"]
        rows = [(m, e["log_strength"], e["ci95"]) for m, e in bt.items()]
        charts["pairwise_bradley_terry"] = _interval_chart(rows, title="Bradley-Terry")
    return charts


NOTES = {
    "agreement": "α at the dimension's own level is charted, with its bootstrap 95% CI. "
    "α 按各维度自身测量水平绘制，附自助法 95% 置信区间。",
    "model_profiles": "deviation: the model's rater-standardised mean minus the mean over "
    "models; positive = relatively strong. "
    "偏差：模型的评审内标准化均值减去各模型平均，正值为相对强项。",
    "win_rate": "ties count as half a win. 平局记为半胜。",
}


def write_html(report: dict, tables: list[Table], path: Path) -> Path:
    """Write the page of ``report`` showing ``tables`` to ``path``, and return it."""
    source = report["input"]
    charts = _charts(report)
    names = ", ".join(f["name"] for f in source.get("files", [])) or "ratings"
    intro = (
        f"{source['ratings']} ratings 评分 · {source['raters']} raters 评审 · "
        f"{source['items']} items 作品 · {source['models']} models 模型"
    )
    body = [
        f"<h1>Analysis report 分析报告 — {html.escape(names)}</h1>",
        f"<p>{html.escape(intro)}</p>",
    ]
    for table in tables:
        body.append(f'<h2 id="{table.name}">{html.escape(table.title)}</h2>')
        if table.name in NOTES:
            body.append(f'<p class="note">{html.escape(NOTES[table.name])}</p>')
        body.append(charts.get(table.name, ""))
        body.append(_html_table(table))
    methods = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>"
        for k, v in report.get("methods", {}).items()
    )
    body.append(f"<h2>Methods 方法</h2><ul class=note>{methods}</ul>")
    page = (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>evalsite analysis — {html.escape(names)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
    path.write_text(page, encoding="utf-8")
    return path
