r"""Experiment 4 (issue #21): the paper's navigation claim at laptop scale.

PPO vs PPO+EC vs PPO+ICM (vs PPO+Grid Oracle, the privileged upper reference) on VizDoom
MyWayHome with sparse and very sparse reward (`vizdoom_sparse`, `vizdoom_verysparse`), several
seeds each, one equal budget per scenario, every run through the resumable launcher at
`--scale=laptop`. PPO+EC uses an R-network trained offline on random-policy data (the paper's
EC; default: the shipped `pretrained:vizdoom`, whose card gives its random-policy steps).

    python experiments/navigation.py                                     # run (resumable) + report
    python experiments/navigation.py --scenarios=vizdoom_sparse --methods=ppo_plus_ec --seeds=1
    python experiments/navigation.py --report                            # from the committed CSVs
    python experiments/navigation.py --status                            # done / partial / not started
    python experiments/navigation.py --snapshot_partial                  # unfinished runs' CSVs, at a session's end
    python experiments/navigation.py --windows=<results>/<scenario>/<method>/seed_1   # a run per 200 k steps

Every run binds PPO's entropy coefficient to `--ent_coef` (default 0.03, the setting the search
below found; `-1` leaves the scale's own 0.01), so every method is compared at one setting.
The hyperparameter search of issue #20 uses the same runs with `--variant=<name>` and
`--gin_bindings=...` (e.g. `--variant=alpha_0.01 --gin_bindings='RewardScales.scale_surrogate_reward
= 0.01'`): the variant's runs get their own launcher workdir (`<work_dir>/variants/<name>`), and
their results the method label `<method>@<name>`, with the bindings in each run's `variant.json`
(and, as every run's, in `launcher.gin`), so every search run is recorded next to the defaults.

A run whose results are already in `--results_dir` is skipped (never trained again, even on a
machine without its workdir), so the full command runs what is left of the sweep; to rerun a
run, give another `--results_dir` and `--work_dir`. A lock per run in the workdir keeps two
sweep processes from training the same run at once. After each finished run its small files
(reward CSVs, progress/diagnostics, seed, gin, provenance with machine paths replaced) are
copied to
`experiments/results/navigation/<scenario>/<method>/seed_<n>/`, so a partial sweep is never
lost (commit them). `--report` reads only those folders and writes, per scenario,
`<scenario>_success.png` (train and test success, mean ± std over seeds, against agent steps),
`<scenario>_success_shifted.png` (the same with PPO+EC's curves shifted right by the R-network's
random-policy steps, as the paper plots them), `<scenario>_coverage.png` (one seed per method:
where the agent was in the first and last 10 % of training, on the map drawn from the wad's
own geometry; runs log every 16th step's positions, `positions.csv`, and the committed
`coverage.npz` holds the two histograms), and `table.csv` / `table.md`: final success
(mean ± std), agent steps to 50 % and 90 % training success per seed ("not reached"), the
ICM / EC ratio of steps to 90 %, each run's wall-clock time, and per seed the numbers behind
the coverage figure: map cells visited in the first and the last 10 % of training, and the
percentage of the last 10 %'s positions within 256 map units of the vest.

Success rate: a sparse MyWayHome episode's task return is 1 at the vest and 0 otherwise, so
`reward_train.csv` (mean task return of the last 100 training episodes) is the training
success rate and `reward_test.csv` (one episode per env on the test seeds) the test one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np

import common

SCENARIOS = ("vizdoom_sparse", "vizdoom_verysparse")
METHODS = ("ppo", "ppo_plus_ec", "ppo_plus_icm", "ppo_plus_grid_oracle")
RESULT_FILES = (
    "reward_train.csv",
    "reward_valid.csv",
    "reward_test.csv",
    "progress.csv",
    "diagnostics.csv",
    "seed.json",
    "launcher.gin",
    "provenance.json",
)
# Written last by `copy_run`: its presence means every other file of the copy is in place.
COMPLETION_FILE = "progress.csv"
THRESHOLDS = (0.5, 0.9)
POSITION_LOG_STRIDE = 16  # train_policy.position_log_stride of the runs: every 16th vector step
COVERAGE_BINS = 48  # per axis, over the map's bounding box
COVERAGE_PHASE = 0.1  # "early" / "late": the first / last 10 % of a run's agent steps
NEAR_VEST_RADIUS = 256.0  # map units (a room is ~160 wide): "near the vest" in the coverage columns
VEST_THING_TYPE = 2018  # the Doom thing type of MyWayHome's goal (green armor, the "vest")
FINAL_TEST_EVALUATIONS = 3  # the final test success is the mean of the last this-many evaluations
PER_SEED = " / "  # separates the per-seed values of a table cell, in ascending run number
# What each column of the table means, written under table.md.
TABLE_COLUMNS = (
    ("seeds", "the runs' launcher seeds, in ascending run number (folder seed_<n>: seed n - 1)"),
    (
        "final_train_success",
        "the last logged training success (running mean of the last 100 training episodes' task "
        "return, 1 at the vest), mean ± std over seeds (population std, ddof 0); one seed: its value",
    ),
    (
        "final_test_success",
        f"the mean of the last {FINAL_TEST_EVALUATIONS} test-seed evaluations (one episode per env each; "
        "12 in the sweep), mean ± std over seeds as above",
    ),
    (
        "steps_to_50pc / steps_to_90pc",
        "per seed, the first logged agent step at which the training success (the 100-episode "
        "running mean) reaches 50 % / 90 %; it need not stay there; PPO+EC not shifted",
    ),
    (
        "wall_clock_h",
        "per seed, hours of the training loop (the last time_elapsed of progress.csv; a resumed run "
        "adds its sittings, without the gaps between them or the start-up)",
    ),
    (
        "icm_over_ec_steps_to_90pc",
        "mean steps to 90 % of PPO+ICM over that of PPO+EC (unshifted), when every seed of both reached it",
    ),
    (
        "coverage_cells_early_to_late",
        f"per seed, map cells ({COVERAGE_BINS} x {COVERAGE_BINS} grid) visited in the first and the last "
        f"{COVERAGE_PHASE:.0%} of training ('—': no coverage.npz)",
    ),
    (
        "late_near_vest_pc",
        f"per seed, % of the last {COVERAGE_PHASE:.0%}'s logged positions within {NEAR_VEST_RADIUS:.0f} "
        "map units of the vest",
    ),
)
# PPO's entropy coefficient for every method of the sweep. The laptop scale's 0.01 (tuned on
# vizdoom_dense) leaves PPO+EC near-deterministic before it finds the vest in vizdoom_sparse; the
# small search of issue #20 (experiments/results/ec_search) found 0.03 learns there, and the
# sweep gives every method that same setting (PPO was searched at it too).
SWEEP_ENT_COEF = 0.03


VARIANT_NAME = re.compile(r"[A-Za-z0-9_.=+-]+")


def method_label(method: str, variant: str = "") -> str:
    """The results' name of `method` run with search variant `variant` ('' = the defaults)."""
    if not variant:
        return method
    if not VARIANT_NAME.fullmatch(variant):
        raise ValueError(f"--variant={variant!r}: use letters, digits and _ . = + - only (it names folders)")
    return f"{method}@{variant}"


