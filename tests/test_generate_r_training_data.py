"""generate_r_training_data: shards, metadata, exact pairs, workers, resuming, entry point."""

import importlib
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from episodic_curiosity import environments
from episodic_curiosity import generate_r_training_data as generate
from episodic_curiosity import r_training_data as data

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPE = (12, 16, 3)
ENV_KWARGS = {"episode_length": 60, "observation_shape": SHAPE, "grid_size": 6}
SETTINGS = dict(
    scenario="fake",
    total_env_steps=300,
    num_tasks=2,
    num_examples_per_shard=20,
    env_kwargs=ENV_KWARGS,
    show_progress=False,
)


def _run(output_dir, num_workers=1, **overrides):
    return generate.generate_r_training_data(str(output_dir), num_workers=num_workers, **{**SETTINGS, **overrides})


def _examples(path):
    return [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)]


def _value(example, key):
    feature = example.features.feature[key]
    values = getattr(feature, feature.WhichOneof("kind")).value
    return values[0] if len(values) == 1 else list(values)


def _image(example, key):
    return tf.io.decode_png(_value(example, key)).numpy()


def _snapshot(directory, task_id):
    """{name: (mtime_ns, bytes)} of one task's shards and marker."""
    names = [
        n
        for n in os.listdir(directory)
        if n.startswith(f"r_training_data_{task_id}_") or n == generate.marker_name(task_id)
    ]
    return {
        n: (os.stat(os.path.join(directory, n)).st_mtime_ns, open(os.path.join(directory, n), "rb").read())
        for n in names
    }


@pytest.fixture(scope="module")
def one_worker_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("one_worker")
    return directory, _run(directory)


def test_collect_episode_excludes_the_reset_and_the_ending_frames():
    env = environments.make_env("fake", seed=5, episode_length=7, observation_shape=SHAPE)
    reference = environments.make_env("fake", seed=5, episode_length=7, observation_shape=SHAPE)
    env.action_space.seed(9)
    reference.action_space.seed(9)
    frames, infos, steps = generate.collect_episode(env)
    assert steps == 7 and len(frames) == len(infos) == 6
    reference.reset()
    for frame, info in zip(frames, infos):
        observation, _, _, _, expected_info = reference.step(reference.action_space.sample())
        np.testing.assert_array_equal(frame, observation)
        np.testing.assert_array_equal(info["position"], expected_info["position"])


class _RecordedActions:
    """An env whose `step` records the actions it is given (the rest as the wrapped env)."""

    def __init__(self, env):
        self.env, self.action_space, self.actions = env, env.action_space, []

    def reset(self, **kwargs):
        return self.env.reset(**kwargs)

    def step(self, action):
        self.actions.append(int(action))
        return self.env.step(action)


def test_held_random_actions_draw_once_per_hold_and_default_draws_every_step():
    draws = environments.make_env("fake", seed=5, episode_length=11, observation_shape=SHAPE).action_space
    draws.seed(9)
    expected_draws = [int(draws.sample()) for _ in range(11)]
    for hold, expected in ((1, expected_draws), (3, [a for a in expected_draws[:4] for _ in range(3)][:11])):
        env = _RecordedActions(environments.make_env("fake", seed=5, episode_length=11, observation_shape=SHAPE))
        env.action_space.seed(9)
        frames, _, steps = generate.collect_episode(env, random_action_hold=hold)
        assert steps == 11 and len(frames) == 10
        assert env.actions == expected


def test_random_action_hold_is_checked_and_recorded_only_when_not_the_original(tmp_path):
    with pytest.raises(ValueError, match="random_action_hold must be >= 1"):
        _run(tmp_path / "x", random_action_hold=0)
    assert not (tmp_path / "x").exists()
    _run(tmp_path / "default")
    assert "random_action_hold" not in json.loads((tmp_path / "default" / generate.CONFIG_NAME).read_text())
    _run(tmp_path / "held", total_env_steps=120, random_action_hold=4)
    assert json.loads((tmp_path / "held" / generate.CONFIG_NAME).read_text())["random_action_hold"] == 4
    with pytest.raises(generate.IncompatibleOutputError, match="random_action_hold: 4 before, None now"):
        _run(tmp_path / "held", total_env_steps=120)
    with pytest.raises(generate.IncompatibleOutputError, match="random_action_hold: None before, 2 now"):
        _run(tmp_path / "default", random_action_hold=2)


