"""Tests of the experiment helpers (experiments/): bonus bookkeeping and the gap analysis."""

import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "experiments"))

import navigation  # noqa: E402

import common  # noqa: E402
import r_network_quality  # noqa: E402


class _FakeRNetwork:
    """Embedding = the frame's mean colour; similar (1) iff embeddings are within 10 grey levels."""

    input_shape = (4, 4, 3)

    def embed(self, frames):
        return np.asarray(frames, np.float32).mean(axis=(1, 2))

    def similarity(self, a, b):
        return (np.abs(np.asarray(a) - np.asarray(b)).max(axis=1) < 10).astype(np.float32)


def _frames(levels):
    return np.stack([np.full((4, 4, 3), level, np.uint8) for level in levels])


def test_episodic_bonus_along_follows_the_packages_bonus_rule():
    result = common.episodic_bonus_along(_FakeRNetwork(), _frames([0, 0, 100, 100, 200, 0]))
    # Empty memory: beta. A new frame: beta, stored. A seen one: beta - 90th percentile of the
    # similarities (linear interpolation: [0, 1] -> 0.9, [1, 0, 0] -> 0.8), not stored.
    np.testing.assert_allclose(result["bonus"], [0.5, -0.5, 0.5, -0.4, 0.5, -0.3])
    np.testing.assert_array_equal(result["memory_size"], [0, 1, 1, 2, 2, 3])


def test_gap_accuracy_labels_and_accuracy():
    # Frame t has grey level 3 t: frames up to 3 steps apart are "similar" for the fake net.
    episode = _frames(np.arange(80) * 3 % 256)[:80]
    network = _FakeRNetwork()
    rows = {
        row["gap"]: row
        for row in r_network_quality.gap_accuracy(network, [network.embed(episode)], pairs_per_gap=10, seed=0)
    }
    assert rows[1]["label"] == 1 and rows[1]["accuracy"] == 1.0
    assert rows[5]["label"] == 1 and rows[5]["accuracy"] == 0.0  # 15 grey levels apart
    assert rows[10]["label"] == "" and np.isnan(rows[10]["accuracy"])
    assert rows[30]["label"] == 0 and rows[30]["accuracy"] == 1.0
    assert rows[100]["num_pairs"] == 0  # longer than the episode


def test_newest_r_network_names_the_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="r_network_quality"):
        common.newest_r_network(str(tmp_path))
    for epoch in (5, 20, 10):
        (tmp_path / f"r_network_weights.{epoch:05d}.h5").write_bytes(b"")
    assert common.newest_r_network(str(tmp_path)).endswith("r_network_weights.00020.h5")


def test_stage_parsing():
    stage = r_network_quality.Stage.parse("190:1600000:400000:15000")
    assert stage == r_network_quality.Stage(190, 1_600_000, 400_000, 15_000)
    assert [r_network_quality.Stage.parse(s).epochs_to for s in r_network_quality.DEFAULT_STAGES] == [46, 90, 210]
    for bad in ("90:400000", "90:400000:400000:x", "0:100:100:100"):
        with pytest.raises(ValueError, match="stage"):
            r_network_quality.Stage.parse(bad)


def test_negative_revisits_finds_the_walk_back():
    # The agent walks 40 steps east and back, looking east: frame = 3 * x grey levels, so the
    # fake network calls frames within 3 map units "reachable".
    x = np.concatenate([np.arange(40), np.arange(39, -1, -1)])
    poses = np.stack([x, np.zeros_like(x), np.zeros_like(x)], axis=1).astype(np.float64)
    network = _FakeRNetwork()
    result = r_network_quality.negative_revisits(
        network, [network.embed(_frames(x * 3))], [poses], pairs_per_episode=400, seed=0
    )
    assert result["revisit_max_distance"] == 5.0 and result["revisit_max_turn_degrees"] == 0.0
    assert 0.02 < result["negative_share_pose_revisits"] < 0.5
    assert result["negative_accuracy_other"] == 1.0  # > 5 units apart: 15+ grey levels
    assert result["negative_accuracy_pose_revisits"] < 0.8
    assert result["negative_errors_that_are_pose_revisits"] == 1.0


def test_pose_distances_wrap_the_view_angle():
    poses = np.array([[0.0, 0.0, 350.0], [3.0, 4.0, 10.0]])
    distance, turn = r_network_quality.pose_distances(poses, np.array([0]), np.array([1]))
    np.testing.assert_allclose(distance, [5.0])
    np.testing.assert_allclose(turn, [20.0])


def test_negative_revisits_needs_poses():
    poses = np.full((40, 3), np.nan)  # a scenario without position/angle in its infos
    network = _FakeRNetwork()
    assert (
        r_network_quality.negative_revisits(
            network, [network.embed(_frames(range(40)))], [poses], pairs_per_episode=10, seed=0
        )
        == {}
    )


def test_sparse_navigation_skips_rows_cut_by_a_kill(tmp_path):
    import sparse_navigation  # pylint: disable=g-import-not-at-top

    reward = tmp_path / "reward_train.csv"
    reward.write_text("step,reward_train,timestamp_s\n0,0.0,100\n64,1.0,110\n13")
    assert sparse_navigation.read_rows(str(reward)) == [(0, 0.0), (64, 1.0)]
    timings = tmp_path / "timings.csv"
    timings.write_text("ppo,1,12.5\nppo,2,13.0\nppo,1,20.0\nppo_plus_ec,1")
    assert sparse_navigation.read_timings(str(timings)) == {("ppo", 1): 20.0, ("ppo", 2): 13.0}
    timings.write_text("ppo,1\nppo,2,13.0\n")
    with pytest.raises(ValueError, match=r"timings\.csv: line 1"):
        sparse_navigation.read_timings(str(timings))