def variant_work_dir(work_dir: str, variant: str = "") -> str:
    """The launcher workdir of a search variant's runs (`<work_dir>/variants/<name>`), or `work_dir`."""
    return os.path.join(work_dir, "variants", variant) if variant else work_dir


def run_one(
    work_dir: str,
    results_root: str,
    scenario: str,
    method: str,
    run_number: int,
    num_timesteps: int,
    scale: str,
    r_networks_path: str | None,
    variant: str = "",
    gin_bindings: tuple[str, ...] = (),
    ent_coef: float | None = None,
    **launch_kwargs,
) -> list[str]:
    """One launcher run (resumable), then its small files copied; returns the copied paths.

    `ent_coef` (when given) binds PPO's entropy coefficient for the run, before the variant's
    bindings (a variant may override it). `launch_kwargs` go to `launcher.launch` (tests:
    `num_env`, `asynchronous`)."""
    from episodic_curiosity import atomic_files
    from episodic_curiosity import launcher

    label = method_label(method, variant)
    if gin_bindings and not variant:
        raise ValueError("--gin_bindings change the method: give the search run a --variant name too")
    run_work_dir = variant_work_dir(work_dir, variant)
    sweep_bindings = [f"train_policy.position_log_stride = {POSITION_LOG_STRIDE}"]
    if ent_coef is not None:
        sweep_bindings.append(f"PPOConfig.ent_coef = {ent_coef!r}")
    outputs = launcher.launch(
        run_work_dir,
        method,
        scenario,
        run_number=run_number,
        num_timesteps=num_timesteps,
        scale=scale,
        r_networks_path=r_networks_path if method == "ppo_plus_ec" else None,
        gin_bindings=[*sweep_bindings, *gin_bindings],
        show_progress=False,
        **launch_kwargs,
    )
    destination = results_dir(results_root, scenario, label, run_number)
    # The base workdir, not the variant's folder inside it: the recorded command names the base.
    copied = copy_run(outputs["run_dir"], destination, work_dir)
    if variant:
        path = os.path.join(destination, "variant.json")
        bindings = [scrub(binding, work_dir) for binding in gin_bindings]
        atomic_files.write_json(path, {"variant": variant, "method": method, "gin_bindings": bindings})
        copied.append(path)
    return copied


@contextlib.contextmanager
def run_lock(work_dir: str, scenario: str, label: str, run_number: int):
    """Holds an exclusive lock on one run of the sweep for the block; yields False (and holds
    nothing) when another process has it. Two sweeps started on one workdir then never train
    the same run folder at once; the lock goes with its process, however that ends."""
    import fcntl  # pylint: disable=g-import-not-at-top

    os.makedirs(work_dir, exist_ok=True)
    with open(os.path.join(work_dir, f".lock.{scenario}.{label}.run_{run_number}"), "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def run_sweep(
    work_dir: str,
    results_root: str,
    scenarios,
    methods,
    run_numbers,
    num_timesteps: int,
    scale: str,
    r_networks_path: str | None,
    variant: str = "",
    gin_bindings: tuple[str, ...] = (),
    ent_coef: float | None = None,
) -> list[tuple[str, str, int, str]]:
    """`run_one` for every planned run, scenario-major, then run number, then method (a partial
    sweep has every method), skipping the runs whose results are already in `results_root`: a
    finished run is never trained again, even where its workdir is gone (another machine). To
    rerun one, give another `--results_dir` and `--work_dir`. Returns (scenario, method label,
    run number, 'ran', 'skipped' or 'running elsewhere': another process holds its `run_lock`)
    in order."""
    outcomes = []
    for scenario in scenarios:
        for run_number in run_numbers:
            for method in methods:
                label = method_label(method, variant)
                destination = results_dir(results_root, scenario, label, run_number)
                if os.path.exists(os.path.join(destination, COMPLETION_FILE)):
                    logging.info(
                        "%s %s run %d: done (results in %s), skipped", scenario, label, run_number, destination
                    )
                    outcomes.append((scenario, label, run_number, "skipped"))
                    continue
                start = time.time()
                with run_lock(work_dir, scenario, label, run_number) as acquired:
                    if not acquired:
                        logging.warning(
                            "%s %s run %d: another process is running it, skipped", scenario, label, run_number
                        )
                        outcomes.append((scenario, label, run_number, "running elsewhere"))
                        continue
                    copied = run_one(
                        work_dir,
                        results_root,
                        scenario,
                        method,
                        run_number,
                        num_timesteps,
                        scale,
                        r_networks_path,
                        variant=variant,
                        gin_bindings=gin_bindings,
                        ent_coef=ent_coef,
                    )
                logging.info(
                    "%s %s run %d: %.0f s this call, %d files copied",
                    scenario,
                    label,
                    run_number,
                    time.time() - start,
                    len(copied),
                )
                outcomes.append((scenario, label, run_number, "ran"))
    return outcomes


