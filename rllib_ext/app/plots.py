"""The PNG plots of run folders: what a person wants to see of a run, drawn from its ``progress.csv`` rows."""

import math
from pathlib import Path
from typing import Dict, List, Sequence

from rllib_ext.utils.plotting import pyplot

Rows = List[Dict[str, float]]


def _curve(ax, rows: Rows, x_key: str, key: str, label: str) -> bool:
    points = [(r[x_key], r[key]) for r in rows if key in r and not math.isnan(r[key])]
    if points:
        ax.plot(*zip(*points), marker="." if len(points) < 30 else None, label=label)
    return bool(points)


def _save(fig, title: str, target: Path) -> Path:
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    pyplot().close(fig)
    return target


def plot_players(rows: Rows, metric_names: Sequence[str], title: str, target: Path) -> Path:
    """One panel per metric: every player's ``<agent>/<metric>`` against the training iteration."""
    fig, axes = pyplot().subplots(1, len(metric_names), figsize=(5 * len(metric_names), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metric_names):
        for key in sorted({k for r in rows for k in r if k == metric or k.endswith("/" + metric)}):
            _curve(ax, rows, "training_iteration", key, key.split("/")[0] if "/" in key else "overall")
        ax.set(xlabel="training iteration", ylabel=metric)
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, title, target)


def plot_offline(rows: Rows, title: str, target: Path) -> Path:
    """An offline run against gradient steps: the learner's losses, its value estimate (if it learns one), and
    success per task (curves over the evaluations, or bars when there was one)."""
    plt = pyplot()
    keys = sorted({k for r in rows for k in r})
    losses = [k for k in keys if k.startswith("learner/") and k.endswith("_loss")]
    values = [k for k in keys if k == "learner/value_mean"]
    evaluated = [r for r in rows if "success" in r and not math.isnan(r["success"])]
    panels = 1 + bool(values) + 1
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.6), squeeze=False)
    ax = axes[0][0]
    for key in losses:
        _curve(ax, rows, "steps", key, key.split("/", 1)[1])
    ax.set(xlabel="gradient steps", ylabel="loss", title="losses")
    scales = [abs(r[k]) for r in rows for k in losses if isinstance(r.get(k), float) and math.isfinite(r[k]) and r[k]]
    if scales and max(scales) > 100 * min(scales):  # terms of very different sizes (QRL's value loss ~500)
        ax.set_yscale("symlog", linthresh=min(1.0, max(min(scales), 1e-3)))
    if values:
        ax = axes[0][1]
        _curve(ax, rows, "steps", values[0], "mean V(s, g)")
        ax.set(xlabel="gradient steps", ylabel="value estimate", title="value estimate")
    ax = axes[0][-1]
    tasks = [k for k in keys if k.startswith("task_") and k.endswith("/success")]
    if len(evaluated) == 1:
        last = evaluated[0]
        names = [k.split("/")[0] for k in tasks] + ["overall"]
        ax.bar(names, [last.get(k, math.nan) for k in tasks] + [last["success"]], color="tab:blue")
        ax.set(title=f"success at {int(last['steps']):,} steps")
    else:
        for key in tasks:
            _curve(ax, evaluated, "steps", key, key.split("/")[0])
        _curve(ax, evaluated, "steps", "success", "overall")
        ax.set(xlabel="gradient steps", title="success per task")
    ax.set(ylim=(-0.02, 1.02), ylabel="success rate")
    for ax in axes[0]:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return _save(fig, title, target)


def plot_success(result: Dict[str, float], title: str, target: Path) -> Path:
    """Bar chart of per-task and overall success of one evaluation."""
    values = {k.split("/")[0]: result[k] for k in sorted(result) if k.endswith("/success")}
    values["overall"] = result.get("success", math.nan)
    fig, ax = pyplot().subplots(figsize=(6, 3.6))
    ax.bar(list(values), list(values.values()), color="tab:blue")
    ax.set(ylim=(0, 1), ylabel="success rate")
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, title, target)


def plot_cooperation(rows_by_run: Dict[str, Rows], target: Path) -> Path:
    """One panel per IPD pairing (``"reciprocator-vs-naive"``): both players' cooperation rate over training."""
    fig, axes = pyplot().subplots(1, len(rows_by_run), figsize=(5.5 * len(rows_by_run), 3.8), squeeze=False,
                                  sharey=True)
    for ax, (name, rows) in zip(axes[0], rows_by_run.items()):
        for i, kind in enumerate(name.split("-vs-")):
            _curve(ax, rows, "training_iteration", f"player_{i}/cooperation_rate", f"player_{i} ({kind})")
        ax.set(title=name.replace("-vs-", " vs "), xlabel="training iteration", ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0][0].set_ylabel("P(cooperate)")
    return _save(fig, "", target)