def test_laptop_r_network_measures_and_ships_a_launcher_job(tmp_path, monkeypatch):
    """A smoke-scale R-network job of the launcher, measured and shipped as a `pretrained:` model."""
    import dataclasses  # pylint: disable=g-import-not-at-top

    import gin  # pylint: disable=g-import-not-at-top

    from episodic_curiosity import launcher  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import pretrained  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import r_network  # pylint: disable=g-import-not-at-top

    import laptop_r_network  # pylint: disable=g-import-not-at-top

    job = str(tmp_path / "job")
    monkeypatch.setitem(
        launcher.SCALE_SETTINGS,
        "smoke",
        dataclasses.replace(launcher.SCALE_SETTINGS["smoke"], data_env_steps=1000, data_tasks=1, data_workers=1),
    )
    try:
        launcher.train_r_network_only(
            job,
            "fake",
            "smoke",
            gin_bindings=["train_r.num_epochs = 2", "train_r.steps_per_epoch = 5", "train_r.validation_steps = 2"],
            show_progress=False,
        )
    finally:
        gin.clear_config()
    measured_files = []
    heldout_accuracy = r_network_quality.heldout_accuracy

    def recording_heldout_accuracy(*args, files=None, **kwargs):
        measured_files.extend(files)
        return heldout_accuracy(*args, files=files, **kwargs)

    monkeypatch.setattr(r_network_quality, "heldout_accuracy", recording_heldout_accuracy)
    headline, gaps, weights = laptop_r_network.measure(
        job, gap_episodes=1, pairs_per_gap=3, max_files=1, scenario="fake"
    )
    # measure() was given only files that train_r recorded as held out, none it trained on.
    with open(os.path.join(job, "r_networks", "data_split.json")) as handle:
        split = json.load(handle)
    assert measured_files and set(measured_files) <= set(split["validation_files"])
    assert not set(measured_files) & set(split["train_files"])
    assert headline["heldout_files"] == 1 and headline["heldout_pairs"] > 0
    assert 0 <= headline["heldout_acc_reachable"] <= 1 and 0 <= headline["heldout_acc_not_reachable"] <= 1
    assert headline["epochs"] == 2 and [row["gap"] for row in gaps] == list(r_network_quality.GAPS)
    monkeypatch.setattr(pretrained, "MODELS_DIR", str(tmp_path / "models"))
    laptop_r_network.ship(weights, headline, job, name="toy")
    card = pretrained.card("pretrained:toy")
    assert card["measured"]["heldout_acc"] == headline["heldout_acc"] and card["seed"] == 0
    loaded = r_network.RNetwork(weights_path="pretrained:toy")  # no gin bindings needed
    assert loaded.architecture == r_network.RNetwork(weights_path=weights).architecture


def _write_run(root, scenario, method, run_number, steps, train, test, seconds):
    from episodic_curiosity import metrics_csv  # pylint: disable=g-import-not-at-top

    folder = root / scenario / method / f"seed_{run_number}"
    folder.mkdir(parents=True)
    for step, value in zip(steps, train):
        metrics_csv.append_scalar(str(folder / "reward_train.csv"), "reward_train", step, value)
    for step, value in zip(steps, test):
        metrics_csv.append_scalar(str(folder / "reward_test.csv"), "reward_test", step, value)
    (folder / "seed.json").write_text(f'{{"seed": {run_number - 1}, "run_number": {run_number}}}')
    (folder / "progress.csv").write_text(f"nupdates,time_elapsed\n1,{seconds / 2}\n2,{seconds}\n")


def test_navigation_report_table_and_figures(tmp_path):
    steps = [1e6, 2e6, 3e6, 4e6]
    _write_run(tmp_path, "vizdoom_sparse", "ppo_plus_ec", 1, steps, [0.2, 0.6, 0.95, 0.97], [0, 0.5, 1, 1], 3600)
    _write_run(tmp_path, "vizdoom_sparse", "ppo_plus_ec", 2, steps, [0.1, 0.4, 0.92, 0.99], [0, 0.5, 1, 0.9], 7200)
    _write_run(tmp_path, "vizdoom_sparse", "ppo_plus_icm", 1, steps, [0.1, 0.5, 0.6, 0.9], [0, 0, 0.5, 1], 3600)
    _write_run(tmp_path, "vizdoom_sparse", "ppo_plus_icm", 2, steps, [0.0, 0.2, 0.7, 0.95], [0, 0, 0.5, 1], 3600)
    _write_run(tmp_path, "vizdoom_sparse", "ppo", 1, steps, [0.0, float("nan"), 0.1, 0.2], [0, 0, 0, 0.1], 1800)
    result = navigation.report(str(tmp_path), ec_shift_steps=1.6e6)
    rows = {row["method"]: row for row in result["rows"]}
    assert rows["ppo_plus_ec"]["steps_to_50pc"] == "2.00M / 3.00M"
    assert rows["ppo_plus_ec"]["steps_to_90pc"] == "3.00M / 3.00M"
    assert rows["ppo_plus_ec"]["final_train_success"] == "0.98 ± 0.01"
    assert rows["ppo_plus_ec"]["final_test_success"] == "0.82 ± 0.02"  # means of the last 3: 0.83, 0.80
    assert rows["ppo_plus_ec"]["seeds"] == "0 / 1" and rows["ppo_plus_ec"]["wall_clock_h"] == "1.0 / 2.0"
    assert rows["ppo_plus_icm"]["icm_over_ec_steps_to_90pc"] == "1.33"  # 4M / 3M
    assert rows["ppo"]["steps_to_90pc"] == "not reached"
    # One seed has no std: its value is given as such, not as "± 0.00".
    assert rows["ppo"]["final_train_success"] == "0.20 (1 seed)"
    assert sorted(os.path.basename(p) for p in result["figures"]) == [
        "vizdoom_sparse_success.png",
        "vizdoom_sparse_success_shifted.png",
    ]
    assert all(os.path.getsize(p) > 0 for p in result["figures"])
    table = (tmp_path / "table.md").read_text()
    assert sum(line.startswith("|") for line in table.splitlines()) == 2 + 3
    # Every column is defined under the table.
    assert all(f"- `{name}`" in table for name, _ in navigation.TABLE_COLUMNS)
    header = table.splitlines()[0]
    assert all(name in header for names, _ in navigation.TABLE_COLUMNS for name in names.split(" / "))


