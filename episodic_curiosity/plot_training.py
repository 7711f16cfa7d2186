"""Plots of training curves from a run's reward CSVs (`step,<name>,timestamp_s`).

    from episodic_curiosity import plot_training
    plot_training.plot_run(run_dir, "reward_curves.png")

Needs matplotlib (extra `video`: pip install 'episodic-curiosity[video]').
"""

from __future__ import annotations

import math
import os

from episodic_curiosity import atomic_files
from episodic_curiosity import environments
from episodic_curiosity import metrics_csv

REWARD_FILES = ("reward_train", "reward_valid", "reward_test")


def plot_run(run_dir: str, output_path: str, title: str | None = None) -> str:
    """Draws reward_{train,valid,test}.csv of `run_dir` against agent steps into a PNG/SVG."""
    try:
        import matplotlib  # pylint: disable=g-import-not-at-top
        matplotlib.use("Agg")
        from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
    except ImportError as e:
        raise environments.MissingDependencyError("matplotlib", "video", "Plotting") from e
    figure, axes = pyplot.subplots(figsize=(7, 4), dpi=100)
    plotted = 0
    for name in REWARD_FILES:
        rows = metrics_csv.read_scalars(os.path.join(run_dir, f"{name}.csv"))
        points = [(step, value) for step, value, _ in rows if not math.isnan(value)]
        if points:
            steps, values = zip(*points)
            axes.plot(steps, values, marker="o" if len(points) < 20 else None, markersize=3,
                      label=name.replace("reward_", ""))
            plotted += 1
    if not plotted:
        pyplot.close(figure)
        raise ValueError(f"no reward values to plot in {run_dir!r}")
    axes.set_xlabel("agent steps")
    axes.set_ylabel("episode task reward")
    axes.set_title(title or os.path.relpath(run_dir))
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    with atomic_files.atomic_path(output_path) as tmp_path:
        figure.savefig(tmp_path)
    pyplot.close(figure)
    return output_path