def _last_agent_step(progress_csv: str) -> int | None:
    """The last `total_timesteps` a run's progress.csv logged (None: no such file or rows)."""
    from episodic_curiosity import progress_log  # pylint: disable=g-import-not-at-top

    if not os.path.exists(progress_csv):
        return None
    # Reads only; a torn last row (a kill mid-write) is skipped as every reader of the log does.
    return progress_log.ProgressLog(os.path.dirname(progress_csv)).last_logged("total_timesteps")


def sweep_status(
    results_root: str,
    work_dir: str,
    scenarios,
    methods,
    run_numbers,
    variant: str = "",
    now: float | None = None,
) -> list[dict]:
    """Where each planned run of the sweep stands, without starting anything.

    A run is 'done' when its small files are in `results_root` (they are copied only after the
    launcher finished it), 'running' when a sweep process holds its `run_lock`, 'partial' when
    only its launcher folder in `work_dir` has logged updates (rerunning the same command
    resumes it from the newest checkpoint), else 'not started'. Rows: scenario, method (its
    results label), run, seed (run - 1), state, agent steps logged, minutes since its
    progress.csv was last written (a running job writes it every update), its launcher folder.
    """
    from episodic_curiosity import launcher  # pylint: disable=g-import-not-at-top

    now = time.time() if now is None else now
    run_work_dir = variant_work_dir(work_dir, variant)
    rows = []
    for scenario in scenarios:
        for run_number in run_numbers:
            for method in methods:
                label = method_label(method, variant)
                finished = os.path.join(results_dir(results_root, scenario, label, run_number), COMPLETION_FILE)
                run_dir = launcher.run_directory(run_work_dir, method, scenario, run_number)
                state, path, steps = "not started", None, None
                if os.path.exists(finished):
                    state, path, steps = "done", finished, _last_agent_step(finished)
                else:
                    steps = _last_agent_step(os.path.join(run_dir, "progress.csv"))
                    if steps is not None:
                        state, path = "partial", os.path.join(run_dir, "progress.csv")
                        with run_lock(work_dir, scenario, label, run_number) as free:
                            state = state if free else "running"
                rows.append(
                    {
                        "scenario": scenario,
                        "method": label,
                        "run": run_number,
                        "seed": run_number - 1,
                        "state": state,
                        "agent_steps": steps or 0,
                        "minutes_since_written": round((now - os.path.getmtime(path)) / 60.0, 1)
                        if state in ("partial", "running")
                        else None,
                        "run_dir": run_dir,
                    }
                )
    return rows


def snapshot_partial_runs(
    results_root: str, partial_root: str, work_dir: str, scenarios, methods, run_numbers, variant: str = ""
) -> list[str]:
    """Copies the small files of every unfinished run ('partial' or 'running', `sweep_status`) to
    `<partial_root>/<scenario>/<method>/seed_<n>/`, as `copy_run` does for finished runs: what a
    session's end would otherwise lose with the workdir. A copy there that reached more agent
    steps (an earlier attempt of a run restarted from scratch) is kept; a shorter one is replaced
    whole. Returns the copied paths."""
    copied = []
    for row in sweep_status(results_root, work_dir, scenarios, methods, run_numbers, variant=variant):
        if row["state"] not in ("partial", "running"):  # a running one is copied as far as it got
            continue
        destination = results_dir(partial_root, row["scenario"], row["method"], row["run"])
        earlier = _last_agent_step(os.path.join(destination, COMPLETION_FILE)) or 0
        if earlier > row["agent_steps"]:
            # E.g. a run restarted from scratch on another machine: keep the copy that got further.
            logging.warning(
                "%s %s run %d: the earlier copy in %s reached %d agent steps, this run %d; kept the earlier one",
                row["scenario"],
                row["method"],
                row["run"],
                destination,
                earlier,
                row["agent_steps"],
            )
            continue
        for name in (*RESULT_FILES, "coverage.npz"):  # no file of an earlier copy stays behind
            if os.path.exists(os.path.join(destination, name)):
                os.remove(os.path.join(destination, name))
        copied += copy_run(row["run_dir"], destination, work_dir)
    return copied


def format_status(rows: list[dict]) -> str:
    """`sweep_status` rows as a Markdown table."""
    lines = ["| scenario | method | run (seed) | state | agent steps | last written |", "|---|---|---|---|---|---|"]
    for row in rows:
        written = "" if row["minutes_since_written"] is None else f"{row['minutes_since_written']:g} min ago"
        lines.append(
            f"| {row['scenario']} | {row['method']} | {row['run']} ({row['seed']}) | {row['state']} "
            f"| {row['agent_steps'] or 0:,} | {written} |"
        )
    return "\n".join(lines)


def scrub(text: str, work_dir: str) -> str:
    """`text` with the experiments workdir and the checkout replaced by placeholders."""
    return common.scrub_paths(text, {work_dir: "<experiments workdir>", common.REPO_ROOT: "<repo>"})


def results_dir(root: str, scenario: str, method: str, run_number: int) -> str:
    return os.path.join(root, scenario, method, f"seed_{run_number}")