def test_navigation_copies_a_runs_small_files_without_machine_paths(tmp_path):
    run_dir = tmp_path / "work" / "ppo" / "vizdoom_sparse" / "run_number_1"
    run_dir.mkdir(parents=True)
    (run_dir / "reward_train.csv").write_text("step,reward_train,wall_time\n")
    (run_dir / "provenance.json").write_text(
        json.dumps({"workdir": str(run_dir), "argv": [common.REPO_ROOT + "/x.py"]})
    )
    (run_dir / "checkpoints").mkdir()
    copied = navigation.copy_run(str(run_dir), str(tmp_path / "out"), str(tmp_path / "work"))
    assert sorted(os.path.basename(p) for p in copied) == ["provenance.json", "reward_train.csv"]
    text = (tmp_path / "out" / "provenance.json").read_text()
    assert str(tmp_path) not in text and common.REPO_ROOT not in text and "<repo>/x.py" in text


def test_navigation_coverage_histograms_and_figure(tmp_path):
    pytest.importorskip("vizdoom")
    positions = tmp_path / "positions.csv"
    rows = ["env,total_timesteps,vector_step,x,y"]
    rows += [f"0,{step},{step},{300 + step / 10},-176" for step in range(0, 1001, 100)]  # walks east
    positions.write_text("\n".join(rows) + "\n")
    bounds = ((160.0, 1120.0), (-704.0, 128.0))
    h = navigation.coverage_histograms(str(positions), bounds, bins=8)
    assert h["early"].sum() == 2 and h["late"].sum() == 1  # steps 0, 100 | 1000
    assert h["early"].shape == (8, 8) and float(h["steps"]) == 1000
    late_x = np.flatnonzero(h["late"].sum(axis=1))[0]
    assert late_x > np.flatnonzero(h["early"].sum(axis=1))[0]  # further east late in the run
    path = navigation.plot_coverage({"ppo": h}, navigation.map_geometry(), str(tmp_path / "c.png"), "test")
    assert os.path.getsize(path) > 0
    vest = navigation.vest_position(navigation.map_geometry())
    assert vest == (1040.0, -352.0)  # MyWayHome's green armor
    summary = navigation.coverage_summary(h, vest)
    assert summary["early_cells"] == 1 and summary["late_cells"] == 1  # x 300 and 310 share a cell
    assert summary["early_near_vest_pc"] == 0.0  # (300, -176) and (310, -176): far west
    assert summary["late_near_vest_pc"] == 0.0  # (400, -176): still ~650 units from the vest
    near = navigation.coverage_summary(h, (460.0, -132.0), radius=60.0)  # the late cell's centre
    assert near["late_near_vest_pc"] == 100.0 and near["early_near_vest_pc"] == 0.0


def test_navigation_report_gives_each_seeds_coverage_numbers(tmp_path):
    """With a run's coverage.npz the table says, per seed, how many map cells it visited early
    and late and how much of its late time it spent near the vest; runs without one say '—'."""
    pytest.importorskip("vizdoom")
    steps = [1e6, 2e6]
    _write_run(tmp_path, "vizdoom_sparse", "ppo", 1, steps, [0.0, 0.0], [0, 0], 1800)
    _write_run(tmp_path, "vizdoom_sparse", "ppo", 2, steps, [0.0, 0.0], [0, 0], 1800)
    _write_run(tmp_path, "vizdoom_sparse", "ppo", 3, steps, [0.0, 0.0], [0, 0], 1800)
    positions = tmp_path / "positions.csv"
    rows = ["env,total_timesteps,vector_step,x,y"]
    rows += [f"0,{step},{step},{300 + step / 10},-176" for step in range(0, 1001, 100)]
    rows += ["1,1000,1000,1040,-352", "2,990,990,1030,-340"]  # two late positions at the vest
    positions.write_text("\n".join(rows) + "\n")
    vertices = navigation.map_geometry().vertices
    bounds = tuple((float(lo), float(hi)) for lo, hi in zip(vertices.min(axis=0), vertices.max(axis=0)))
    for run_number in (1, 3):
        np.savez(
            tmp_path / "vizdoom_sparse" / "ppo" / f"seed_{run_number}" / "coverage.npz",
            **navigation.coverage_histograms(str(positions), bounds),
        )
    result = navigation.report(str(tmp_path), ec_shift_steps=0.0)
    row = result["rows"][0]
    # early: x 300 and 310 share a ~20-unit cell; late: x 400 and the two cells by the vest
    assert row["coverage_cells_early_to_late"] == "1→3 / — / 1→3"
    assert row["late_near_vest_pc"] == "66.7 / — / 66.7"  # 2 of the 3 late positions
    # the figure shows (and its panel titles name) the lowest-numbered run with coverage
    assert result["coverage_runs"] == {"vizdoom_sparse": {"ppo": {"run": 1, "seed": 0}}}
    assert "vizdoom_sparse_coverage.png" in [os.path.basename(p) for p in result["figures"]]


def _process_group(pgid):
    """Pids of the live (not zombie) processes of process group `pgid`."""
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(name))
    return members


