"""train_policy: files and columns of the original, resume after a kill, eval_policy."""

import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from episodic_curiosity import checkpoint_io
from episodic_curiosity import metrics_csv

import process_helpers

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORIGINAL = os.path.join(REPO_ROOT, "..", "shared", "fixtures", "original_workdirs", "train_policy")
TINY = [
    "PPOConfig.nsteps=8",
    "PPOConfig.nminibatches=2",
    "PPOConfig.noptepochs=1",
    "train_policy.eval_every_rollouts=2",
    "train_policy.save_interval=1",
]
PROGRESS_KEYS = [
    "approxkl",
    "clipfrac",
    "curiosity_loss",
    "eplenmean",
    "eprewmean",
    "explained_variance",
    "fps",
    "nupdates",
    "policy_entropy",
    "policy_loss",
    "serial_timesteps",
    "time_elapsed",
    "total_timesteps",
    "value_loss",
]
DIAGNOSTIC_KEYS = [
    "advantage_mean",
    "advantage_std",
    "nupdates",
    "return_mean",
    "return_std",
    "reward_nonzero_fraction",
    "total_timesteps",
    "value_mean",
]


def _command(workdir, num_timesteps, scenario="fake", extra=()):
    return [
        sys.executable,
        "-m",
        "episodic_curiosity.train_policy",
        f"--workdir={workdir}",
        f"--env_name={scenario}",
        "--num_env=2",
        f"--num_timesteps={num_timesteps}",
        "--noasynchronous",
        "--noshow_progress",
    ] + [f"--gin_bindings={b}" for b in [*TINY, *extra]]


def _run(command):
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def _fake_env_binding(length=6):
    return [f"train_policy.env_kwargs={{'episode_length': {length}}}"]