def copy_run(run_dir: str, destination: str, work_dir: str) -> list[str]:
    """Copies a run's small files; machine paths in text files become `<experiments workdir>` and
    `<repo>`. Every file is written atomically and `progress.csv` last, so a copy cut short by a
    kill never looks complete (the sweep treats a results folder with `progress.csv` as done)."""
    from episodic_curiosity import atomic_files  # pylint: disable=g-import-not-at-top

    os.makedirs(destination, exist_ok=True)
    copied = []

    def copy(name: str) -> None:
        source = os.path.join(run_dir, name)
        if not os.path.exists(source):
            return
        target = os.path.join(destination, name)
        with open(source, "rb") as handle:
            data = handle.read()
        if name.endswith((".json", ".gin")):
            data = scrub(data.decode(), work_dir).encode()
        atomic_files.write_bytes(target, data)
        copied.append(target)

    for name in RESULT_FILES:
        if name != COMPLETION_FILE:
            copy(name)
    positions = os.path.join(run_dir, "positions.csv")
    if os.path.exists(positions):  # too big to commit: its early/late histograms instead
        vertices = map_geometry().vertices
        bounds = tuple((float(lo), float(hi)) for lo, hi in zip(vertices.min(axis=0), vertices.max(axis=0)))
        target = os.path.join(destination, "coverage.npz")
        with atomic_files.atomic_path(target) as tmp_path:
            np.savez_compressed(tmp_path, **coverage_histograms(positions, bounds))
        copied.append(target)
    copy(COMPLETION_FILE)
    return copied


def map_geometry():
    """MyWayHome's walls, openings and things, read from the installed wad."""
    import vizdoom

    from episodic_curiosity.environments import my_way_home_wad

    with open(os.path.join(vizdoom.scenarios_path, "my_way_home.wad"), "rb") as handle:
        return my_way_home_wad.map_geometry(handle.read())


def coverage_histograms(positions_csv: str, bounds, bins: int = COVERAGE_BINS) -> dict:
    """Visit counts of the positions logged in the first and last `COVERAGE_PHASE` of a run.

    Args:
      positions_csv: a run's `positions.csv` (total_timesteps, vector_step, env, x, y).
      bounds: ((x_min, x_max), (y_min, y_max)) of the histogram.

    Returns:
      dict of arrays: 'early', 'late' (int [bins, bins], x major), 'x_edges', 'y_edges', and
      'steps' (the run's last logged total_timesteps).
    """
    import csv

    with open(positions_csv) as handle:
        rows = [(float(r["total_timesteps"]), float(r["x"]), float(r["y"])) for r in csv.DictReader(handle)]
    data = np.array(rows, np.float64).reshape(-1, 3)
    last = data[:, 0].max() if len(data) else 0.0
    result = {"steps": np.array(last)}
    for name, mask in (
        ("early", data[:, 0] <= COVERAGE_PHASE * last),
        ("late", data[:, 0] > (1 - COVERAGE_PHASE) * last),
    ):
        counts, x_edges, y_edges = np.histogram2d(data[mask, 1], data[mask, 2], bins=bins, range=bounds)
        result[name] = counts.astype(np.int32)
    result.update(x_edges=x_edges, y_edges=y_edges)
    return result


def plot_coverage(
    histograms: dict[str, dict], geometry, path: str, title: str, labels: dict[str, str] | None = None
) -> str:
    """Per method (rows): where the agent was early and late in training, on the map.
    `labels[method]` (e.g. "run 1, seed 0") names the run each row shows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = sorted(histograms)
    figure, axes = plt.subplots(len(methods), 2, figsize=(8, 3.6 * len(methods)), squeeze=False)
    for row, method in enumerate(methods):
        h = histograms[method]
        for column, phase in enumerate(("early", "late")):
            axis = axes[row][column]
            extent = [h["x_edges"][0], h["x_edges"][-1], h["y_edges"][0], h["y_edges"][-1]]
            axis.imshow(np.log1p(h[phase].T), origin="lower", extent=extent, cmap="magma_r", aspect="equal")
            for (v1, v2), opening in zip(geometry.lines, geometry.two_sided):
                (x1, y1), (x2, y2) = geometry.vertices[v1], geometry.vertices[v2]
                axis.plot([x1, x2], [y1, y2], color="0.75" if opening else "k", linewidth=0.5 if opening else 1)
            axis.plot(*vest_position(geometry), marker="*", color="green", markersize=12)
            run = f" ({labels[method]})" if labels and method in labels else ""
            axis.set_title(
                f"{method}{run}: {phase} {int(COVERAGE_PHASE * 100)} % ({int(h['steps']) / 1e6:.1f}M steps)",
                fontsize=9,
            )
            axis.set_xticks([])
            axis.set_yticks([])
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def read_curve(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of a reward CSV; nan rows (before the first episode) are dropped."""
    from episodic_curiosity import metrics_csv

    if not os.path.exists(path):
        return np.zeros(0), np.zeros(0)
    rows = [(step, value) for step, value, _ in metrics_csv.read_scalars(path) if np.isfinite(value)]
    if not rows:
        return np.zeros(0), np.zeros(0)
    steps, values = zip(*rows)
    return np.asarray(steps, np.float64), np.asarray(values, np.float64)


def steps_to_reach(steps: np.ndarray, values: np.ndarray, threshold: float) -> float | None:
    """The first step at which `values` reaches `threshold`, or None."""
    reached = np.flatnonzero(values >= threshold)
    return float(steps[reached[0]]) if reached.size else None


def mean_std_on_grid(curves: list[tuple[np.ndarray, np.ndarray]], num_points: int = 200):
    """Curves of several seeds on one step grid (up to the shortest run): grid, mean, std."""
    curves = [(s, v) for s, v in curves if len(s)]
    if not curves:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    end = min(s[-1] for s, _ in curves)
    start = max(s[0] for s, _ in curves)
    grid = np.linspace(start, end, num_points) if end > start else np.array([end])
    stacked = np.stack([np.interp(grid, s, v) for s, v in curves])
    return grid, stacked.mean(axis=0), stacked.std(axis=0)