@pytest.mark.vizdoom
def test_sigterm_stops_a_navigation_run_cleanly_with_no_workers_left(tmp_path):
    """The experiment scripts take the entry points' stop path: clean-up, one line, no orphans."""
    import signal  # pylint: disable=g-import-not-at-top
    import subprocess  # pylint: disable=g-import-not-at-top
    import time  # pylint: disable=g-import-not-at-top

    pytest.importorskip("vizdoom")
    run_dir = tmp_path / "work" / "ppo" / "vizdoom_sparse" / "run_number_1"
    command = [
        sys.executable,
        os.path.join(common.REPO_ROOT, "experiments", "navigation.py"),
        "--scenarios=vizdoom_sparse",
        "--methods=ppo",
        "--seeds=1",
        "--scale=smoke",
        "--num_timesteps=1000000",
        f"--work_dir={tmp_path / 'work'}",
        f"--results_dir={tmp_path / 'results'}",
    ]
    log = open(tmp_path / "stderr.txt", "w+")  # noqa: SIM115  (read back below)
    process = subprocess.Popen(
        command, cwd=common.REPO_ROOT, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
    )
    try:
        deadline = time.time() + 300
        while not (run_dir / "checkpoints").is_dir() or not os.listdir(run_dir / "checkpoints"):
            assert process.poll() is None, open(tmp_path / "stderr.txt").read()[-3000:]
            assert time.time() < deadline, "no checkpoint within 300 s"
            time.sleep(0.2)
        assert len(_process_group(process.pid)) > 1  # the env workers are running
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=60)
        deadline = time.time() + 15
        while _process_group(process.pid) and time.time() < deadline:
            time.sleep(0.2)
        assert _process_group(process.pid) == []
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    log.seek(0)
    stderr = log.read()
    log.close()
    assert returncode == 1 and "Traceback" not in stderr, stderr[-3000:]
    assert "stopped by SIGTERM" in stderr
    assert not (tmp_path / "results" / "vizdoom_sparse").exists()  # a stopped run is not copied as finished


def test_scrub_paths_replaces_whole_folders_only():
    text = "--workdir=/home/a/runs --out=/home2/x cd /home/a; /home/a/runs/ppo 'q=/home/a'"
    scrubbed = common.scrub_paths(text, {"/home/a": "<repo>", "/home/a/runs": "<experiments workdir>"})
    assert scrubbed == "--workdir=<experiments workdir> --out=/home2/x cd <repo>; <experiments workdir>/ppo 'q=<repo>'"
    # The root folder (a run folder one level deep gives it as its "workdir") is never replaced.
    assert common.scrub_paths("/runs/x/y", {"/": "<w>", "": "<v>"}) == "/runs/x/y"


def test_ship_policy_scrubs_a_shallow_run_folder_without_garbling_the_command():
    import ship_policy  # noqa: E402  pylint: disable=g-import-not-at-top

    command = "python -m episodic_curiosity.train_policy --workdir=/runs/x --env_name=vizdoom_sparse"
    # Before the fix: the "workdir" three levels above /runs/x was "/", and every "/" became one.
    assert ship_policy._scrub(command, "/runs/x") == command.replace("/runs/x", "<run folder>")
    layout = "/data/exp/ppo/vizdoom_sparse/run_number_2"
    assert ship_policy._scrub(f"--workdir=/data/exp --x={layout}", layout) == (
        "--workdir=<experiments workdir> --x=<experiments workdir>/ppo/vizdoom_sparse/run_number_2"
    )


def test_ship_policy_scrubs_a_search_variants_base_workdir():
    import ship_policy  # noqa: E402  pylint: disable=g-import-not-at-top

    run = "/data/exp/variants/ent_0.03/ppo_plus_ec/vizdoom_sparse/run_number_1"
    assert ship_policy._scrub(f"--work_dir=/data/exp --run_dir={run}", run) == (
        "--work_dir=<experiments workdir> --run_dir=<experiments workdir>/variants/ent_0.03/ppo_plus_ec/"
        "vizdoom_sparse/run_number_1"
    )


def test_ship_policy_refuses_names_that_would_replace_another_model(tmp_path, monkeypatch):
    import ship_policy  # noqa: E402  pylint: disable=g-import-not-at-top

    from episodic_curiosity import pretrained  # pylint: disable=g-import-not-at-top

    monkeypatch.setattr(pretrained, "MODELS_DIR", str(tmp_path))
    shipped = tmp_path / "vizdoom"
    shipped.mkdir()
    (shipped / "card.json").write_text(json.dumps({"kind": "r_network", "weights": "r.h5"}))
    (shipped / "r.h5").write_bytes(b"weights")
    exported = tmp_path / "policy.00002.h5"
    exported.write_bytes(b"policy")
    # Before the fix, ship() deleted r.h5 and replaced the R-network's card.
    with pytest.raises(ValueError, match="kind 'r_network', not a policy"):
        ship_policy.ship(str(exported), {"weights": exported.name, "kind": "policy"}, "vizdoom")
    assert (shipped / "r.h5").read_bytes() == b"weights"
    assert json.loads((shipped / "card.json").read_text())["kind"] == "r_network"
    for name in ("../elsewhere", "a/b", "", ".."):
        with pytest.raises(ValueError, match="one plain folder name"):
            ship_policy.ship(str(exported), {"weights": exported.name, "kind": "policy"}, name)
    assert sorted(os.listdir(tmp_path)) == ["policy.00002.h5", "vizdoom"]
    folder = ship_policy.ship(str(exported), {"weights": exported.name, "kind": "policy"}, "toy")
    assert sorted(os.listdir(folder)) == ["card.json", "policy.00002.h5"]  # no temporary file left


