"""The comparison report (``pyrodisent compare``): many runs — models × seeds × protocols — side by side.

:func:`write_report` reads run directories and writes, into one folder, ``report.html`` (self-contained:
pictures embedded, opens offline), ``report.md`` (a Markdown summary), ``runs.csv`` (one row per run) and
``figures/``. Per protocol: every metric per model as mean ± sd over seeds, strip plots with one point
per seed, the training curves overlaid, ArviZ's PSIS-LOO comparison where runs share evaluation points
(:mod:`.loo`), and the runs' pictures side by side. Everything is read and drawn before a file is
written: a bad run directory leaves ``out`` untouched.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

from pyrodisent.figures.comparison import strip_plots, training_curves
from pyrodisent.report.loo import loo_report
from pyrodisent.report.page import ProtocolSection, html_page, markdown_page
from pyrodisent.report.records import (RunRecord, metric_columns, read_runs, runs_frame, summary_table,
                                       varying_columns)
from pyrodisent.training.run_directory import atomic_write_bytes

#: run-directory pictures that are not shown side by side (the training curves are overlaid instead)
NOT_SIDE_BY_SIDE = ("training_log.png",)

__all__ = ["write_report", "read_runs", "RunRecord"]


def write_report(runs: Sequence[Path], out, title: Optional[str] = None,
                 group_by: Sequence[str] = ()) -> Dict[str, Path]:
    """Compare the runs in ``runs`` (run directories) and write the report into ``out``.

    :param group_by: dotted config keys (``model_settings.beta``) whose values split a model's runs
        into separate rows.
    :returns: the written paths by kind: ``html``, ``markdown``, ``table`` (runs.csv), ``figures``.
    """
    records = read_runs(runs, group_by)
    frame = runs_frame(records)
    sections = [protocol_section(protocol, [r for r in records if r.protocol == protocol], frame)
                for protocol in dict.fromkeys(r.protocol for r in records)]
    title = title or "Comparison of " + ", ".join(dict.fromkeys(r.label for r in records)) + " on " + \
        ", ".join(s.protocol for s in sections)

    out = Path(out)
    figures_dir = out / "figures"
    figures: Dict[str, Dict[str, Path]] = {}
    out.mkdir(parents=True, exist_ok=True)
    figures_dir.mkdir(exist_ok=True)
    for section in sections:
        written = {"strip plots": atomic_write_bytes(figures_dir / f"{section.slug}_metrics.png", section.strip_png)}
        if section.curves_png is not None:
            written["training curves"] = atomic_write_bytes(figures_dir / f"{section.slug}_training_curves.png",
                                                            section.curves_png)
        for name, shown in section.pictures.items():
            for record in shown:
                written[f"{name}: {record.label}, seed {record.seed}"] = record.path / name
        figures[section.protocol] = written
    paths = {"html": atomic_write_bytes(out / "report.html", html_page(title, sections).encode()),
             "markdown": atomic_write_bytes(out / "report.md",
                                            markdown_page(title, sections, figures, out).encode()),
             "table": atomic_write_bytes(out / "runs.csv", frame.to_csv(index=False).encode()),
             "figures": figures_dir}
    return paths


def protocol_section(protocol: str, records: List[RunRecord], frame) -> ProtocolSection:
    from pyrodisent.registry import PROTOCOLS

    rows = frame[frame["protocol"] == protocol]
    metrics = varying_columns(rows, metric_columns(rows))
    logs = [r.log for r in records]
    has_curves = any(log is not None and "loss" in log for log in logs)
    description = PROTOCOLS.describe(protocol) if protocol in PROTOCOLS else "(a protocol not registered here)"
    return ProtocolSection(
        protocol=protocol, description=description, records=records, summary=summary_table(rows),
        strip_png=strip_plots(rows, metrics),
        curves_png=training_curves(logs, [r.label for r in records], [r.seed for r in records]) if has_curves
        else None,
        loo=loo_report(records), pictures=side_by_side(records))


def side_by_side(records: Sequence[RunRecord]) -> Dict[str, List[RunRecord]]:
    """Picture name → one run per label (its lowest seed) holding it, for pictures at least two labels have
    (or any picture when there is one label)."""
    first: Dict[str, RunRecord] = {}
    for record in sorted(records, key=lambda r: r.seed):
        first.setdefault(record.label, record)
    names: Dict[str, List[RunRecord]] = {}
    for record in first.values():
        for picture in sorted(record.path.glob("*.png")):
            if picture.name not in NOT_SIDE_BY_SIDE:
                names.setdefault(picture.name, []).append(record)
    return {name: shown for name, shown in names.items() if len(shown) >= min(2, len(first))}