def test_files_counts_and_metadata(one_worker_run):
    directory, summary = one_worker_run
    names = sorted(os.listdir(directory))
    assert not [n for n in names if n.startswith("tmp")]
    assert sorted(os.path.join(directory, n) for n in names if n.endswith(".tfrecords")) == summary.files
    assert {generate.marker_name(0), generate.marker_name(1), generate.CONFIG_NAME} <= set(names)
    assert summary.num_examples == sum(data.validate_tfrecord_file(f) for f in summary.files) > 0
    for task in summary.tasks:
        assert task.env_steps >= 150 and task.env_steps % 60 == 0  # whole 60-step episodes
        assert task.seed == task.env_seed == 123 + task.task_id  # R_TRAINING: no mixing
        assert task.files == [generate.shard_name(task.task_id, s) for s in range(len(task.files))]
        example_index, shard_counts = 0, []
        for name in task.files:
            examples = _examples(os.path.join(directory, name))
            shard_counts.append(len(examples))
            for example in examples:
                assert set(example.features.feature) == set(data.FEATURE_KEYS)
                assert _value(example, "example_index") == example_index
                assert _value(example, "seed") == task.seed and _value(example, "mixer_seed") == 0
                assert _value(example, "fully_qualified_level") == b"fake"
                assert _value(example, "episode_length") == b"default"
                assert _value(example, "max_action_distance") == 5
                episode = _value(example, "episode")
                assert _value(example, "env_steps_at_episode") == 60 * episode
                assert _value(example, "global_env_steps_at_episode") == 60 * episode * 2
                assert _image(example, "x1").shape == SHAPE
                example_index += 1
        assert example_index == task.num_examples
        # A shard closes after the episode that fills it: all but the last reach the threshold.
        assert all(count >= 20 for count in shard_counts[:-1])


def test_records_are_the_sampled_pairs_of_the_replayed_episodes(one_worker_run):
    """Replays task 0 (same env seed, action seed and pair RNG) and checks every record."""
    directory, summary = one_worker_run
    task = summary.tasks[0]
    records = [e for name in task.files for e in _examples(os.path.join(directory, name))]
    env = environments.make_env("fake", seed=task.env_seed, **ENV_KWARGS)
    env.action_space.seed(task.env_seed)
    rng = np.random.default_rng(generate.pair_sampling_seed(task.env_seed))
    position = 0
    for episode in range(task.episodes):
        frames, infos, _ = generate.collect_episode(env)
        pairs = data.sample_pairs(len(frames), rng)
        for n, (first, second, label) in enumerate(pairs):
            record = records[position + n]
            assert _value(record, "episode") == episode
            assert _value(record, "example_index_in_episode") == n
            assert _value(record, "label") == label
            gap = abs(first - second)
            assert 1 <= gap <= 5 if label else gap > 25
            np.testing.assert_array_equal(_image(record, "x1"), frames[first])
            np.testing.assert_array_equal(_image(record, "x2"), frames[second])
            np.testing.assert_allclose(_value(record, "x1/position"), infos[first]["position"])
            start = infos[0]["position"]
            assert _value(record, "x2/dist_from_start") == pytest.approx(
                np.linalg.norm(infos[second]["position"] - start)
            )
            assert _value(record, "x1/rotation") == [0.0, 0.0, 0.0]
            assert _value(record, "x1/maze_layout") == b""
        position += len(pairs)
    assert position == len(records)


def test_two_workers_write_the_same_bytes(one_worker_run, tmp_path):
    directory, summary = one_worker_run
    parallel = _run(tmp_path, num_workers=2)
    assert [os.path.basename(f) for f in parallel.files] == [os.path.basename(f) for f in summary.files]
    for ours, theirs in zip(parallel.files, summary.files):
        assert open(ours, "rb").read() == open(theirs, "rb").read()
    assert not [n for n in os.listdir(tmp_path) if n.startswith("tmp")]


def test_rerun_skips_finished_tasks_and_redoes_missing_ones(one_worker_run, tmp_path):
    reference_dir, reference = one_worker_run
    _run(tmp_path)
    kept = _snapshot(tmp_path, 0)
    redone = _snapshot(tmp_path, 1)
    # Task 1 "killed": marker gone, its last shard back to a temp file, a stray temp marker.
    os.remove(tmp_path / generate.marker_name(1))
    last = reference.tasks[1].files[-1]
    os.rename(tmp_path / last, tmp_path / ("tmp_" + last))
    (tmp_path / ("tmp_" + generate.marker_name(1))).write_text("{")
    summary = _run(tmp_path)
    assert _snapshot(tmp_path, 0) == kept  # same bytes, same mtimes: not rewritten
    assert summary.tasks[0].skipped and not summary.tasks[1].skipped
    after = _snapshot(tmp_path, 1)
    assert sorted(after) == sorted(redone)
    assert all(after[n][1] == redone[n][1] for n in after)  # regenerated identically
    assert not [n for n in os.listdir(tmp_path) if n.startswith("tmp")]
    assert summary.num_examples == reference.num_examples
    # A third run has nothing to do.
    again = _run(tmp_path)
    assert all(t.skipped for t in again.tasks) and _snapshot(tmp_path, 1) == after


def test_missing_shard_of_a_finished_task_redoes_that_task(tmp_path):
    _run(tmp_path)
    kept = _snapshot(tmp_path, 1)
    os.remove(tmp_path / generate.shard_name(0, 0))
    summary = _run(tmp_path)
    assert not summary.tasks[0].skipped and summary.tasks[1].skipped
    assert os.path.exists(tmp_path / generate.shard_name(0, 0))
    assert _snapshot(tmp_path, 1) == kept