def test_navigation_search_variant_runs_apart_and_is_recorded(tmp_path, monkeypatch):
    """A search run (issue #20's small search): its own workdir, its own results label, and its
    bindings recorded in variant.json and in the run's launcher.gin; the recorded command's
    --work_dir (the base, not the variant's folder) becomes a placeholder in the copies."""
    from tiny_config import TINY_ON_FAKE  # pylint: disable=g-import-not-at-top

    monkeypatch.setattr(sys, "argv", ["experiments/navigation.py", f"--work_dir={tmp_path / 'work'}"])

    with pytest.raises(ValueError, match="letters, digits"):
        navigation.method_label("ppo", "ent/0.05")
    with pytest.raises(ValueError, match="give the search run a --variant"):
        navigation.run_one(
            str(tmp_path / "w"), str(tmp_path / "r"), "fake", "ppo", 1, 40, "smoke", None, gin_bindings=("x = 1",)
        )
    assert not (tmp_path / "w").exists()
    binding = "PPOConfig.ent_coef = 0.05"
    copied = navigation.run_one(
        str(tmp_path / "work"),
        str(tmp_path / "results"),
        "fake",
        "ppo",
        1,
        40,
        "smoke",
        None,
        variant="ent_0.05",
        gin_bindings=(*TINY_ON_FAKE, binding),
        num_env=2,
        asynchronous=False,
    )
    destination = tmp_path / "results" / "fake" / "ppo@ent_0.05" / "seed_1"
    assert str(destination / "variant.json") in copied and (destination / "reward_train.csv").exists()
    assert json.loads((destination / "variant.json").read_text())["gin_bindings"][-1] == binding
    assert "PPOConfig.ent_coef = 0.05" in (destination / "launcher.gin").read_text()
    recorded = (destination / "provenance.json").read_text()
    assert "--work_dir=<experiments workdir>" in recorded and str(tmp_path) not in recorded
    assert (tmp_path / "work" / "variants" / "ent_0.05" / "ppo" / "fake" / "run_number_1" / "checkpoints").is_dir()
    assert not (tmp_path / "work" / "ppo").exists()  # the defaults' runs are untouched


def test_navigation_variant_json_scrubs_machine_paths_in_bindings(tmp_path, monkeypatch):
    """A search binding naming a folder of the workdir or the checkout is committed with
    placeholders (variant.json was written as given)."""
    from episodic_curiosity import launcher  # pylint: disable=g-import-not-at-top

    run_dir = tmp_path / "work" / "variants" / "v" / "run"
    run_dir.mkdir(parents=True)
    (run_dir / "seed.json").write_text('{"seed": 0}')
    monkeypatch.setattr(launcher, "launch", lambda *args, **kwargs: {"run_dir": str(run_dir)})
    bindings = (
        f"train_policy.r_checkpoint = '{tmp_path / 'work' / 'r.h5'}'",
        f"x.path = '{os.path.join(common.REPO_ROOT, 'y.h5')}'",
    )
    navigation.run_one(
        str(tmp_path / "work"), str(tmp_path / "results"), "fake", "ppo", 1, 40, "smoke", None, "v", bindings
    )
    recorded = json.loads((tmp_path / "results" / "fake" / "ppo@v" / "seed_1" / "variant.json").read_text())
    assert recorded["gin_bindings"] == [
        "train_policy.r_checkpoint = '<experiments workdir>/r.h5'",
        "x.path = '<repo>/y.h5'",
    ]


def test_committed_results_and_models_hold_no_machine_paths():
    """What ships in git (results, model cards) names no folder of the machine it was made on;
    READMEs may show example commands, every other text file must use placeholders."""
    roots = [common.RESULTS_DIR, os.path.join(common.REPO_ROOT, "episodic_curiosity", "pretrained")]
    import tempfile  # pylint: disable=g-import-not-at-top

    # This machine's folders: temporary files, the checkout's parent, the home folder, the checkout.
    folders = (tempfile.gettempdir(), os.path.dirname(common.REPO_ROOT), os.path.expanduser("~"))
    markers = {folder.rstrip(os.sep) + os.sep for folder in folders if folder.rstrip(os.sep)} | {common.REPO_ROOT}
    offenders = []
    for root in roots:
        for folder, _, names in os.walk(root):
            for name in names:
                if name.endswith(".md") or not name.endswith((".txt", ".json", ".csv", ".gin")):
                    continue
                path = os.path.join(folder, name)
                with open(path, errors="replace") as handle:
                    text = handle.read()
                for marker in markers:
                    if marker in text:
                        offenders.append(f"{os.path.relpath(path, common.REPO_ROOT)}: {marker}")
    assert offenders == []


def test_navigation_sweep_binds_its_entropy_for_every_method_before_a_variant(tmp_path, monkeypatch):
    """The sweep's PPO entropy (the search's 0.03) reaches every run's launcher bindings; a search
    variant's own binding comes after it (gin keeps the last), and None leaves the scale's own."""
    from episodic_curiosity import launcher  # pylint: disable=g-import-not-at-top

    calls = []
    run_dir = tmp_path / "run"
    run_dir.mkdir()

    def fake_launch(*args, **kwargs):
        calls.append(kwargs["gin_bindings"])
        return {"run_dir": str(run_dir)}

    monkeypatch.setattr(launcher, "launch", fake_launch)
    for method in navigation.METHODS:
        navigation.run_one(
            str(tmp_path / "w"), str(tmp_path / "r"), "fake", method, 1, 40, "smoke", None, ent_coef=0.03
        )
    assert all("PPOConfig.ent_coef = 0.03" in bindings for bindings in calls)
    navigation.run_one(
        str(tmp_path / "w"),
        str(tmp_path / "r"),
        "fake",
        "ppo",
        1,
        40,
        "smoke",
        None,
        "e",
        ("PPOConfig.ent_coef = 0.1",),
        0.03,
    )
    assert calls[-1].index("PPOConfig.ent_coef = 0.03") < calls[-1].index("PPOConfig.ent_coef = 0.1")
    navigation.run_one(str(tmp_path / "w"), str(tmp_path / "r"), "fake", "ppo", 1, 40, "smoke", None)
    assert not any("ent_coef" in binding for binding in calls[-1])
    assert navigation.SWEEP_ENT_COEF == 0.03