def wall_clock_seconds(run_results: str) -> float:
    """The run's training wall-clock time: the last `time_elapsed` of its progress.csv."""
    import csv

    path = os.path.join(run_results, "progress.csv")
    if not os.path.exists(path):
        return float("nan")
    with open(path) as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("time_elapsed")]
    return float(rows[-1]["time_elapsed"]) if rows else float("nan")


def collect(root: str, scenario: str) -> dict[str, dict[int, dict]]:
    """{method: {run_number: {'train': curve, 'test': curve, 'seconds': s, 'seed': seed}}}."""
    found = {}
    scenario_dir = os.path.join(root, scenario)
    if not os.path.isdir(scenario_dir):
        return found
    for method in sorted(os.listdir(scenario_dir)):
        for name in sorted(os.listdir(os.path.join(scenario_dir, method))):
            if not name.startswith("seed_"):
                continue
            run_results = os.path.join(scenario_dir, method, name)
            seed = None
            if os.path.exists(os.path.join(run_results, "seed.json")):
                with open(os.path.join(run_results, "seed.json")) as handle:
                    seed = json.load(handle).get("seed")
            found.setdefault(method, {})[int(name[len("seed_") :])] = {
                "train": read_curve(os.path.join(run_results, "reward_train.csv")),
                "test": read_curve(os.path.join(run_results, "reward_test.csv")),
                "seconds": wall_clock_seconds(run_results),
                "seed": seed,
                "coverage": os.path.join(run_results, "coverage.npz"),
            }
    return found


def vest_position(geometry) -> tuple[float, float]:
    """(x, y) of MyWayHome's vest, from the wad's things."""
    for kind, x, y in geometry.things:
        if kind == VEST_THING_TYPE:
            return float(x), float(y)
    raise ValueError(f"the map has no thing of type {VEST_THING_TYPE} (the vest)")


def coverage_summary(histograms: dict, vest: tuple[float, float], radius: float = NEAR_VEST_RADIUS) -> dict:
    """Numbers behind a coverage figure: per phase ('early', 'late'), the histogram cells visited
    at least once, and the percentage of logged positions whose cell centre lies within `radius`
    map units of the vest.

    Args:
      histograms: `coverage_histograms` output (or a loaded coverage.npz).
      vest: (x, y) of the vest.
      radius: float, map units.
    """
    x_centres = (histograms["x_edges"][:-1] + histograms["x_edges"][1:]) / 2
    y_centres = (histograms["y_edges"][:-1] + histograms["y_edges"][1:]) / 2
    x, y = np.meshgrid(x_centres, y_centres, indexing="ij")
    near = np.hypot(x - vest[0], y - vest[1]) <= radius
    summary = {}
    for phase in ("early", "late"):
        counts = np.asarray(histograms[phase])
        total = counts.sum()
        summary[f"{phase}_cells"] = int((counts > 0).sum())
        summary[f"{phase}_near_vest_pc"] = float(100 * counts[near].sum() / total) if total else float("nan")
    return summary


def _mean_std(values) -> str:
    """'mean ± std' over seeds (population std); one seed: its value and '(1 seed)'; seeds
    without a value (no finished episode) are left out and counted."""
    values = np.asarray(values, np.float64)
    finite = values[np.isfinite(values)]
    if not finite.size:
        return "n/a (no finished episode)"
    text = f"{finite[0]:.2f} (1 seed)" if finite.size == 1 else f"{finite.mean():.2f} ± {finite.std():.2f}"
    if finite.size < values.size:
        text += f" ({finite.size} of {values.size} seeds with a value)"
    return text


def _format_steps(value: float | None) -> str:
    return "not reached" if value is None else f"{value / 1e6:.2f}M"


def _coverage_columns(seeds: dict[int, dict], vest: tuple[float, float] | None) -> dict:
    """Per seed: cells visited early -> late, and % of late positions near the vest ('—': no
    coverage.npz, a run made before positions were logged)."""
    cells, near = [], []
    for run_number in sorted(seeds):
        path = seeds[run_number].get("coverage")
        if vest is None or not path or not os.path.exists(path):
            cells.append("—")
            near.append("—")
            continue
        summary = coverage_summary(dict(np.load(path)), vest)
        cells.append(f"{summary['early_cells']}→{summary['late_cells']}")
        near.append(f"{summary['late_near_vest_pc']:.1f}")
    return {"coverage_cells_early_to_late": PER_SEED.join(cells), "late_near_vest_pc": PER_SEED.join(near)}


def table_rows(runs: dict[str, dict[int, dict]], scenario: str, vest: tuple[float, float] | None = None) -> list[dict]:
    """One row per method: final success (mean ± std over seeds), steps to 50 / 90 % per seed,
    wall-clock per run, for PPO+ICM the ICM / EC ratio of the mean steps to 90 %, and with the
    vest's position the coverage numbers per seed (`coverage_summary`: map cells visited in the
    first and last 10 % of training, % of the last 10 %'s positions within NEAR_VEST_RADIUS of
    the vest)."""
    rows = []
    to_90 = {}
    for method, seeds in runs.items():
        finals_train, finals_test, reach, seconds = [], [], {t: [] for t in THRESHOLDS}, []
        for run_number in sorted(seeds):
            run = seeds[run_number]
            train_steps, train_values = run["train"]
            finals_train.append(train_values[-1] if len(train_values) else np.nan)
            test_values = run["test"][1]
            finals_test.append(np.mean(test_values[-FINAL_TEST_EVALUATIONS:]) if len(test_values) else np.nan)
            for threshold in THRESHOLDS:
                reach[threshold].append(steps_to_reach(train_steps, train_values, threshold))
            seconds.append(run["seconds"])
        reached_90 = [s for s in reach[0.9] if s is not None]
        to_90[method] = float(np.mean(reached_90)) if len(reached_90) == len(reach[0.9]) and reached_90 else None
        rows.append(
            {
                "scenario": scenario,
                "method": method,
                "seeds": PER_SEED.join(str(seeds[n]["seed"]) for n in sorted(seeds)),
                "final_train_success": _mean_std(finals_train),
                "final_test_success": _mean_std(finals_test),
                "steps_to_50pc": PER_SEED.join(_format_steps(s) for s in reach[0.5]),
                "steps_to_90pc": PER_SEED.join(_format_steps(s) for s in reach[0.9]),
                "wall_clock_h": PER_SEED.join(f"{s / 3600:.1f}" for s in seconds),
                "icm_over_ec_steps_to_90pc": "",
                **_coverage_columns(seeds, vest),
            }
        )
    ec, icm = to_90.get("ppo_plus_ec"), to_90.get("ppo_plus_icm")
    for row in rows:
        if row["method"] == "ppo_plus_icm" and "ppo_plus_ec" in runs:
            row["icm_over_ec_steps_to_90pc"] = (
                f"{icm / ec:.2f}" if ec and icm else "n/a (not every seed of both reached 90 %)"
            )
    return rows


