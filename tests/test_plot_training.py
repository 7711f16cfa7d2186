"""Training plots and final-reward tables from reward CSVs (plot_training), and the notebook."""

import csv
import json
import math
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from episodic_curiosity import metrics_csv
from episodic_curiosity import plot_training

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORIGINAL_WORKDIRS = os.path.join(REPO_ROOT, "..", "shared", "fixtures", "original_workdirs")
NOTEBOOK = os.path.join(REPO_ROOT, "colab", "plot_training_graphs.ipynb")
METHODS = ("ppo", "ppo_plus_ec")
SCENARIO = "vizdoom_sparse"


def _write_run(run_dir, split, rows):
    os.makedirs(run_dir, exist_ok=True)
    for step, value in rows:
        metrics_csv.append_scalar(os.path.join(run_dir, f"reward_{split}.csv"), f"reward_{split}", step, value)


@pytest.fixture
def launcher_workdir(tmp_path):
    """2 methods x 1 scenario x 3 runs of different lengths; returns (workdir, final values).

    reward_train starts with NaN and one run also ends with NaN (its final value is the one
    before); ppo has no reward_valid rows at all (header only, like Ant).
    """
    rng = np.random.default_rng(0)
    workdir = tmp_path / "workdir"
    finals = {}
    for method_index, method in enumerate(METHODS):
        for run in (1, 2, 3):
            run_dir = os.path.join(workdir, method, SCENARIO, f"run_number_{run}")
            length = 6 + 2 * run
            values = rng.normal(method_index, 0.3, size=length)
            train = [(step * 100, math.nan if step == 0 else float(values[step])) for step in range(length)]
            if run == 2:
                train.append((length * 100, math.nan))
            _write_run(run_dir, "train", train)
            _write_run(run_dir, "test", [(step * 300, float(values[step]) + 1) for step in range(0, length, 3)])
            if method == "ppo":
                with open(os.path.join(run_dir, "reward_valid.csv"), "w") as f:
                    f.write("step,reward_valid,timestamp_s\n")
            else:
                _write_run(run_dir, "valid", [(0, 0.5 * run), (300, 0.25 * run)])
            finals[(method, "train", run)] = float(values[length - 1])
            finals[(method, "test", run)] = float(values[list(range(0, length, 3))[-1]]) + 1
            if method != "ppo":
                finals[(method, "valid", run)] = 0.25 * run
    return str(workdir), finals


def test_report_summary_equals_the_csvs_final_values(launcher_workdir, tmp_path):
    workdir, finals = launcher_workdir
    result = plot_training.report([workdir], str(tmp_path / "out"))
    assert len(result["runs"]) == 6
    by_key = {(row["method"], row["split"]): row for row in result["rows"]}
    assert set(by_key) == {
        ("ppo", "train"),
        ("ppo", "test"),
        ("ppo_plus_ec", "train"),
        ("ppo_plus_ec", "test"),
        ("ppo_plus_ec", "valid"),
    }
    for (method, split), row in by_key.items():
        expected = [finals[(method, split, run)] for run in (1, 2, 3)]
        assert row["scenario"] == SCENARIO and row["num_runs"] == 3
        assert row["final_mean"] == pytest.approx(np.mean(expected), abs=1e-12)
        assert row["final_std"] == pytest.approx(np.std(expected), abs=1e-12)
    # Rows are ordered by split as given, then scenario and method.
    assert [(row["split"], row["method"]) for row in result["rows"]] == [
        ("train", "ppo"),
        ("train", "ppo_plus_ec"),
        ("valid", "ppo_plus_ec"),
        ("test", "ppo"),
        ("test", "ppo_plus_ec"),
    ]

    with open(result["summary_csv"]) as f:
        table = list(csv.DictReader(f))
    assert [tuple(row) for row in table][0] == plot_training.SUMMARY_COLUMNS
    for row, expected in zip(table, result["rows"]):
        assert (row["method"], row["split"], int(row["num_runs"])) == (
            expected["method"],
            expected["split"],
            expected["num_runs"],
        )
        assert float(row["final_mean"]) == expected["final_mean"]  # written at full precision
        assert float(row["final_std"]) == expected["final_std"]

    with open(result["summary_markdown"]) as f:
        markdown = f.read()
    test_row = by_key[("ppo_plus_ec", "test")]
    assert f"{test_row['final_mean']:.2f} ± {test_row['final_std']:.2f} (3 runs)" in markdown
    assert "| scenario | ppo | ppo_plus_ec |" in markdown
    assert "| vizdoom_sparse | — |" in markdown  # no ppo values for reward_valid

    names = sorted(os.path.basename(p) for p in result["plots"])
    assert names == sorted(f"reward_{s}.{e}" for s in ("train", "valid", "test") for e in ("png", "svg"))
    for path in result["plots"]:
        if path.endswith(".png"):
            image = cv2.imread(path)
            assert image is not None and image.shape[0] > 200 and image.std() > 0
        else:
            with open(path) as f:
                assert "<svg" in f.read(2000)