def test_other_settings_or_foreign_files_are_refused(tmp_path):
    _run(tmp_path / "a")
    with pytest.raises(generate.IncompatibleOutputError, match="total_env_steps: 300 before, 400 now"):
        _run(tmp_path / "a", total_env_steps=400)
    foreign = tmp_path / "b"
    foreign.mkdir()
    (foreign / "r_training_data_0_0.tfrecords").write_bytes(b"original data")
    with pytest.raises(generate.IncompatibleOutputError, match="not written by this generator"):
        _run(foreign)
    assert (foreign / "r_training_data_0_0.tfrecords").read_bytes() == b"original data"


def test_unknown_scenario_and_bad_arguments_fail_before_any_work(tmp_path):
    with pytest.raises(environments.UnknownScenarioError, match="vizdoom_sparse"):
        _run(tmp_path / "x", scenario="no_such_scenario", num_workers=2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "deepmind_lab", None)  # DeepMind Lab not installed
        with pytest.raises(environments.MissingDependencyError, match="deepmind_lab"):
            _run(tmp_path / "x", scenario="sparse")
    with pytest.raises(ValueError, match="(?s)num_tasks must be >= 1.*unknown split 'TRAIN'"):
        _run(tmp_path / "x", split="TRAIN", num_tasks=0)
    assert not (tmp_path / "x").exists()


def test_validation_split_uses_its_mixer_seed(one_worker_run, tmp_path):
    _, reference = one_worker_run
    summary = _run(tmp_path, split="VALIDATION", num_tasks=1, total_env_steps=60)
    task = summary.tasks[0]
    assert task.seed == 123 and task.env_seed == 123 ^ 0x2B79ED94
    example = _examples(summary.files[0])[0]
    assert _value(example, "mixer_seed") == 0x2B79ED94 and _value(example, "seed") == 123
    first_reference = _examples(reference.files[0])[0]
    assert _value(example, "x1") != _value(first_reference, "x1") or _value(example, "x1/position") != _value(
        first_reference, "x1/position"
    )


def test_failing_task_is_named(tmp_path):
    with pytest.raises(generate.TaskFailedError, match="task 0 .*grid_size"):
        _run(tmp_path, env_kwargs={**ENV_KWARGS, "grid_size": 1})


def test_records_feed_the_training_pipeline(one_worker_run):
    _, summary = one_worker_run
    batches = data.make_pair_dataset(summary.files, batch_size=8, image_shape=SHAPE, shuffle_buffer=50, seed=0)
    (x1, x2), labels = next(iter(batches))
    assert x1.shape == x2.shape == (8, *SHAPE) and labels.shape == (8, 2)


def test_entry_point_smoke(tmp_path):
    command = [
        sys.executable,
        "-m",
        "episodic_curiosity.generate_r_training_data",
        f"--output_dir={tmp_path}",
        "--scenario=fake",
        "--total_env_steps=40",
        "--num_tasks=1",
        "--num_workers=1",
        "--num_examples_per_shard=5",
        f"--env_kwargs={json.dumps({'episode_length': 40, 'observation_shape': [8, 8, 3]})}",
        "--gin_bindings=generate_r_training_data.max_action_distance=3",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "examples from 40 env steps" in result.stdout
    with open(tmp_path / generate.CONFIG_NAME) as f:
        assert json.load(f)["max_action_distance"] == 3


@pytest.mark.vizdoom
@pytest.mark.skipif(importlib.util.find_spec("vizdoom") is None, reason="vizdoom is not installed")
def test_tiny_vizdoom_run(tmp_path):
    summary = generate.generate_r_training_data(
        str(tmp_path),
        "vizdoom_sparse",
        total_env_steps=150,
        num_tasks=1,
        num_workers=1,
        env_kwargs={"episode_timeout_tics": 4 * 80},
        show_progress=False,
    )
    assert summary.env_steps >= 150 and summary.num_examples > 0
    example = _examples(summary.files[0])[0]
    assert set(example.features.feature) == set(data.FEATURE_KEYS)
    assert _image(example, "x1").shape == (120, 160, 3)
    assert _value(example, "fully_qualified_level") == b"vizdoom_sparse"
    assert _value(example, "x1/velocity") == [0.0, 0.0, 0.0]
    positions = [_value(e, "x1/position") for e in _examples(summary.files[0])]
    assert any(p != [0.0, 0.0, 0.0] for p in positions)
    batches = data.make_pair_dataset(summary.files, batch_size=4, shuffle_buffer=10, seed=0)
    (x1, _), _ = next(iter(batches))
    assert x1.shape == (4, 120, 160, 3)


def test_importable_next_to_train_r():
    """Defining flags at import would clash with train_r's (--gin_config) in one process."""
    importlib.import_module("episodic_curiosity.train_r")  # generate is imported above