def plot_scenario(runs: dict[str, dict[int, dict]], scenario: str, path: str, ec_shift_steps: float = 0.0) -> str:
    """Train and test success (mean ± std over seeds) against agent steps; PPO+EC shifted by
    `ec_shift_steps` (its R-network's random-policy steps) when > 0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for axis, split in zip(axes, ("train", "test")):
        for method, seeds in sorted(runs.items()):
            grid, mean, std = mean_std_on_grid([seeds[n][split] for n in sorted(seeds)])
            if not len(grid):
                continue
            if method == "ppo_plus_ec":
                grid = grid + ec_shift_steps
            axis.plot(grid / 1e6, mean, label=f"{method} ({len(seeds)} seed{'' if len(seeds) == 1 else 's'})")
            axis.fill_between(grid / 1e6, mean - std, mean + std, alpha=0.2)
        shift = f"\nPPO+EC shifted right by its R-network's {ec_shift_steps / 1e6:.2g} M random-policy steps"
        axis.set_xlabel("agent steps (M)" + (shift if ec_shift_steps else ""))
        axis.set_title(f"{scenario}: {split} success rate")
        axis.set_ylim(-0.05, 1.05)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("success rate (mean ± std over seeds)")
    axes[1].legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def write_table(rows: list[dict], output_dir: str) -> None:
    common.write_rows_csv(os.path.join(output_dir, "table.csv"), rows)
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(row[k]) for k in keys) + " |" for row in rows]
    lines += ["", "Columns (written by `navigation.py --report`):", ""]
    lines += [f"- `{name}`: {meaning}." for name, meaning in TABLE_COLUMNS]
    from episodic_curiosity import atomic_files

    atomic_files.write_text(os.path.join(output_dir, "table.md"), "\n".join(lines) + "\n")


def report(root: str, ec_shift_steps: float) -> dict:
    """Table and figures from the committed CSVs under `root`; also, per scenario, the run
    each method's row of the coverage figure shows (`coverage_runs`: the lowest-numbered run
    with a coverage.npz)."""
    rows, figures, coverage_runs = [], [], {}
    for scenario in SCENARIOS:
        runs = collect(root, scenario)
        if not runs:
            continue
        has_coverage = any(os.path.exists(run["coverage"]) for seeds in runs.values() for run in seeds.values())
        geometry = map_geometry() if has_coverage else None
        rows += table_rows(runs, scenario, vest_position(geometry) if geometry else None)
        figures.append(plot_scenario(runs, scenario, os.path.join(root, f"{scenario}_success.png")))
        coverage, shown = {}, {}
        for method, seeds in runs.items():
            for run_number in sorted(seeds):
                if os.path.exists(seeds[run_number]["coverage"]):
                    coverage[method] = dict(np.load(seeds[run_number]["coverage"]))
                    shown[method] = {"run": run_number, "seed": seeds[run_number]["seed"]}
                    break
        if coverage:
            coverage_runs[scenario] = shown
            figures.append(
                plot_coverage(
                    coverage,
                    geometry,
                    os.path.join(root, f"{scenario}_coverage.png"),
                    f"{scenario}: positions visited (log counts, every {POSITION_LOG_STRIDE}th step), one seed each",
                    labels={
                        method: f"run {run['run']}" + ("" if run["seed"] is None else f", seed {run['seed']}")
                        for method, run in shown.items()
                    },
                )
            )
        if "ppo_plus_ec" in runs and ec_shift_steps:
            figures.append(
                plot_scenario(runs, scenario, os.path.join(root, f"{scenario}_success_shifted.png"), ec_shift_steps)
            )
    if rows:
        write_table(rows, root)
    return {"rows": rows, "figures": figures, "coverage_runs": coverage_runs}


# Columns of `window_table`: (header, CSV file, column, how a window's logged values combine).
# The method-specific ones appear only where a run logged them (EC: bonus and memory; ICM: its
# bonus and losses).
WINDOW_COLUMNS = (
    ("training success (mean; max)", "reward_train.csv", "reward_train", "mean_max"),
    ("policy entropy", "progress.csv", "policy_entropy", "mean"),
    ("episode length", "progress.csv", "eplenmean", "mean"),
    ("bonus per episode", "diagnostics.csv", "curiosity_episode_bonus", "mean"),
    ("memory entries (mean)", "diagnostics.csv", "curiosity_memory_size_mean", "mean"),
    ("ICM bonus per step", "progress.csv", "icm_bonus_mean", "mean"),
    ("forward loss", "progress.csv", "icm_forward_loss", "mean"),
    ("inverse loss", "progress.csv", "icm_inverse_loss", "mean"),
)


def window_table(run_results: str, window_steps: int = 200_000) -> list[dict]:
    """A run's logs summarised per window of `window_steps` agent steps (the tables of the
    results READMEs): per window its agent-step range, the number of logged updates, and each
    `WINDOW_COLUMNS` entry the run logged (its mean over the window's updates; training
    success also its maximum). Windows with no logged update are left out; a row cut by a kill
    mid-write is skipped, as every reader of these logs does."""
    from episodic_curiosity import progress_log  # pylint: disable=g-import-not-at-top

    if window_steps <= 0:
        raise ValueError(f"window_steps must be positive, got {window_steps}")
    tables = {
        name: progress_log.read_columns(os.path.join(run_results, name)) for name in ("progress.csv", "diagnostics.csv")
    }
    if not tables["progress.csv"]:
        raise FileNotFoundError(f"{run_results}: no progress.csv; give a run's results folder (seed_<n>)")
    steps, success = read_curve(os.path.join(run_results, "reward_train.csv"))
    tables["reward_train.csv"] = {"total_timesteps": steps, "reward_train": success}
    progress_steps = tables["progress.csv"]["total_timesteps"]
    update_windows = (progress_steps // window_steps).astype(np.int64)
    windows = {int(index): {"updates": int(np.sum(update_windows == index))} for index in np.unique(update_windows)}
    for header, name, column, combine in WINDOW_COLUMNS:
        table = tables[name]
        if column not in table:
            continue
        indices = (table["total_timesteps"] // window_steps).astype(np.int64)
        for index in np.unique(indices):
            row = windows.get(int(index))
            if row is None:  # no logged update there
                continue
            chosen = table[column][indices == index]
            finite = chosen[np.isfinite(chosen)]
            if combine == "mean_max":
                row[header] = (float(finite.mean()), float(finite.max())) if finite.size else (np.nan, np.nan)
            else:
                row[header] = float(finite.mean()) if finite.size else np.nan
    last_step = int(progress_steps.max()) if progress_steps.size else 0
    return [
        {"from": index * window_steps, "to": min((index + 1) * window_steps, last_step), **windows[index]}
        for index in sorted(windows)
    ]


def evaluation_summary(run_results: str) -> dict[str, dict]:
    """Per evaluation split (test, valid): number of evaluations, how many had any success, the
    values of those, and the last value."""
    summary = {}
    for split in ("test", "valid"):
        steps, values = read_curve(os.path.join(run_results, f"reward_{split}.csv"))
        if not len(values):
            continue
        nonzero = [(float(s), float(v)) for s, v in zip(steps, values) if v > 0]
        summary[split] = {"evaluations": int(len(values)), "nonzero": nonzero, "last": float(values[-1])}
    return summary


def run_facts(run_results: str) -> dict:
    """What a run's README section states besides its windows, from its committed files: its
    sittings (one per launch in provenance.json: time, commit, dirty), agent steps, training
    time (`time_elapsed`) and env steps/s, the first crossings of 50 % / 90 % training success
    (None: not reached), and with a coverage.npz the map cells visited early / late and the
    late share near the vest."""
    from episodic_curiosity import progress_log  # pylint: disable=g-import-not-at-top

    progress = progress_log.read_columns(os.path.join(run_results, "progress.csv"))
    if not progress or not len(progress.get("total_timesteps", [])):
        raise FileNotFoundError(f"{run_results}: no progress.csv rows; give a run's results folder (seed_<n>)")
    facts = {"agent_steps": int(progress["total_timesteps"][-1]), "sittings": []}
    facts["seconds"] = wall_clock_seconds(run_results)
    facts["env_steps_per_s"] = facts["agent_steps"] / facts["seconds"] if facts["seconds"] > 0 else float("nan")
    provenance_path = os.path.join(run_results, "provenance.json")
    if os.path.exists(provenance_path):
        with open(provenance_path) as handle:
            launches = json.load(handle).get("launcher", [])
        facts["sittings"] = [
            {
                "time": launch.get("time"),
                "commit": (launch.get("git") or {}).get("commit"),
                "dirty": (launch.get("git") or {}).get("dirty"),
            }
            for launch in launches
        ]
    steps, success = read_curve(os.path.join(run_results, "reward_train.csv"))
    for threshold in (0.5, 0.9):
        facts[f"steps_to_{int(threshold * 100)}pc"] = steps_to_reach(steps, success, threshold)
    coverage_path = os.path.join(run_results, "coverage.npz")
    if os.path.exists(coverage_path):
        facts["coverage"] = coverage_summary(dict(np.load(coverage_path)), vest_position(map_geometry()))
    return facts


def format_run_facts(facts: dict) -> str:
    """`run_facts` as the few lines a run's section needs."""
    sittings = "; ".join(
        f"{s['time']} at {str(s['commit'])[:7]}{' (dirty)' if s['dirty'] else ''}" for s in facts["sittings"]
    )
    crossings = " / ".join(
        "not reached" if facts[key] is None else f"{facts[key]:,.0f}" for key in ("steps_to_50pc", "steps_to_90pc")
    )
    lines = [
        f"sittings: {len(facts['sittings'])} ({sittings or 'no provenance.json'})",
        f"agent steps {facts['agent_steps']:,}; training {facts['seconds']:,.0f} s ({facts['seconds'] / 3600:.2f} h,"
        f" time_elapsed), {facts['env_steps_per_s']:,.0f} env steps/s",
        f"training success first at 50 % / 90 %: {crossings} agent steps",
    ]
    if "coverage" in facts:
        c = facts["coverage"]
        lines.append(
            f"coverage: {c['early_cells']} -> {c['late_cells']} map cells (first -> last 10 %),"
            f" {c['late_near_vest_pc']:.1f} % of the late positions near the vest"
        )
    return "\n".join(lines)