def test_train_policy_writes_the_originals_files(tmp_path):
    workdir = tmp_path / "run"
    # 1.1 x 60 = 66 steps -> 66 // (2 x 8) = 4 updates of 16 steps.
    _run(_command(workdir, 60, extra=[*_fake_env_binding(), "train_policy.position_log_stride = 4"]))
    with open(workdir / "positions.csv") as f:  # every 4th vector step, both envs
        positions = list(csv.DictReader(f))
    assert [(int(r["total_timesteps"]), int(r["vector_step"]), int(r["env"])) for r in positions] == [
        (16 * (v // 8 + (v % 8 > 0)), v, e) for v in range(4, 33, 4) for e in (0, 1)
    ]
    assert all(float(r["x"]) % 1 == 0.5 and float(r["y"]) % 1 == 0.5 for r in positions)  # the fake's cell centres
    names = set(os.listdir(workdir))
    assert {
        "reward_train.csv",
        "reward_valid.csv",
        "reward_test.csv",
        "progress.csv",
        "log.txt",
        "flags.txt",
        "train_policy.gin",
        "checkpoints",
        "tb",
    } <= names
    for name in ("train", "valid", "test"):
        with open(workdir / f"reward_{name}.csv") as f:
            assert f.readline().strip() == f"step,reward_{name},timestamp_s"
    assert [s for s, _, _ in metrics_csv.read_scalars(str(workdir / "reward_train.csv"))] == [16, 32, 48, 64]
    assert [s for s, _, _ in metrics_csv.read_scalars(str(workdir / "reward_valid.csv"))] == [0, 32]
    assert [s for s, _, _ in metrics_csv.read_scalars(str(workdir / "reward_test.csv"))] == [0, 32]
    with open(workdir / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == PROGRESS_KEYS
    assert [int(r["nupdates"]) for r in rows] == [1, 2, 3, 4]
    with open(workdir / "diagnostics.csv") as f:  # beyond the original's columns
        diagnostics = list(csv.DictReader(f))
    assert list(diagnostics[0]) == DIAGNOSTIC_KEYS and len(diagnostics) == 4
    for row in diagnostics:
        assert float(row["advantage_std"]) >= 0 and 0 <= float(row["reward_nonzero_fraction"]) <= 1
    assert [int(r["total_timesteps"]) for r in rows] == [16, 32, 48, 64]
    assert "| policy_entropy" in (workdir / "log.txt").read_text()
    assert "workdir=" in (workdir / "flags.txt").read_text()
    assert "PPOConfig.nsteps = 8" in (workdir / "train_policy.gin").read_text()
    assert sorted(os.listdir(workdir / "checkpoints")) == ["policy.00003.h5", "policy.00004.h5"]


@pytest.mark.skipif(not os.path.isdir(ORIGINAL), reason="../shared fixtures absent")
def test_columns_match_the_originals_workdir(tmp_path):
    workdir = tmp_path / "run"
    _run(_command(workdir, 30, extra=_fake_env_binding()))
    for name in ("progress.csv", "reward_train.csv", "reward_valid.csv", "reward_test.csv"):
        with open(os.path.join(ORIGINAL, name)) as f:
            original_header = f.readline().strip()
        with open(workdir / name) as f:
            assert f.readline().strip() == original_header, name


def test_resume_after_kill_continues_without_duplicate_rows(tmp_path):
    workdir = tmp_path / "run"
    # 2200 // 16 = 137 updates; positions every 8th vector step (once per update).
    command = _command(workdir, 2000, extra=[*_fake_env_binding(), "train_policy.position_log_stride = 8"])
    process_helpers.run_until_file_then_kill(command, workdir / "checkpoints" / "policy.00005.h5", REPO_ROOT)
    killed_rows = metrics_csv.read_scalars(str(workdir / "reward_train.csv"))
    assert len(killed_rows) < 137
    _run(command)
    steps = [s for s, _, _ in metrics_csv.read_scalars(str(workdir / "reward_train.csv"))]
    assert steps == [16 * u for u in range(1, 138)]
    with open(workdir / "progress.csv") as f:
        assert [int(r["nupdates"]) for r in csv.DictReader(f)] == list(range(1, 138))
    valid_steps = [s for s, _, _ in metrics_csv.read_scalars(str(workdir / "reward_valid.csv"))]
    assert valid_steps == sorted(set(valid_steps)) and valid_steps[0] == 0
    with open(workdir / "positions.csv") as f:  # vector steps go on counting across the resume
        logged = [(int(r["total_timesteps"]), int(r["vector_step"])) for r in csv.DictReader(f) if r["env"] == "0"]
    assert logged == [(16 * u, 8 * u) for u in range(1, 138)]


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    workdir = tmp_path / "run"
    _run(_command(workdir, 30, extra=_fake_env_binding()))
    result = subprocess.run(
        _command(workdir, 60, extra=_fake_env_binding()) + ["--policy_architecture=mlp"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        check=False,
    )
    assert result.returncode == 2  # one line, no traceback: the input is wrong, not the program
    assert "error: checkpoint" in result.stderr and "'cnn'" in result.stderr
    assert "Traceback" not in result.stderr


def test_mismatched_checkpoint_arrays_give_one_clear_error(tmp_path):
    import gymnasium as gym  # pylint: disable=g-import-not-at-top

    from episodic_curiosity import ppo  # pylint: disable=g-import-not-at-top

    space = gym.spaces.Box(0, 255, (84, 84, 3), np.uint8)
    small = ppo.ActorCritic("cnn", space, gym.spaces.Discrete(3))
    path = str(tmp_path / "policy.h5")
    checkpoint_io.save_variables(path, {"policy": small.trainable_variables}, {"policy_architecture": "cnn"})
    other = ppo.ActorCritic("cnn", space, gym.spaces.Discrete(4))
    before = [v.numpy().copy() for v in other.trainable_variables]
    with pytest.raises(checkpoint_io.CheckpointError, match="shape"):
        checkpoint_io.load_variables(path, {"policy": other.trainable_variables})
    for variable, value in zip(other.trainable_variables, before):
        np.testing.assert_array_equal(variable.numpy(), value)
    (tmp_path / "bad.h5").write_bytes(b"nope")
    with pytest.raises(checkpoint_io.CheckpointError, match="bad.h5"):
        checkpoint_io.load_variables(str(tmp_path / "bad.h5"), {"policy": other.trainable_variables})


def test_eval_policy_reports_return_and_success(tmp_path):
    from episodic_curiosity import eval_policy  # pylint: disable=g-import-not-at-top

    workdir = tmp_path / "run"
    _run(_command(workdir, 30, extra=_fake_env_binding()))
    checkpoint = str(workdir / "checkpoints" / sorted(os.listdir(workdir / "checkpoints"))[-1])
    summary = eval_policy.eval_policy(
        checkpoint,
        "fake",
        split="test",
        num_episodes=4,
        num_env=2,
        asynchronous=False,
        env_kwargs={"episode_length": 6, "grid_size": 2, "goal": (1, 1)},
    )
    assert summary["episodes"] == 4 and 0.0 <= summary["success_rate"] <= 1.0
    assert summary["mean_return"] == pytest.approx(summary["success_rate"])  # +1 only on success
    with open(os.path.join(os.path.dirname(checkpoint), "eval_test.json")) as f:
        assert json.load(f) == summary


@pytest.fixture(scope="module")
def fake_env_checkpoint(tmp_path_factory):
    """The newest checkpoint of one short fake-env training run, shared by the tests that only
    read it (export, evaluation of an exported copy)."""
    workdir = tmp_path_factory.mktemp("shared_run") / "run"
    _run(_command(workdir, 30, extra=_fake_env_binding()))
    return checkpoint_io.newest_checkpoint(str(workdir / "checkpoints"))


def test_export_policy_in_half_precision_halves_the_file_and_loads_rounded(tmp_path, fake_env_checkpoint):
    import gymnasium as gym  # pylint: disable=g-import-not-at-top

    from episodic_curiosity import train_policy  # pylint: disable=g-import-not-at-top

    checkpoint = fake_env_checkpoint
    full = checkpoint_io.export_policy(checkpoint, str(tmp_path / "full.h5"))
    half = checkpoint_io.export_policy(checkpoint, str(tmp_path / "half.h5"), "float16")
    assert half < 0.7 * full
    attributes = checkpoint_io.read_attributes(checkpoint)
    observation_space = gym.spaces.Box(0, 255, tuple(attributes["observation_shape"]), np.uint8)
    action_space = gym.spaces.Discrete(attributes["action_space"]["n"])
    original = train_policy.load_policy(checkpoint, observation_space, action_space)
    rounded = train_policy.load_policy(str(tmp_path / "half.h5"), observation_space, action_space)
    for a, b in zip(original.trainable_variables, rounded.trainable_variables):
        assert b.dtype == a.dtype
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=2**-11, atol=1e-7)
    assert any(
        not np.array_equal(a.numpy(), b.numpy())
        for a, b in zip(original.trainable_variables, rounded.trainable_variables)
    )
    with pytest.raises(ValueError, match="weights_dtype"):
        checkpoint_io.export_policy(checkpoint, str(tmp_path / "x.h5"), "int8")


def test_eval_policy_of_a_shipped_model_writes_nothing_into_the_package(tmp_path, monkeypatch, fake_env_checkpoint):
    from episodic_curiosity import eval_policy  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import pretrained  # pylint: disable=g-import-not-at-top

    models = tmp_path / "package_models"
    (models / "toy").mkdir(parents=True)
    checkpoint_io.export_policy(fake_env_checkpoint, str(models / "toy" / "p.h5"))
    (models / "toy" / "card.json").write_text(json.dumps({"weights": "p.h5", "kind": "policy"}))
    monkeypatch.setattr(pretrained, "MODELS_DIR", str(models))
    monkeypatch.chdir(tmp_path)
    env_kwargs = {"episode_length": 6, "grid_size": 2, "goal": (1, 1)}
    summary = eval_policy.eval_policy(
        "pretrained:toy", "fake", split="test", num_episodes=2, num_env=2, asynchronous=False, env_kwargs=env_kwargs
    )
    assert sorted(os.listdir(models / "toy")) == ["card.json", "p.h5"]  # no eval JSON, no tb/
    with open(tmp_path / "eval_test.json") as f:
        assert json.load(f) == summary
    assert os.listdir(tmp_path / "tb")


def test_export_policy_keeps_the_weights_bit_for_bit_and_drops_the_rest(tmp_path):
    import gymnasium as gym  # pylint: disable=g-import-not-at-top

    from episodic_curiosity import train_policy  # pylint: disable=g-import-not-at-top

    workdir = tmp_path / "run"
    _run(_command(workdir, 30, extra=_fake_env_binding()))
    checkpoint = checkpoint_io.newest_checkpoint(str(workdir / "checkpoints"))
    exported = str(tmp_path / "shipped" / "policy.h5")
    size = checkpoint_io.export_policy(checkpoint, exported)
    assert size == os.path.getsize(exported) < os.path.getsize(checkpoint)
    attributes = checkpoint_io.read_attributes(exported)
    assert set(attributes) <= set(checkpoint_io.POLICY_ATTRIBUTES) and "episode_returns" not in attributes
    assert attributes["policy_architecture"] == checkpoint_io.read_attributes(checkpoint)["policy_architecture"]
    shape = attributes["observation_shape"]
    observation_space = gym.spaces.Box(0, 255, tuple(shape), np.uint8)
    action_space = gym.spaces.Discrete(attributes["action_space"]["n"])
    original = train_policy.load_policy(checkpoint, observation_space, action_space)
    shipped = train_policy.load_policy(exported, observation_space, action_space)
    for a, b in zip(original.trainable_variables, shipped.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    observations = np.random.default_rng(0).integers(0, 256, (3, *shape), dtype=np.uint8)
    np.testing.assert_array_equal(original.value(observations), shipped.value(observations))
    (tmp_path / "optimizer_only.h5").unlink(missing_ok=True)
    checkpoint_io.save_variables(str(tmp_path / "optimizer_only.h5"), {"optimizer": [np.zeros(2)]}, {"update": 1})
    with pytest.raises(checkpoint_io.CheckpointError, match="no group 'policy'"):
        checkpoint_io.export_policy(str(tmp_path / "optimizer_only.h5"), str(tmp_path / "out.h5"))
    assert not (tmp_path / "out.h5").exists()


def test_ship_policy_ships_only_at_or_above_the_threshold(tmp_path, monkeypatch):
    from episodic_curiosity import pretrained  # pylint: disable=g-import-not-at-top

    sys.path.insert(0, os.path.join(REPO_ROOT, "experiments"))
    import ship_policy  # pylint: disable=g-import-not-at-top

    workdir = tmp_path / "run"
    _run(_command(workdir, 30, extra=_fake_env_binding()))
    monkeypatch.setattr(pretrained, "MODELS_DIR", str(tmp_path / "models"))
    eval_kwargs = {
        "num_env": 2,
        "asynchronous": False,
        "env_kwargs": {"episode_length": 6, "grid_size": 2, "goal": (1, 1)},
    }
    with pytest.raises(ship_policy.BelowThresholdError, match="below --min_success=1.01"):
        ship_policy.export_evaluate_and_ship(
            str(workdir),
            name="toy",
            num_episodes=4,
            min_success=1.01,
            do_ship=True,
            output_dir=str(tmp_path / "out"),
            **eval_kwargs,
        )
    assert "toy" not in pretrained.available()  # nothing shipped
    with open(tmp_path / "out" / "toy_card.json") as f:
        refused = json.load(f)
    assert refused["measured"]["test_episodes"] == 4 and 0 <= refused["measured"]["test_success_rate"] <= 1
    card = ship_policy.export_evaluate_and_ship(
        str(workdir), name="toy", num_episodes=4, min_success=0.0, do_ship=True, **eval_kwargs
    )
    assert pretrained.available() == ["toy"] and pretrained.card("pretrained:toy")["kind"] == "policy"
    shipped = pretrained.resolve("pretrained:toy")
    assert (
        os.path.basename(shipped)
        == card["weights"]
        == os.path.basename(checkpoint_io.newest_checkpoint(str(workdir / "checkpoints")))
    )
    assert card["size_bytes"] == os.path.getsize(shipped) and card["update"] == 2
    assert card["agent_steps"] == 32 and card["scenario"] == "fake"
    assert card["measured"]["valid_episodes"] == 4
    # A checkpoint that records no scenario gets one clear error, not a failure inside eval_policy.
    import h5py  # pylint: disable=g-import-not-at-top

    no_scenario = str(tmp_path / "no_scenario.h5")
    shutil.copyfile(checkpoint_io.newest_checkpoint(str(workdir / "checkpoints")), no_scenario)
    with h5py.File(no_scenario, "r+") as handle:
        attributes = json.loads(handle.attrs["attributes_json"])
        del attributes["scenario"]
        handle.attrs["attributes_json"] = json.dumps(attributes)
    with pytest.raises(ValueError, match="records no scenario"):
        ship_policy.export_evaluate_and_ship(str(workdir), name="toy", checkpoint=no_scenario, **eval_kwargs)


def test_ec_diagnostics_reports_the_r_networks_accuracy_on_policy_and_random_frames(tmp_path):
    import gin  # pylint: disable=g-import-not-at-top

    from episodic_curiosity import r_network  # pylint: disable=g-import-not-at-top

    sys.path.insert(0, os.path.join(REPO_ROOT, "experiments"))
    import ec_diagnostics  # pylint: disable=g-import-not-at-top

    workdir = tmp_path / "run"
    _run(_command(workdir, 30, extra=_fake_env_binding()))
    gin.clear_config()
    gin.parse_config(
        [
            "build_embedding_network.stage_filters=(4, 4, 4, 4)",
            "build_embedding_network.embedding_size=8",
            "build_comparator_network.hidden_units=8",
            "EpisodicMemory.capacity=6",
        ]
    )
    try:
        r_net = r_network.RNetwork()
        headline = ec_diagnostics.diagnose(
            str(workdir),
            r_net,
            "fake",
            episodes=2,
            output_dir=str(tmp_path / "out"),
            max_steps=40,
            env_kwargs={"episode_length": 35},
        )
    finally:
        gin.clear_config()
    for source in ec_diagnostics.SOURCES:
        numbers = headline[source]
        assert numbers["episodes"] == 2 and numbers["mean_episode_length"] == 35
        assert 0 <= numbers["r_accuracy_reachable_gaps_1_to_5"] <= 1
        assert 0 <= numbers["r_accuracy_not_reachable_gaps_over_25"] <= 1
        assert 1 <= numbers["memory_fill_at_end_mean"] <= 6 and 0 <= numbers["bonus_positive_fraction"] <= 1
        assert sum(numbers["action_fractions"].values()) == pytest.approx(1.0, abs=1e-3)
    with open(tmp_path / "out" / "gap_accuracy.csv") as f:
        rows = list(csv.DictReader(f))
    assert {row["source"] for row in rows} == set(ec_diagnostics.SOURCES)
    assert [int(row["num_pairs"]) for row in rows if row["source"] == "policy" and row["gap"] == "30"] == [80]
    with open(tmp_path / "out" / "diagnostics.json") as f:
        written = json.load(f)
    assert written["policy"]["bonus_mean"] == pytest.approx(headline["policy"]["bonus_mean"])
    # The measured checkpoint is recorded (before: the policy's summary overwrote its path), and
    # without a machine path, as the file may be committed.
    assert written["policy_path"] == "run" and str(tmp_path) not in json.dumps(written)
    with pytest.raises(ValueError, match="at least 1 episode"):
        ec_diagnostics.diagnose(str(workdir), r_net, "fake", episodes=0, output_dir=str(tmp_path / "zero"))
    assert not (tmp_path / "zero").exists()


@pytest.mark.vizdoom
def test_train_policy_on_vizdoom_few_updates(tmp_path):
    pytest.importorskip("vizdoom")
    workdir = tmp_path / "run"
    _run(_command(workdir, 30, scenario="vizdoom_sparse", extra=["train_policy.eval_every_rollouts=0"]))
    rows = metrics_csv.read_scalars(str(workdir / "reward_train.csv"))
    assert [s for s, _, _ in rows] == [16, 32]
    with open(workdir / "progress.csv") as f:
        assert [int(r["nupdates"]) for r in csv.DictReader(f)] == [1, 2]


ECO_TINY = [
    "train_policy.intrinsic_reward = @OnlineEpisodicCuriosity",
    "OnlineRNetworkTrainer.observation_history_size = 40",
    "OnlineRNetworkTrainer.training_interval = -1",
    "OnlineRNetworkTrainer.num_epochs = 1",
    "RewardScales.exploration_reward_min_step = 40",
    "RewardScales.scale_surrogate_reward = 0.03",
    "build_embedding_network.stage_filters = (4, 8, 8, 8)",
    "build_embedding_network.embedding_size = 16",
    "build_comparator_network.hidden_units = 16",
]


def test_eco_resume_after_kill_restores_r_network_and_counters(tmp_path):
    workdir = tmp_path / "run"
    # 1.1 x 600 = 660 -> 41 updates of 2 x 8 steps = 328 vector steps: 8 trainings.
    command = _command(workdir, 600, extra=[*_fake_env_binding(60), *ECO_TINY])
    process_helpers.run_until_file_then_kill(command, workdir / "checkpoints" / "policy.00010.h5", REPO_ROOT)
    killed = checkpoint_io.read_attributes(str(sorted((workdir / "checkpoints").glob("policy.*.h5"))[-1]))
    assert killed["eco_trainings"] >= 1 and killed["update"] < 41
    _run(command)
    final = checkpoint_io.read_attributes(str(workdir / "checkpoints" / "policy.00041.h5"))
    # Counters continued from the checkpoint instead of restarting at 0.
    assert final["eco_step_count"] == 41 * 8
    assert final["eco_trainings"] == (41 * 8) // 40
    assert (workdir / "r_network_weights.00002.h5").exists()  # round 1 of 1 epoch: the original's +1
    assert [s for s, _, _ in metrics_csv.read_scalars(str(workdir / "reward_train.csv"))] == [
        16 * u for u in range(1, 42)
    ]
    # The online R-network's training is in progress.csv (before: TensorBoard only), in fixed
    # columns from the first row. (This tiny history holds fewer pairs than one batch, so its
    # trainings are skipped and the metrics stay nan; test_online_r_training checks values.)
    with open(workdir / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["nupdates"]) for r in rows] == list(range(1, 42))
    assert [float(r["r_network_trainings"]) for r in rows] == [(8 * u) // 40 for u in range(1, 42)]
    assert {"r_network_loss", "r_network_acc", "r_network_val_loss", "r_network_val_acc"} <= set(rows[0])
    assert set(final["eco_last_metrics"]) == {"loss", "acc", "val_loss", "val_acc"}


class _FirstStepSeen(Exception):
    pass


def test_eco_bonus_is_on_at_the_first_step_after_a_resume(tmp_path, monkeypatch, clean_gin):
    """The warm-up counter is checkpointed: a resumed ECO run does not mute its bonus again."""
    import gin  # pylint: disable=g-import-not-at-top

    from episodic_curiosity import intrinsic  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import train_policy  # pylint: disable=g-import-not-at-top

    workdir = tmp_path / "run"
    bindings = [*TINY, *_fake_env_binding(60), *ECO_TINY]
    command = _command(workdir, 600, extra=_fake_env_binding(60) + ECO_TINY)
    # Warm-up: 40 vector steps = 5 updates of 8; the bonus is on from update 6.
    process_helpers.run_until_file_then_kill(command, workdir / "checkpoints" / "policy.00008.h5", REPO_ROOT)
    killed = checkpoint_io.read_attributes(str(sorted((workdir / "checkpoints").glob("policy.*.h5"))[-1]))
    assert killed["update"] * 8 > 40 and killed["curiosity_step_count"] == killed["update"] * 8
    seen = []
    original_combine = intrinsic.RewardScales.combine

    def spy(self, task_rewards, bonus):
        if bonus is not None:  # the training rollout (evaluation envs combine without a bonus)
            seen.append((self.step_count + 1, float(self.alphas(len(task_rewards))[0])))
            raise _FirstStepSeen
        return original_combine(self, task_rewards, bonus)

    monkeypatch.setattr(intrinsic.RewardScales, "combine", spy)
    gin.parse_config_files_and_bindings([], bindings, skip_unknown=False)
    with pytest.raises(_FirstStepSeen):
        train_policy.train_policy(
            str(workdir), "fake", num_env=2, num_timesteps=600, asynchronous=False, show_progress=False
        )
    assert seen == [(killed["update"] * 8 + 1, 0.03)]


def test_train_policy_with_a_bfloat16_policy_saves_float32_weights_that_load_and_resume(tmp_path):
    """The opt-in `policy_compute_dtype='bfloat16'`: the run trains, its checkpoint holds float32
    weights that `eval_policy` loads into a float32 (or bf16) policy, the run resumes from it, and a wrong
    value is one clear error listing the valid ones."""
    from episodic_curiosity import eval_policy  # pylint: disable=g-import-not-at-top

    workdir = tmp_path / "run"
    extra = [*_fake_env_binding(), "train_policy.policy_compute_dtype='bfloat16'"]
    _run(_command(workdir, 30, extra=extra))
    checkpoints = sorted(os.listdir(workdir / "checkpoints"))
    import h5py  # pylint: disable=g-import-not-at-top

    with h5py.File(workdir / "checkpoints" / checkpoints[-1], "r") as f:
        dtypes = {}
        f["policy"].visititems(
            lambda name, item: dtypes.update({name: item.dtype}) if isinstance(item, h5py.Dataset) else None
        )
    assert len(dtypes) == 12 and all(dtype == np.float32 for dtype in dtypes.values()), dtypes  # the CNN: 12 arrays
    for dtype in ("float32", "bfloat16"):
        summary = eval_policy.eval_policy(
            str(workdir / "checkpoints" / checkpoints[-1]),
            "fake",
            split="test",
            num_episodes=2,
            num_env=2,
            asynchronous=False,
            env_kwargs={"episode_length": 6},
            compute_dtype=dtype,
        )
        assert summary["episodes"] == 2 and summary.get("compute_dtype", "float32") == dtype
    # The bf16 evaluation is written beside the float32 one, not over it.
    written = {name for name in os.listdir(workdir / "checkpoints") if name.startswith("eval_")}
    assert written == {"eval_test.json", "eval_test_bfloat16.json"}
    _run(_command(workdir, 60, extra=extra))  # resumes from the bf16 run's checkpoint
    with open(workdir / "progress.csv") as f:
        updates = [int(float(row["nupdates"])) for row in csv.DictReader(f)]
    assert updates == [1, 2, 3, 4]  # 33 then 66 agent steps of 16 per update: no update repeated
    result = subprocess.run(
        _command(tmp_path / "bad", 30, extra=["train_policy.policy_compute_dtype='float16'"]),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        check=False,
    )
    assert result.returncode == 2 and "policy_compute_dtype must be one of float32, bfloat16, auto" in result.stderr
    assert "Traceback" not in result.stderr