def test_navigation_status_tells_done_partial_and_not_started_runs_apart(tmp_path):
    header = "nupdates,total_timesteps,eprewmean\n"
    results, work = tmp_path / "results", tmp_path / "work"
    done = results / "vizdoom_sparse" / "ppo" / "seed_1"
    done.mkdir(parents=True)
    (done / "progress.csv").write_text(header + "1,1536,0\n2,3072,0\n")
    live = work / "ppo_plus_ec" / "vizdoom_sparse" / "run_number_1"
    live.mkdir(parents=True)
    # A kill mid-write leaves a torn last row: the status reads the last complete one.
    (live / "progress.csv").write_text(header + "1,1536,0\n2,3072,0\n3,46")
    os.utime(live / "progress.csv", (1000.0, 1000.0))
    # A launcher folder with no logged update yet (killed before its first) is not started.
    (work / "ppo" / "vizdoom_sparse" / "run_number_2").mkdir(parents=True)
    rows = navigation.sweep_status(
        str(results), str(work), ["vizdoom_sparse"], ["ppo", "ppo_plus_ec"], [1, 2], now=1000.0 + 90
    )
    states = {(row["method"], row["run"]): (row["state"], row["agent_steps"]) for row in rows}
    assert states == {
        ("ppo", 1): ("done", 3072),
        ("ppo_plus_ec", 1): ("partial", 3072),
        ("ppo", 2): ("not started", 0),
        ("ppo_plus_ec", 2): ("not started", 0),
    }
    partial = next(row for row in rows if row["state"] == "partial")
    assert partial["minutes_since_written"] == 1.5 and partial["seed"] == 0
    table = navigation.format_status(rows)
    assert "| vizdoom_sparse | ppo_plus_ec | 1 (0) | partial | 3,072 | 1.5 min ago |" in table
    # A search variant's runs live in their own workdir and results label.
    variant_rows = navigation.sweep_status(str(results), str(work), ["vizdoom_sparse"], ["ppo"], [1], variant="v")
    assert variant_rows[0]["method"] == "ppo@v" and variant_rows[0]["state"] == "not started"


def test_navigation_snapshot_copies_only_unfinished_runs_without_machine_paths(tmp_path):
    results, partial, work = tmp_path / "results", tmp_path / "partial", tmp_path / "work"
    header = "nupdates,total_timesteps,eprewmean\n"
    done = results / "vizdoom_sparse" / "ppo" / "seed_1"
    done.mkdir(parents=True)
    (done / "progress.csv").write_text(header + "1,1536,0\n")
    for method in ("ppo", "ppo_plus_icm"):  # the finished one's workdir copy stays where it is
        live = work / method / "vizdoom_sparse" / "run_number_1"
        (live / "checkpoints").mkdir(parents=True)
        (live / "progress.csv").write_text(header + "1,1536,0\n")
        (live / "provenance.json").write_text(json.dumps({"workdir": str(live)}))
    copied = navigation.snapshot_partial_runs(
        str(results), str(partial), str(work), ["vizdoom_sparse"], ["ppo", "ppo_plus_icm"], [1]
    )
    target = partial / "vizdoom_sparse" / "ppo_plus_icm" / "seed_1"
    assert sorted(copied) == sorted([str(target / "progress.csv"), str(target / "provenance.json")])
    assert not (partial / "vizdoom_sparse" / "ppo").exists()
    assert str(work) not in (target / "provenance.json").read_text()


def test_navigation_sweep_skips_runs_whose_results_are_in_and_runs_the_rest(tmp_path, monkeypatch):
    """A finished run is not trained again when its workdir is gone (another machine): its
    committed results are the record; every other planned run goes through run_one, in order."""
    done = tmp_path / "results" / "vizdoom_sparse" / "ppo" / "seed_1"
    done.mkdir(parents=True)
    (done / "progress.csv").write_text("nupdates,total_timesteps\n1,1536\n")
    calls = []

    def fake_run_one(work_dir, results_root, scenario, method, run_number, *args, **kwargs):
        calls.append((scenario, method, run_number, kwargs["variant"]))
        assert kwargs["ent_coef"] == 0.03  # every run gets the sweep's entropy
        return []

    monkeypatch.setattr(navigation, "run_one", fake_run_one)
    outcomes = navigation.run_sweep(
        str(tmp_path / "work"),
        str(tmp_path / "results"),
        ["vizdoom_sparse"],
        ["ppo", "ppo_plus_ec"],
        [1, 2],
        40,
        "smoke",
        None,
        ent_coef=0.03,
    )
    assert outcomes == [
        ("vizdoom_sparse", "ppo", 1, "skipped"),
        ("vizdoom_sparse", "ppo_plus_ec", 1, "ran"),
        ("vizdoom_sparse", "ppo", 2, "ran"),
        ("vizdoom_sparse", "ppo_plus_ec", 2, "ran"),
    ]
    assert calls == [
        ("vizdoom_sparse", "ppo_plus_ec", 1, ""),
        ("vizdoom_sparse", "ppo", 2, ""),
        ("vizdoom_sparse", "ppo_plus_ec", 2, ""),
    ]
    # A search variant's results are its own: the defaults' finished run does not skip it.
    assert navigation.run_sweep(
        str(tmp_path / "work"),
        str(tmp_path / "results"),
        ["vizdoom_sparse"],
        ["ppo"],
        [1],
        40,
        "smoke",
        None,
        "v",
        ent_coef=0.03,
    ) == [("vizdoom_sparse", "ppo@v", 1, "ran")]


