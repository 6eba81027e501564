"""Pictures of a comparison of runs: every metric as a strip plot (one point per seed, the mean as a
bar) and the training curves of all runs overlaid. Each returns PNG bytes, so that a report is drawn
in full before a file is written."""
from __future__ import annotations

import io
import math
from typing import Dict, List, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pyrodisent.figures.plots import subplots

#: a colour per model label, in order of appearance (matplotlib's tab10)
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]


def label_colours(labels: Sequence[str]) -> Dict[str, str]:
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(dict.fromkeys(labels))}


def png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def strip_plots(frame: pd.DataFrame, metrics: Sequence[str], columns: int = 4) -> bytes:
    """One panel per metric: each label's seeds as points (jittered sideways, seeded), its mean as a bar."""
    labels = list(dict.fromkeys(frame["label"]))
    colours = label_colours(labels)
    rows = max(1, math.ceil(len(metrics) / columns))
    width = min(columns, max(1, len(metrics)))
    fig, axes = subplots(rows, width, figsize=(3.4 * width, 2.9 * rows), squeeze=False)
    rng = np.random.default_rng(0)
    for panel, metric in zip(axes.flat, metrics):
        for position, label in enumerate(labels):
            values = frame.loc[frame["label"] == label, metric].dropna().to_numpy(dtype=float)
            if not len(values):
                continue
            jitter = rng.uniform(-0.12, 0.12, len(values)) if len(values) > 1 else np.zeros(1)
            panel.scatter(position + jitter, values, s=22, color=colours[label], zorder=3, edgecolor="white",
                          linewidth=0.5)
            panel.hlines(values.mean(), position - 0.28, position + 0.28, color=colours[label], linewidth=2)
        panel.set_title(metric, fontsize=9)
        panel.set_xticks(range(len(labels)))
        panel.set_xticklabels(labels, rotation=30 if max(map(len, labels)) > 8 else 0, ha="right"
                              if max(map(len, labels)) > 8 else "center", fontsize=8)
        panel.tick_params(axis="y", labelsize=8)
        panel.grid(axis="y", alpha=0.3)
        panel.set_xlim(-0.6, len(labels) - 0.4)
    for panel in list(axes.flat)[len(metrics):]:
        panel.set_visible(False)
    fig.tight_layout()
    return png_bytes(fig)


def training_curves(logs: Sequence[pd.DataFrame], labels: Sequence[str], seeds: Sequence[int],
                    column: str = "loss") -> bytes:
    """The training loss per data point against epoch, one line per run, one colour per label; the
    y-axis spans the curves after their first tenth (the first epochs would flatten the rest)."""
    colours = label_colours(labels)
    fig, (loss_axes, time_axes) = subplots(1, 2, figsize=(11, 3.6))
    tails: List[np.ndarray] = []
    seen = set()
    for log, label, seed in zip(logs, labels, seeds):
        if log is None or column not in log or not len(log):
            continue
        epochs, values = log["epoch"].to_numpy(), log[column].to_numpy(dtype=float)
        legend = label if label not in seen else None
        seen.add(label)
        loss_axes.plot(epochs, values, color=colours[label], linewidth=1.2, alpha=0.85, label=legend)
        tails.append(values[len(values) // 10:])
        if "seconds" in log:
            time_axes.plot(log["seconds"].to_numpy(dtype=float), values, color=colours[label], linewidth=1.2,
                           alpha=0.85, label=legend)
    if tails:
        tail = np.concatenate(tails)
        tail = tail[np.isfinite(tail)]
        if len(tail):
            low, high = float(tail.min()), float(np.quantile(tail, 0.98))
            pad = 0.05 * (high - low or 1.0)
            for axes in (loss_axes, time_axes):
                axes.set_ylim(low - pad, high + pad)
    loss_axes.set_xlabel("epoch")
    time_axes.set_xlabel("seconds of training")
    for axes in (loss_axes, time_axes):
        axes.set_ylabel(f"{column} per data point")
        axes.grid(alpha=0.3)
    loss_axes.set_title("training curves (one line per seed)", fontsize=10)
    time_axes.set_title("against wall time", fontsize=10)
    if seen:
        loss_axes.legend(fontsize=8)
    fig.tight_layout()
    return png_bytes(fig)