def _format_window_value(header: str, value) -> str:
    if isinstance(value, tuple):
        return f"{value[0]:.3f} ({value[1]:.2f})"
    if not np.isfinite(value):
        return "–"
    if header in ("policy entropy",):
        return f"{value:.2f}"
    if header in ("episode length", "memory entries (mean)"):
        return f"{value:.0f}"
    if header == "bonus per episode":
        return f"{value:+.0f}" if abs(value) >= 10 else f"{value:+.1f}"
    if header == "ICM bonus per step":
        return f"{value:.4f}"
    return f"{value:.3f}"


def format_windows(rows: list[dict], evaluations: dict[str, dict] | None = None) -> str:
    """`window_table` rows as a Markdown table, then one line per evaluation split."""
    headers = [h for h, *_ in WINDOW_COLUMNS if any(h in row for row in rows)]
    lines = [
        "| agent steps | updates | " + " | ".join(headers) + " |",
        "|---" * (len(headers) + 2) + "|",
    ]
    for row in rows:
        cells = [_format_window_value(h, row[h]) if h in row else "–" for h in headers]
        lines.append(
            f"| {row['from'] / 1e6:.2f}–{row['to'] / 1e6:.2f} M | {row['updates']} | " + " | ".join(cells) + " |"
        )
    for split, found in (evaluations or {}).items():
        nonzero = ", ".join(f"{v:.3f} at {s / 1e6:.2f} M" for s, v in found["nonzero"]) or "none"
        lines.append(
            f"\n{split} seeds: {found['evaluations']} evaluations, success > 0 in {len(found['nonzero'])}"
            f" ({nonzero}); last {found['last']:.3f}"
        )
    return "\n".join(lines)


