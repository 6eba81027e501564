"""The comparison report as one self-contained HTML page (pictures embedded as data URIs: it opens offline,
and can be mailed) and a Markdown summary. Everything shown is drawn from :class:`ProtocolSection` values
built beforehand; these functions only format them."""
from __future__ import annotations

import base64
import datetime as _dt
import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pandas as pd

from pyrodisent.report.loo import LooReport
from pyrodisent.report.records import RunRecord

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1300px;
       color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.meta { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.85em; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
.scroll { overflow-x: auto; }
img { max-width: 100%; }
.pictures { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.pictures figure { margin: 0; flex: 1 1 300px; max-width: 420px; }
.pictures figure.wide { flex: 1 1 100%; max-width: 900px; }
figcaption { font-size: 0.85em; color: #444; text-align: center; }
.note { color: #8a5a00; font-size: 0.9em; }
details { margin: 0.5em 0; } summary { cursor: pointer; color: #245; }
"""


@dataclass
class ProtocolSection:
    """What the report shows of one protocol."""

    protocol: str
    description: str
    records: List[RunRecord]
    summary: pd.DataFrame
    strip_png: bytes
    curves_png: Optional[bytes]
    loo: LooReport
    pictures: Dict[str, List[RunRecord]] = field(default_factory=dict)  # picture name → one run per label

    @property
    def slug(self) -> str:
        return "".join(c if c.isalnum() else "_" for c in self.protocol)


# ------------------------------------------------------------------ HTML
def html_page(title: str, sections: Sequence[ProtocolSection]) -> str:
    runs = sum(len(s.records) for s in sections)
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
             f"<style>{STYLE}</style></head><body>",
             f"<h1>{_e(title)}</h1>",
             f"<p class='meta'>{runs} runs, {len(sections)} protocol{'s' if len(sections) != 1 else ''}; written "
             f"{_dt.datetime.now().strftime('%Y-%m-%d %H:%M')} by <code>pyrodisent compare</code>. Mean ± sd over "
             "seeds (sample sd).</p>"]
    if len(sections) > 1:
        parts.append("<p>" + " · ".join(f"<a href='#{s.slug}'>{_e(s.protocol)}</a>" for s in sections) + "</p>")
    for section in sections:
        parts.append(section_html(section))
    parts.append("</body></html>")
    return "\n".join(parts)


def section_html(section: ProtocolSection) -> str:
    parts = [f"<h2 id='{section.slug}'>{_e(section.protocol)}</h2>", f"<p>{_e(section.description)}</p>",
             "<h3>Metrics</h3>", f"<div class='scroll'>{table_html(section.summary)}</div>",
             _image(section.strip_png, f"strip plots of {section.protocol}")]
    if section.curves_png is not None:
        parts += ["<h3>Training curves</h3>", _image(section.curves_png, f"training curves of {section.protocol}")]
    parts.append("<h3>PSIS-LOO (ArviZ <code>az.compare</code>)</h3>")
    ranking = section.loo.ranking()
    if ranking is None:
        parts.append("<p class='note'>No comparison: no two models share evaluation points and a pointwise "
                     "log-likelihood on the same seed.</p>")
    else:
        parts.append("<p>Ranked by expected log predictive density (elpd_loo) on each seed's shared evaluation "
                     "points; <em>elpd_diff</em> is the gap to the best model of that seed (0 for it). "
                     "k̂ &gt; 0.7: share of points whose leave-one-out estimate is unreliable.</p>")
        parts.append(table_html(ranking.rename(columns={"mean_rank": "mean rank", "first": "ranked first",
                                                        "elpd_diff_sd": "sd"}), digits=3))
        for comparison in section.loo.comparisons:
            unreliable = comparison.table["khat_share_above_0_7"].max()
            warning = (f" — <span class='note'>k̂ &gt; 0.7 at up to {unreliable:.0%} of the points</span>"
                       if unreliable > 0 else "")
            parts.append(f"<details><summary>seed {comparison.seed}: {len(comparison.table)} models on the same "
                         f"points (evaluation data {comparison.fingerprint}){warning}</summary>"
                         f"{table_html(comparison.table, digits=3)}</details>")
    for note in section.loo.notes:
        parts.append(f"<p class='note'>{_e(note)}</p>")
    if section.pictures:
        parts.append("<h3>Pictures side by side</h3>")
        for name, records in section.pictures.items():
            figures = ""
            for record in records:
                png = (record.path / name).read_bytes()
                wide = " class='wide'" if aspect_ratio(png) > WIDE_PICTURE else ""
                figures += (f"<figure{wide}>{_image(png, f'{name} of {record.label}')}<figcaption>{_e(record.label)}, "
                            f"seed {record.seed}</figcaption></figure>")
            parts.append(f"<h4>{_e(name)}</h4><div class='pictures'>{figures}</div>")
    runs = "".join(f"<tr><td>{_e(r.label)}</td><td>{r.seed}</td><td>{_e(str(r.path))}</td></tr>"
                   for r in section.records)
    parts.append(f"<details><summary>{len(section.records)} runs</summary><table><tr><th>model</th><th>seed</th>"
                 f"<th>run directory</th></tr>{runs}</table></details>")
    return "\n".join(parts)


def table_html(table: pd.DataFrame, digits: int = 4) -> str:
    header = "".join(f"<th>{_e(str(c))}</th>" for c in [table.index.name or "", *table.columns])
    rows = []
    for index, row in table.astype(object).iterrows():  # object: integer columns stay integers
        cells = "".join(f"<td>{_e(_cell(v, digits))}</td>" for v in row)
        rows.append(f"<tr><td>{_e(str(index))}</td>{cells}</tr>")
    return f"<table><tr>{header}</tr>{''.join(rows)}</table>"


#: pictures wider than this (width / height) get a row of their own rather than a column
WIDE_PICTURE = 2.2


def aspect_ratio(png: bytes) -> float:
    """Width / height of a PNG, read from its header (1 when it is not one)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or len(png) < 24:
        return 1.0
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    return width / height if height else 1.0


def _image(png: bytes, alt: str) -> str:
    return f"<img alt='{_e(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode('ascii')}'>"


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)


# ------------------------------------------------------------------ Markdown
def markdown_page(title: str, sections: Sequence[ProtocolSection], figures: Dict[str, Dict[str, Path]],
                  out: Path) -> str:
    """The summary: per protocol the metric table, the LOO ranking and links to the pictures (``figures``:
    protocol → {caption: written file})."""
    lines = [f"# {title}", "", f"{sum(len(s.records) for s in sections)} runs; mean ± sd over seeds. "
             "Pictures and the full report: report.html.", ""]
    for section in sections:
        lines += [f"## {section.protocol}", "", section.description, "", table_markdown(section.summary), ""]
        ranking = section.loo.ranking()
        if ranking is not None:
            lines += ["PSIS-LOO ranking (az.compare per seed on shared evaluation points):", "",
                      table_markdown(ranking, digits=3), ""]
        lines += [f"- {note}" for note in section.loo.notes]
        for caption, path in figures.get(section.protocol, {}).items():
            lines.append(f"- [{caption}]({os.path.relpath(path, out)})")
        lines.append("")
    return "\n".join(lines)


def table_markdown(table: pd.DataFrame, digits: int = 4) -> str:
    columns = [table.index.name or "", *map(str, table.columns)]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(["---"] * len(columns)) + "|"]
    for index, row in table.astype(object).iterrows():  # object: integer columns stay integers
        lines.append("| " + " | ".join([str(index), *(_cell(v, digits) for v in row)]) + " |")
    return "\n".join(lines)


def _cell(value, digits: int) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        return f"{value:.{digits}f}" if abs(value) < 1e5 else f"{value:.4g}"
    return str(value)
