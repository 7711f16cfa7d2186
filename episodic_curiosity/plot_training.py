r"""Training curves and final-reward tables from the reward CSVs of one or many workdirs.

Reads `reward_{train,valid,test}.csv` (`step,<name>,timestamp_s`, the original code) of every
run found under the given folders:

  * the launcher layout `<workdir>/<method>/<scenario>/run_number_<n>/` (any number of folders
    above it, e.g. a sweep's `<vm_id>/`): method and scenario come from the path;
  * any other folder holding reward CSVs (a single run dir, the original's fixture
    `original_workdirs/train_policy/`): method = the folder's name, scenario = `env_name` from
    its `flags.txt` (absl's `--env_name=...` or the original's `env_name=...`), else 'unknown'.

Per split it draws, for every scenario, one line per method: the mean over runs with a band of
± one standard deviation (numpy's population std, ddof=0). Runs are linearly interpolated on a
common step grid (the union of their steps, thinned to at most 400 points); at each grid step
only the runs whose own steps cover it are averaged. NaN values (e.g. `reward_train` before the
first finished episode) are dropped first.

The **final value** of a run is the last non-NaN value of its CSV (whatever step it reached).
The summary table gives, per (split, scenario, method), the mean ± std of the runs' final values
and the number of runs that have one, as the paper's Table 1 (rows scenario, columns method).

    python -m episodic_curiosity.plot_training --workdirs=/tmp/sweep1,/tmp/sweep2 \
        --output_dir=/tmp/plots [--splits=train,valid,test]

    from episodic_curiosity import plot_training
    result = plot_training.report(["/tmp/sweep1"], "/tmp/plots")
    plot_training.plot_run(run_dir, "reward_curves.png")   # one run, all splits

Needs matplotlib (extra `video`: pip install 'episodic-curiosity[video]').
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import io
import math
import os
import re
from typing import Sequence

from absl import app
from absl import flags
import numpy as np

from episodic_curiosity import atomic_files
from episodic_curiosity import environments
from episodic_curiosity import metrics_csv
from episodic_curiosity import progress_log

SPLITS = ("train", "valid", "test")
REWARD_FILES = tuple(f"reward_{split}" for split in SPLITS)
SUMMARY_COLUMNS = ("method", "scenario", "split", "num_runs", "final_mean", "final_std")
_RUN_NUMBER = re.compile(r"^run_number_(\d+)$")
_MAX_GRID_POINTS = 400
# Sub-folders of a run that never hold reward CSVs; not walked into (they can be large).
_SKIPPED_FOLDERS = {"checkpoints", "r_training_data", "r_networks", "tb", "eco_history"}


@dataclasses.dataclass(frozen=True)
class Run:
    """One run directory and what it belongs to.

    Attributes:
      path: str, the folder holding the reward CSVs.
      method: str, e.g. 'ppo_plus_ec'.
      scenario: str, e.g. 'vizdoom_sparse'.
      run_number: int or None, n of `run_number_<n>` (None outside the launcher layout).
    """

    path: str
    method: str
    scenario: str
    run_number: int | None = None


@dataclasses.dataclass(frozen=True)
class Curve:
    """Mean ± std of several runs on a common step grid.

    Attributes:
      steps: float [G], the grid.
      mean: float [G], mean over the runs covering each grid step.
      std: float [G], their population standard deviation.
      count: int [G], how many runs cover each grid step.
    """

    steps: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    count: np.ndarray


def _pyplot():
    try:
        import matplotlib  # pylint: disable=g-import-not-at-top

        matplotlib.use("Agg")
        from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
    except ImportError as e:
        raise environments.MissingDependencyError("matplotlib", "video", "Plotting") from e
    return pyplot


# --- Finding and reading runs ---------------------------------------------------------------


def _scenario_from_flags(run_dir: str) -> str | None:
    path = os.path.join(run_dir, "flags.txt")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        for line in f:
            name, _, value = line.strip().lstrip("-").partition("=")
            if name == "env_name" and value:
                return value
    return None


def describe_run(run_dir: str) -> Run:
    """The method/scenario/run number of `run_dir` (see the module docstring for the rules)."""
    path = os.path.abspath(run_dir)
    parts = path.split(os.sep)
    match = _RUN_NUMBER.match(parts[-1])
    if match and len(parts) >= 3 and parts[-3] and parts[-2]:
        return Run(path, method=parts[-3], scenario=parts[-2], run_number=int(match.group(1)))
    return Run(path, method=parts[-1], scenario=_scenario_from_flags(path) or "unknown")


def find_runs(workdir: str) -> list[Run]:
    """All folders under (or equal to) `workdir` that hold a reward CSV, sorted by path.

    Raises:
      ValueError: `workdir` does not exist or holds no reward CSV.
    """
    if not os.path.isdir(workdir):
        raise ValueError(f"workdir {workdir!r} does not exist or is not a folder")
    names = {f"{name}.csv" for name in REWARD_FILES}
    runs = []
    for folder, subfolders, files in os.walk(workdir):
        subfolders[:] = sorted(s for s in subfolders if s not in _SKIPPED_FOLDERS)
        if names & set(files):
            runs.append(describe_run(folder))
    if not runs:
        raise ValueError(f"no run CSVs (reward_train/valid/test.csv) found under {workdir!r}")
    return sorted(runs, key=lambda run: run.path)


def read_curve(run_dir: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of `reward_<split>.csv` in `run_dir`, NaN values dropped; empty if absent."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    rows = metrics_csv.read_scalars(os.path.join(run_dir, f"reward_{split}.csv"))
    points = [(step, value) for step, value, _ in rows if not math.isnan(value)]
    if not points:
        return np.zeros(0), np.zeros(0)
    steps, values = (np.asarray(column, np.float64) for column in zip(*points))
    return steps, values


def final_value(values: np.ndarray) -> float:
    """The last non-NaN value (NaN if there is none): a run's "final reward"."""
    values = np.asarray(values, np.float64)
    finite = values[~np.isnan(values)]
    return float(finite[-1]) if finite.size else math.nan