def test_report_accepts_several_workdirs_and_split_subsets(launcher_workdir, tmp_path):
    workdir, finals = launcher_workdir
    other = tmp_path / "sweep2" / "vm_7" / "ppo" / SCENARIO / "run_number_1"
    _write_run(str(other), "test", [(0, 5.0), (300, 9.0)])
    result = plot_training.report([workdir, str(tmp_path / "sweep2")], str(tmp_path / "out"), splits=("test",))
    assert [os.path.basename(p) for p in result["plots"]] == ["reward_test.png", "reward_test.svg"]
    (row,) = [r for r in result["rows"] if r["method"] == "ppo"]
    expected = [finals[("ppo", "test", run)] for run in (1, 2, 3)] + [9.0]
    assert row["num_runs"] == 4 and row["final_mean"] == pytest.approx(np.mean(expected))


def test_final_value_is_the_last_non_nan():
    assert plot_training.final_value([1.0, math.nan, 2.0, math.nan]) == 2.0
    assert math.isnan(plot_training.final_value([math.nan]))
    assert math.isnan(plot_training.final_value([]))


def test_aggregate_curves_interpolates_on_a_common_grid():
    short = (np.array([0.0, 100.0]), np.array([0.0, 2.0]))
    long = (np.array([0.0, 50.0, 200.0]), np.array([4.0, 4.0, 6.0]))
    curve = plot_training.aggregate_curves([short, long, (np.zeros(0), np.zeros(0))])
    np.testing.assert_array_equal(curve.steps, [0, 50, 100, 200])
    np.testing.assert_array_equal(curve.count, [2, 2, 2, 1])
    # step 50: short interpolates to 1, long is 4; step 100: 2 and 4 + 2 * 50/150.
    np.testing.assert_allclose(curve.mean, [2.0, 2.5, (2 + 4 + 2 / 3) / 2, 6.0])
    np.testing.assert_allclose(curve.std, [2.0, 1.5, (4 + 2 / 3 - 2) / 2, 0.0])
    many = (np.arange(1000.0), np.arange(1000.0))
    thinned = plot_training.aggregate_curves([many], max_points=50)
    assert thinned.steps.size == 50 and thinned.steps[-1] == 999
    np.testing.assert_allclose(thinned.mean, thinned.steps)


def test_describe_run_layouts(tmp_path):
    run = plot_training.describe_run(str(tmp_path / "vm_1" / "ppo_plus_ec" / "dense1" / "run_number_3"))
    assert (run.method, run.scenario, run.run_number) == ("ppo_plus_ec", "dense1", 3)
    single = tmp_path / "my_run"
    single.mkdir()
    assert plot_training.describe_run(str(single)).scenario == "unknown"
    (single / "flags.txt").write_text("--workdir=/x\n--env_name=vizdoom_dense\n")
    run = plot_training.describe_run(str(single))
    assert (run.method, run.scenario, run.run_number) == ("my_run", "vizdoom_dense", None)
    (single / "flags.txt").write_text("workdir=WORKDIR\nenv_name=dmlab:explore_goal_locations_large\n")
    assert plot_training.describe_run(str(single)).scenario == "dmlab:explore_goal_locations_large"


def test_report_raises_naming_the_folder(tmp_path):
    empty = tmp_path / "empty_workdir"
    (empty / "ppo" / "fake" / "run_number_1" / "checkpoints").mkdir(parents=True)
    with pytest.raises(ValueError, match="no run CSVs.*empty_workdir"):
        plot_training.report([str(empty)], str(tmp_path / "out"))
    with pytest.raises(ValueError, match="missing_dir.*does not exist"):
        plot_training.report([str(tmp_path / "missing_dir")], str(tmp_path / "out"))
    with pytest.raises(ValueError, match="unknown splits"):
        plot_training.report([str(empty)], str(tmp_path / "out"), splits=("eval",))


def test_a_single_run_dir_is_accepted(launcher_workdir, tmp_path):
    workdir, finals = launcher_workdir
    run_dir = os.path.join(workdir, "ppo", SCENARIO, "run_number_2")
    result = plot_training.report([run_dir], str(tmp_path / "out"), splits=("train",))
    (row,) = result["rows"]
    assert (row["method"], row["num_runs"], row["final_std"]) == ("ppo", 1, 0.0)
    assert row["final_mean"] == finals[("ppo", "train", 2)]