def r_network_random_steps(r_networks_path: str, default: float) -> float:
    """Random-policy agent steps behind the R-network: a shipped model's card says; else `default`."""
    from episodic_curiosity import pretrained

    if not pretrained.is_pretrained(r_networks_path):
        return float(default)
    return float(pretrained.card(r_networks_path).get("random_policy_agent_steps", default))


def _define_flags() -> None:
    flags.DEFINE_list("scenarios", list(SCENARIOS), "Scenarios, in order.")
    flags.DEFINE_list("methods", list(METHODS), "Methods.")
    flags.DEFINE_list("seeds", ["1", "2", "3"], "Run numbers (launcher seed = run number - 1).")
    flags.DEFINE_integer("num_timesteps", 3_000_000, "Asked agent steps per run (x 1.1 run), equal for every method.")
    flags.DEFINE_string("scale", "laptop", "Launcher scale.")
    flags.DEFINE_string("r_networks_path", "pretrained:vizdoom", "PPO+EC's offline R-network.")
    flags.DEFINE_integer(
        "r_network_env_steps", 1_600_000, "Random-policy agent steps behind the R-network (when no card says)."
    )
    flags.DEFINE_string("work_dir", os.path.join(common.SCRATCH_DIR, "navigation"), "Launcher workdir (big files).")
    flags.DEFINE_string("results_dir", common.default_output_dir("navigation"), "Committed small results.")
    flags.DEFINE_boolean("report", False, "Only write the table and figures from --results_dir.")
    flags.DEFINE_boolean(
        "status",
        False,
        "Only print where each run of --scenarios x --methods x --seeds stands (done, partial, not started)."
        " Starts nothing.",
    )
    flags.DEFINE_boolean(
        "snapshot_partial",
        False,
        "Only copy the small files of each unfinished run in --work_dir to --partial_results_dir (at a session's end).",
    )
    flags.DEFINE_string(
        "partial_results_dir", common.default_output_dir("navigation_partial"), "Where --snapshot_partial copies."
    )
    flags.DEFINE_string(
        "windows",
        "",
        "Only print one run's logs per window of --window_steps agent steps (a seed_<n> results folder,"
        " or a launcher run folder): the tables of the results READMEs, then its evaluations, sittings,"
        " training time and rate, first 50 %/90 % crossings and coverage.",
    )
    flags.DEFINE_integer("window_steps", 200_000, "Window width of --windows, in agent steps.")
    flags.DEFINE_float(
        "ent_coef",
        SWEEP_ENT_COEF,
        "PPO's entropy coefficient for every run (the search's setting; negative: the scale's own).",
    )
    flags.DEFINE_string("variant", "", "Search variant name: results as <method>@<variant> (needs no bindings).")
    flags.DEFINE_multi_string("gin_bindings", [], "The search variant's gin bindings (with --variant).")


def main(argv):
    del argv
    from episodic_curiosity import process_control  # pylint: disable=g-import-not-at-top

    # SIGTERM or Ctrl-C: the runs' clean-up (env workers closed, atomic files) runs, then one line.
    process_control.install_stop_handlers()
    config = flags.FLAGS
    # The planned runs, as every mode takes them.
    plan = {
        "scenarios": config.scenarios,
        "methods": config.methods,
        "run_numbers": [int(s) for s in config.seeds],
        "variant": config.variant,
    }
    if config.windows:
        print(format_windows(window_table(config.windows, config.window_steps), evaluation_summary(config.windows)))
        print("\n" + format_run_facts(run_facts(config.windows)))
        return
    if config.status:
        print(format_status(sweep_status(config.results_dir, config.work_dir, **plan)))
        return
    if config.snapshot_partial:
        copied = snapshot_partial_runs(config.results_dir, config.partial_results_dir, config.work_dir, **plan)
        print("\n".join(copied) or "no unfinished runs")
        return
    shift = r_network_random_steps(config.r_networks_path, config.r_network_env_steps)
    if not config.report:
        method_label("", config.variant)  # a bad variant name fails before any run
        run_sweep(
            config.work_dir,
            config.results_dir,
            num_timesteps=config.num_timesteps,
            scale=config.scale,
            r_networks_path=config.r_networks_path,
            gin_bindings=tuple(config.gin_bindings or ()),
            ent_coef=config.ent_coef if config.ent_coef >= 0 else None,
            **plan,
        )
    result = report(config.results_dir, shift)
    for row in result["rows"]:
        print(row)


if __name__ == "__main__":
    _define_flags()
    app.run(main)