def aggregate_curves(curves: Sequence[tuple[np.ndarray, np.ndarray]], max_points: int = _MAX_GRID_POINTS) -> Curve:
    """Mean ± std of runs' (steps, values) curves on a common grid (see the module docstring).

    Args:
      curves: list of (steps [n_i], values [n_i]) with increasing steps; empty ones are ignored.
      max_points: int, the grid is thinned to at most this many evenly spaced steps.
    """
    curves = [(np.asarray(s, np.float64), np.asarray(v, np.float64)) for s, v in curves if len(s)]
    if not curves:
        empty = np.zeros(0)
        return Curve(empty, empty, empty, np.zeros(0, np.int64))
    grid = np.unique(np.concatenate([steps for steps, _ in curves]))
    if grid.size > max_points:
        grid = np.linspace(grid[0], grid[-1], max_points)
    table = np.full((len(curves), grid.size), np.nan)
    for row, (steps, values) in enumerate(curves):
        covered = (grid >= steps[0]) & (grid <= steps[-1])
        table[row, covered] = np.interp(grid[covered], steps, values)
    count = np.sum(~np.isnan(table), axis=0)
    filled = np.where(np.isnan(table), 0.0, table)
    mean = filled.sum(axis=0) / np.maximum(count, 1)
    variance = np.sum(np.where(np.isnan(table), 0.0, (table - mean) ** 2), axis=0) / np.maximum(count, 1)
    return Curve(grid, mean, np.sqrt(variance), count)


# --- Summaries ------------------------------------------------------------------------------


def _grouped(runs: Sequence[Run]) -> dict[tuple[str, str], list[Run]]:
    groups = collections.defaultdict(list)
    for run in runs:
        groups[(run.scenario, run.method)].append(run)
    return dict(sorted(groups.items()))


def summarize(runs: Sequence[Run], splits: Sequence[str] = SPLITS) -> list[dict]:
    """One row per (split, scenario, method) with at least one final value.

    Returns:
      list of dict(method, scenario, split, num_runs, final_mean, final_std), sorted by split
      (in the given order), scenario and method. num_runs counts runs with a final value.
    """
    rows = []
    for split in splits:
        for (scenario, method), group in _grouped(runs).items():
            finals = [final_value(read_curve(run.path, split)[1]) for run in group]
            finals = [value for value in finals if not math.isnan(value)]
            if finals:
                rows.append(
                    {
                        "method": method,
                        "scenario": scenario,
                        "split": split,
                        "num_runs": len(finals),
                        "final_mean": float(np.mean(finals)),
                        "final_std": float(np.std(finals)),
                    }
                )
    return rows