def test_navigation_copy_writes_progress_last_and_snapshot_keeps_the_copy_that_got_further(tmp_path):
    header = "nupdates,total_timesteps,eprewmean\n"
    results, partial, work = tmp_path / "results", tmp_path / "partial", tmp_path / "work"
    live = work / "ppo_plus_ec" / "vizdoom_sparse" / "run_number_1"
    live.mkdir(parents=True)
    (live / "progress.csv").write_text(header + "1,1536,0\n")
    (live / "seed.json").write_text("{}")
    # progress.csv, whose presence marks a finished copy, comes last.
    copied = navigation.copy_run(str(live), str(tmp_path / "copy"), str(work))
    assert [os.path.basename(p) for p in copied] == ["seed.json", "progress.csv"]
    # An earlier attempt of the run (another machine) got further: its copy stays.
    target = partial / "vizdoom_sparse" / "ppo_plus_ec" / "seed_1"
    target.mkdir(parents=True)
    (target / "progress.csv").write_text(header + "1,1536,0\n2,3072,0\n")
    (target / "coverage.npz").write_bytes(b"old")
    args = (str(results), str(partial), str(work), ["vizdoom_sparse"], ["ppo_plus_ec"], [1])
    assert navigation.snapshot_partial_runs(*args) == []
    assert (target / "coverage.npz").read_bytes() == b"old"
    # Once this run is further along, its copy replaces the earlier one whole.
    (live / "progress.csv").write_text(header + "1,1536,0\n2,3072,0\n3,4608,0\n")
    assert len(navigation.snapshot_partial_runs(*args)) == 2
    assert not (target / "coverage.npz").exists() and (target / "progress.csv").read_text().endswith("3,4608,0\n")


def test_navigation_run_lock_keeps_a_second_sweep_off_a_running_run(tmp_path, monkeypatch):
    work = tmp_path / "work"
    live = work / "ppo" / "vizdoom_sparse" / "run_number_1"
    live.mkdir(parents=True)
    (live / "progress.csv").write_text("nupdates,total_timesteps\n1,1536\n")
    done = tmp_path / "results" / "vizdoom_sparse" / "ppo" / "seed_2"
    done.mkdir(parents=True)
    (done / "progress.csv").write_text("nupdates,total_timesteps\n")  # no complete row: 0 steps
    calls = []
    monkeypatch.setattr(navigation, "run_one", lambda *args, **kwargs: calls.append(args[4]) or [])
    status = lambda: navigation.sweep_status(str(tmp_path / "results"), str(work), ["vizdoom_sparse"], ["ppo"], [1, 2])
    assert [row["state"] for row in status()] == ["partial", "done"]
    assert "| 2 (1) | done | 0 |" in navigation.format_status(status())
    with navigation.run_lock(str(work), "vizdoom_sparse", "ppo", 1) as held:
        assert held
        assert [row["state"] for row in status()] == ["running", "done"]
        outcomes = navigation.run_sweep(
            str(work), str(tmp_path / "results"), ["vizdoom_sparse"], ["ppo"], [1, 2], 40, "smoke", None
        )
        assert [outcome[3] for outcome in outcomes] == ["running elsewhere", "skipped"] and calls == []
        # At a session's end the running run is exactly the one to snapshot.
        copied = navigation.snapshot_partial_runs(
            str(tmp_path / "results"), str(tmp_path / "partial"), str(work), ["vizdoom_sparse"], ["ppo"], [1, 2]
        )
        assert [os.path.relpath(path, tmp_path) for path in copied] == [
            os.path.join("partial", "vizdoom_sparse", "ppo", "seed_1", "progress.csv")
        ]
    # The lock goes with its holder: the run is free again.
    assert navigation.run_sweep(
        str(work), str(tmp_path / "results"), ["vizdoom_sparse"], ["ppo"], [1], 40, "smoke", None
    ) == [("vizdoom_sparse", "ppo", 1, "ran")]
    assert calls == [1]


def test_navigation_status_and_snapshot_flags_start_nothing(tmp_path):
    """`--status` and `--snapshot_partial` from the command line: a table, a message, no run."""
    import subprocess  # pylint: disable=g-import-not-at-top

    script = os.path.join(common.REPO_ROOT, "experiments", "navigation.py")
    common_flags = [
        f"--work_dir={tmp_path / 'work'}",
        f"--results_dir={tmp_path / 'results'}",
        f"--partial_results_dir={tmp_path / 'partial'}",
        "--scenarios=vizdoom_sparse",
        "--methods=ppo",
        "--seeds=1",
    ]
    outputs = []
    for mode in ("--status", "--snapshot_partial"):
        result = subprocess.run(
            [sys.executable, script, mode, *common_flags], capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 0, result.stderr[-3000:]
        outputs.append(result.stdout)
    assert "| vizdoom_sparse | ppo | 1 (0) | not started | 0 |  |" in outputs[0]
    assert "no unfinished runs" in outputs[1]
    assert not (tmp_path / "work" / "ppo").exists() and not (tmp_path / "results").exists()


def _write_csv(path, header, rows):
    path.write_text(",".join(header) + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows))