@pytest.mark.skipif(not os.path.isdir(ORIGINAL_WORKDIRS), reason="../shared fixtures absent")
def test_report_on_the_original_implementations_workdir(tmp_path):
    result = plot_training.report([ORIGINAL_WORKDIRS], str(tmp_path / "out"))
    assert [os.path.basename(run.path) for run in result["runs"]] == ["train_policy"]  # train_r/ has none
    summary = {(row["split"], row["scenario"], row["num_runs"], row["final_mean"]) for row in result["rows"]}
    assert summary == {(split, "dmlab:explore_goal_locations_large", 1, 0.0) for split in ("train", "valid", "test")}
    assert len(result["plots"]) == 6 and all(os.path.getsize(p) > 1000 for p in result["plots"])


def test_plot_run_draws_one_run_and_rejects_empty_runs(launcher_workdir, tmp_path):
    workdir, _ = launcher_workdir
    run_dir = os.path.join(workdir, "ppo_plus_ec", SCENARIO, "run_number_1")
    path = plot_training.plot_run(run_dir, str(tmp_path / "curves.png"), title="t")
    assert cv2.imread(path).shape == (400, 700, 3)  # no progress.csv: the reward panel only
    # An episodic-curiosity run's diagnostics.csv adds a panel with the bonus and the memory fill.
    with open(os.path.join(run_dir, "diagnostics.csv"), "w") as handle:
        handle.write("eprewmean,total_timesteps,curiosity_episode_bonus,curiosity_memory_size_mean\n")
        for update in range(1, 6):
            handle.write(f"0.1,{update * 100},{'' if update == 1 else 10.0 / update},{update * 3.0}\n")
    path = plot_training.plot_run(run_dir, str(tmp_path / "curves2.png"), title="t")
    assert cv2.imread(path).shape == (650, 700, 3)
    columns = plot_training._progress_columns(run_dir, ("curiosity_memory_size_mean", "not_there"))
    assert sorted(columns) == ["curiosity_memory_size_mean", "total_timesteps"]
    np.testing.assert_allclose(columns["curiosity_memory_size_mean"], [3, 6, 9, 12, 15])
    with pytest.raises(ValueError, match="no reward values"):
        plot_training.plot_run(str(tmp_path), str(tmp_path / "none.png"))


def test_entry_point(launcher_workdir, tmp_path):
    workdir, _ = launcher_workdir
    output_dir = tmp_path / "plots"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "episodic_curiosity.plot_training",
            f"--workdirs={workdir}",
            f"--output_dir={output_dir}",
            "--splits=train,test",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "runs: 6" in result.stdout and "| vizdoom_sparse |" in result.stdout
    assert sorted(os.listdir(output_dir)) == [
        "reward_test.png",
        "reward_test.svg",
        "reward_train.png",
        "reward_train.svg",
        "summary.csv",
        "summary.md",
    ]
    failed = subprocess.run(
        [
            sys.executable,
            "-m",
            "episodic_curiosity.plot_training",
            f"--workdirs={tmp_path / 'nothing'}",
            f"--output_dir={output_dir}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert failed.returncode != 0 and "nothing" in failed.stderr


def test_notebook_executes_on_a_workdir(launcher_workdir, tmp_path, monkeypatch):
    """Runs the notebook's code cells in this process (no Jupyter kernel needed), with the
    parameters cell replaced; outside Colab the install cell must not call pip."""
    workdir, _ = launcher_workdir
    with open(NOTEBOOK) as f:
        notebook = json.load(f)
    code_cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    parameter_cells = [cell for cell in code_cells if "parameters" in cell["metadata"].get("tags", [])]
    assert len(parameter_cells) == 1
    output_dir = tmp_path / "notebook_plots"
    parameter_cells[0]["source"] = f"WORKDIRS = [{workdir!r}]\nOUTPUT_DIR = {str(output_dir)!r}\nSPLITS = ('test',)\n"

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"the notebook ran a subprocess outside Colab: {args}")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    namespace = {"__name__": "__notebook__"}
    for cell in code_cells:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        exec(compile(source, NOTEBOOK, "exec"), namespace)  # pylint: disable=exec-used
    result = namespace["result"]
    assert len(result["runs"]) == 6 and {row["split"] for row in result["rows"]} == {"test"}
    assert sorted(os.listdir(output_dir)) == ["reward_test.png", "reward_test.svg", "summary.csv", "summary.md"]