def summary_markdown(rows: Sequence[dict]) -> str:
    """Markdown tables of final rewards, one per split: rows scenario, columns method."""
    lines = [
        "# Final rewards",
        "",
        "Mean ± std (population) over runs of each run's last non-NaN reward, (n runs).",
        "",
    ]
    methods = sorted({row["method"] for row in rows})  # every table has all methods ("—": none)
    for split in dict.fromkeys(row["split"] for row in rows):
        split_rows = [row for row in rows if row["split"] == split]
        scenarios = sorted({row["scenario"] for row in split_rows})
        cells = {(row["scenario"], row["method"]): row for row in split_rows}
        lines += [
            f"## reward_{split}",
            "",
            "| scenario | " + " | ".join(methods) + " |",
            "|---|" + "---|" * len(methods),
        ]
        for scenario in scenarios:
            entries = []
            for method in methods:
                row = cells.get((scenario, method))
                entries.append(
                    "—"
                    if row is None
                    else f"{row['final_mean']:.2f} ± {row['final_std']:.2f} "
                    f"({row['num_runs']} run{'' if row['num_runs'] == 1 else 's'})"
                )
            lines.append(f"| {scenario} | " + " | ".join(entries) + " |")
        lines.append("")
    return "\n".join(lines)


def summary_csv(rows: Sequence[dict]) -> str:
    """The summary rows as CSV text (columns SUMMARY_COLUMNS, floats at full precision)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: repr(row[key]) if isinstance(row[key], float) else row[key] for key in SUMMARY_COLUMNS})
    return buffer.getvalue()


# --- Plots ----------------------------------------------------------------------------------


def plot_split(runs: Sequence[Run], split: str, output_paths: Sequence[str], title: str | None = None) -> list[str]:
    """Draws `reward_<split>` mean ± std per method, one panel per scenario, into each path.

    Args:
      runs: the runs to draw.
      split: str, 'train', 'valid' or 'test'.
      output_paths: list of str, image files to write (format from the extension: .png, .svg).
      title: str or None, the figure's title.

    Returns:
      The written paths, or [] if no run has a value for this split.
    """
    curves = {}
    for (scenario, method), group in _grouped(runs).items():
        curve = aggregate_curves([read_curve(run.path, split) for run in group])
        if curve.steps.size:
            curves[(scenario, method)] = (curve, len(group))
    if not curves:
        return []
    pyplot = _pyplot()
    scenarios = sorted({scenario for scenario, _ in curves})
    methods = sorted({method for _, method in curves})
    colors = {method: pyplot.get_cmap("tab10")(i % 10) for i, method in enumerate(methods)}
    columns = min(3, len(scenarios))
    rows = math.ceil(len(scenarios) / columns)
    figure, axes = pyplot.subplots(rows, columns, figsize=(5 * columns, 3.6 * rows), dpi=100, squeeze=False)
    for index, scenario in enumerate(scenarios):
        ax = axes[index // columns][index % columns]
        for method in methods:
            if (scenario, method) not in curves:
                continue
            curve, num_runs = curves[(scenario, method)]
            ax.plot(
                curve.steps,
                curve.mean,
                color=colors[method],
                marker="o" if curve.steps.size < 20 else None,
                markersize=3,
                label=f"{method} ({num_runs} run{'' if num_runs == 1 else 's'})",
            )
            ax.fill_between(
                curve.steps,
                curve.mean - curve.std,
                curve.mean + curve.std,
                color=colors[method],
                alpha=0.2,
                linewidth=0,
            )
        ax.set_title(scenario)
        ax.set_xlabel("agent steps")
        ax.set_ylabel(f"reward_{split}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for index in range(len(scenarios), rows * columns):
        axes[index // columns][index % columns].axis("off")
    figure.suptitle(title or f"reward_{split}: mean ± std over runs")
    figure.tight_layout()
    written = []
    for path in output_paths:
        with atomic_files.atomic_path(path) as tmp_path:
            figure.savefig(tmp_path)
        written.append(path)
    pyplot.close(figure)
    return written


def report(workdirs: Sequence[str], output_dir: str, splits: Sequence[str] = SPLITS) -> dict:
    """Plots and final-reward tables for all runs under `workdirs`.

    Writes into `output_dir`: `reward_<split>.png` and `.svg` per split that has values,
    `summary.csv` (columns SUMMARY_COLUMNS) and `summary.md` (tables as in the paper's Table 1).

    Args:
      workdirs: list of str, folders to search for runs (launcher layout, run dirs, ...).
      output_dir: str, where the outputs go (created).
      splits: which reward CSVs to use, of 'train', 'valid', 'test'.

    Returns:
      dict with 'plots' (list of paths), 'summary_csv', 'summary_markdown' (paths), 'rows'
      (the summary rows, see `summarize`) and 'runs' (list of Run).

    Raises:
      ValueError: a workdir is missing or holds no reward CSV, or a split is unknown.
    """
    if isinstance(workdirs, str):
        workdirs = [workdirs]
    if not workdirs:
        raise ValueError("no workdirs given")
    unknown = [split for split in splits if split not in SPLITS]
    if unknown:
        raise ValueError(f"unknown splits {unknown}; valid: {', '.join(SPLITS)}")
    runs = sorted({run for workdir in workdirs for run in find_runs(workdir)}, key=lambda run: run.path)
    os.makedirs(output_dir, exist_ok=True)
    plots = []
    for split in splits:
        plots += plot_split(
            runs, split, [os.path.join(output_dir, f"reward_{split}.{extension}") for extension in ("png", "svg")]
        )
    rows = summarize(runs, splits)
    csv_path = os.path.join(output_dir, "summary.csv")
    markdown_path = os.path.join(output_dir, "summary.md")
    atomic_files.write_text(csv_path, summary_csv(rows))
    atomic_files.write_text(markdown_path, summary_markdown(rows))
    return {"plots": plots, "summary_csv": csv_path, "summary_markdown": markdown_path, "rows": rows, "runs": runs}


def _progress_columns(run_dir: str, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Columns of `run_dir/diagnostics.csv` (train_policy's statistics beyond the original's
    progress.csv): 'total_timesteps' and those of `names` it has."""
    columns = progress_log.read_columns(os.path.join(run_dir, "diagnostics.csv"), ("total_timesteps", *names))
    return columns if len(columns) > 1 and "total_timesteps" in columns else {}


def plot_run(run_dir: str, output_path: str, title: str | None = None) -> str:
    """Draws reward_{train,valid,test}.csv of `run_dir` against agent steps into a PNG/SVG; for
    an episodic-curiosity run, a second panel shows the training episodes' curiosity bonus
    (sum over the episode, before alpha) and the mean memory fill from `diagnostics.csv`."""
    pyplot = _pyplot()
    curiosity = _progress_columns(run_dir, ("curiosity_episode_bonus", "curiosity_memory_size_mean"))
    if curiosity:
        figure, (axes, lower) = pyplot.subplots(2, 1, figsize=(7, 6.5), dpi=100, sharex=True)
    else:
        figure, axes = pyplot.subplots(figsize=(7, 4), dpi=100)
    plotted = 0
    for split in SPLITS:
        steps, values = read_curve(run_dir, split)
        if steps.size:
            axes.plot(steps, values, marker="o" if steps.size < 20 else None, markersize=3, label=split)
            plotted += 1
    if not plotted:
        pyplot.close(figure)
        raise ValueError(f"no reward values to plot in {run_dir!r}")
    axes.set_xlabel("agent steps")
    axes.set_ylabel("episode task reward")
    axes.set_title(title or os.path.relpath(run_dir))
    axes.grid(alpha=0.3)
    axes.legend()
    if curiosity:
        steps = curiosity["total_timesteps"]
        if "curiosity_episode_bonus" in curiosity:
            lower.plot(
                steps,
                curiosity["curiosity_episode_bonus"],
                color="tab:purple",
                label="curiosity bonus per training episode",
            )
        lower.set_ylabel("bonus per episode")
        lower.set_xlabel("agent steps")
        lower.grid(alpha=0.3)
        if "curiosity_memory_size_mean" in curiosity:
            fill = lower.twinx()
            fill.plot(steps, curiosity["curiosity_memory_size_mean"], color="tab:brown", label="memory fill (mean)")
            fill.set_ylabel("memory entries")
            handles = lower.get_legend_handles_labels()[0] + fill.get_legend_handles_labels()[0]
            lower.legend(handles, [h.get_label() for h in handles], loc="upper left")
    figure.tight_layout()
    with atomic_files.atomic_path(output_path) as tmp_path:
        figure.savefig(tmp_path)
    pyplot.close(figure)
    return output_path


# --- Entry point ----------------------------------------------------------------------------


def _define_flags() -> None:
    flags.DEFINE_list("workdirs", None, "Folders holding runs (comma-separated).")
    flags.DEFINE_string("output_dir", None, "Where the plots and summary tables are written.")
    flags.DEFINE_list("splits", list(SPLITS), "Reward CSVs to use: train, valid, test.")


def main(argv: Sequence[str]) -> None:
    del argv
    config = flags.FLAGS
    if not config.workdirs or not config.output_dir:
        raise app.UsageError("--workdirs and --output_dir are required")
    result = report(config.workdirs, config.output_dir, tuple(config.splits))
    print(f"runs: {len(result['runs'])}")
    for path in result["plots"]:
        print(f"plot: {path}")
    print(f"summary_csv: {result['summary_csv']}")
    print(f"summary_markdown: {result['summary_markdown']}")
    with open(result["summary_markdown"]) as f:
        print(f.read())


if __name__ == "__main__":
    _define_flags()
    app.run(main)