def test_navigation_windows_summarise_a_runs_logs_per_window(tmp_path):
    """`--windows`: per window of agent steps, means of the logged values (training success also
    its maximum), the EC columns only where the run logged them, nan cells skipped."""
    run = tmp_path / "seed_1"
    run.mkdir()
    steps = [100, 200, 300, 400, 500]  # windows of 250 steps: [0, 250), [250, 500), [500, ...)
    _write_csv(
        run / "progress.csv",
        ["nupdates", "total_timesteps", "policy_entropy", "eplenmean"],
        [(i + 1, s, e, 500) for i, (s, e) in enumerate(zip(steps, [1.3, 1.1, 0.9, 0.7, 0.5]))],
    )
    _write_csv(
        run / "reward_train.csv",
        ["step", "reward_train", "timestamp_s"],
        [(s, v, 0) for s, v in zip(steps, ["nan", 0.2, 0.4, 0.0, 1.0])],
    )
    _write_csv(
        run / "diagnostics.csv",
        ["nupdates", "total_timesteps", "curiosity_episode_bonus", "curiosity_memory_size_mean"],
        [(i + 1, s, b, 10 * (i + 1)) for i, (s, b) in enumerate(zip(steps, ["nan", -30, -10, 20, 5]))],
    )
    _write_csv(
        run / "reward_test.csv", ["step", "reward_test", "timestamp_s"], [(0, 0.0, 0), (300, 0.25, 0), (500, 0.0, 0)]
    )
    with open(run / "progress.csv", "a") as handle:
        handle.write("6,")  # a row cut by a kill mid-write: no step, in no window
    rows = navigation.window_table(str(run), window_steps=250)
    assert [(r["from"], r["to"], r["updates"]) for r in rows] == [(0, 250, 2), (250, 500, 2), (500, 500, 1)]
    assert rows[0]["training success (mean; max)"] == pytest.approx((0.2, 0.2))  # the nan row skipped
    assert rows[1]["training success (mean; max)"] == pytest.approx((0.2, 0.4))
    assert rows[1]["policy entropy"] == pytest.approx(0.8)
    assert rows[0]["bonus per episode"] == pytest.approx(-30.0)
    assert rows[1]["memory entries (mean)"] == pytest.approx(35.0)
    assert "ICM bonus per step" not in rows[0]
    evaluations = navigation.evaluation_summary(str(run))
    assert evaluations["test"] == {"evaluations": 3, "nonzero": [(300.0, 0.25)], "last": 0.0}
    table = navigation.format_windows(rows, evaluations)
    assert table.splitlines()[0] == (
        "| agent steps | updates | training success (mean; max) | policy entropy | episode length"
        " | bonus per episode | memory entries (mean) |"
    )
    assert "| 0.00–0.00 M | 2 | 0.200 (0.20) | 1.20 | 500 | -30 | 15 |" in table
    assert "test seeds: 3 evaluations, success > 0 in 1 (0.250 at 0.00 M); last 0.000" in table
    with pytest.raises(FileNotFoundError, match="no progress.csv"):
        navigation.window_table(str(tmp_path))
    with pytest.raises(ValueError, match="window_steps must be positive"):
        navigation.window_table(str(run), window_steps=0)


def test_navigation_run_facts_state_sittings_time_rate_and_crossings(tmp_path):
    """`--windows` also prints the facts a run's section states: one sitting per launch in
    provenance.json, training time and rate from time_elapsed, first 50 % / 90 % crossings."""
    run = tmp_path / "seed_1"
    run.mkdir()
    _write_csv(
        run / "progress.csv", ["nupdates", "total_timesteps", "time_elapsed"], [(1, 1000, 10.0), (2, 4000, 20.0)]
    )
    _write_csv(
        run / "reward_train.csv",
        ["step", "reward_train", "timestamp_s"],
        [(1000, 0.3, 0), (2000, 0.6, 0), (4000, 0.8, 0)],
    )
    launches = [
        {"time": "2026-12-07T16:48:23+00:00", "git": {"commit": "ac39044c4d24", "dirty": False}},
        {"time": "2026-12-07T17:24:12+00:00", "git": {"commit": "238dd4d89a41", "dirty": True}},
    ]
    (run / "provenance.json").write_text(json.dumps({"launcher": launches, "train_policy": launches}))
    facts = navigation.run_facts(str(run))
    assert facts["agent_steps"] == 4000 and facts["seconds"] == 20.0 and facts["env_steps_per_s"] == 200.0
    assert [s["commit"] for s in facts["sittings"]] == ["ac39044c4d24", "238dd4d89a41"]
    assert facts["steps_to_50pc"] == 2000 and facts["steps_to_90pc"] is None
    assert "coverage" not in facts  # no coverage.npz
    text = navigation.format_run_facts(facts)
    assert "sittings: 2 (2026-12-07T16:48:23+00:00 at ac39044; 2026-12-07T17:24:12+00:00 at 238dd4d (dirty))" in text
    assert "agent steps 4,000; training 20 s" in text and "200 env steps/s" in text
    assert "50 % / 90 %: 2,000 / not reached agent steps" in text
    with pytest.raises(FileNotFoundError, match="no progress.csv rows"):
        navigation.run_facts(str(tmp_path))


def test_navigation_mean_std_over_seeds():
    """Population std over seeds; one seed gives its value; seeds without a value are counted."""
    assert navigation._mean_std([0.2, 0.4]) == "0.30 ± 0.10"
    assert navigation._mean_std([0.25]) == "0.25 (1 seed)"
    assert navigation._mean_std([0.2, float("nan"), 0.4]) == "0.30 ± 0.10 (2 of 3 seeds with a value)"
    assert navigation._mean_std([float("nan")]) == "n/a (no finished episode)"


def test_laptop_r_network_measures_only_the_files_train_r_held_out(tmp_path):
    """When the splits wrote unequal file counts, train_r's 50 % rule trains on some R_TRAINING
    files: those are not held out and must not be measured as such."""
    import laptop_r_network  # pylint: disable=g-import-not-at-top

    job = tmp_path / "job"
    splits = {"R_TRAINING": ["a0", "a1", "a2"], "R_VALIDATION": ["b0"]}
    paths = {}
    for split, names in splits.items():
        folder = job / "r_training_data" / split
        folder.mkdir(parents=True)
        for name in names:
            paths[name] = str(folder / f"{name}.tfrecords")
            (folder / f"{name}.tfrecords").write_bytes(b"")
    # Without the record every R_TRAINING file counts (the old behaviour, now warned about).
    assert laptop_r_network.heldout_files(str(job)) == [paths["a0"], paths["a1"], paths["a2"]]
    (job / "r_networks").mkdir()
    record = {"validation_files": [paths["a0"], paths["a1"]], "train_files": [paths["a2"], paths["b0"]]}
    (job / "r_networks" / "data_split.json").write_text(json.dumps(record))
    assert laptop_r_network.heldout_files(str(job)) == [paths["a0"], paths["a1"]]
    (job / "r_networks" / "data_split.json").write_text(json.dumps({"validation_files": [paths["b0"]]}))
    with pytest.raises(ValueError, match="held out none of the R_TRAINING files"):
        laptop_r_network.heldout_files(str(job))
