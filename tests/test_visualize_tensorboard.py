"""What TensorBoard shows: the scalars of generate_r_training_data and eval_policy (train_r and
train_policy are covered by their own tests)."""

import glob
import os

import gymnasium as gym
import numpy as np
import pytest
import tensorflow as tf

from episodic_curiosity import checkpoint_io
from episodic_curiosity import eval_policy
from episodic_curiosity import generate_r_training_data as generate
from episodic_curiosity import ppo
from episodic_curiosity import train_r


def read_scalars(tb_dir):
    """{tag: [(step, value), ...]} of all event files in `tb_dir`."""
    scalars = {}
    for path in sorted(glob.glob(os.path.join(tb_dir, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, float(tf.make_ndarray(value.tensor))))
    return scalars


def test_generate_r_training_data_logs_examples_and_throughput(tmp_path):
    output_dir = tmp_path / "data"
    summary = generate.generate_r_training_data(
        str(output_dir),
        "fake",
        total_env_steps=240,
        num_tasks=2,
        num_workers=1,
        env_kwargs={"episode_length": 60},
        show_progress=False,
    )
    assert summary.num_examples > 0
    scalars = read_scalars(str(output_dir / "tb"))
    assert scalars["r_training_data/examples"] == [(2, summary.num_examples)]
    assert scalars["r_training_data/env_steps"] == [(2, summary.env_steps)]
    assert scalars["r_training_data/task_examples"] == [(t.task_id, t.num_examples) for t in summary.tasks]
    ((step, steps_per_s),) = scalars["r_training_data/env_steps_per_s"]
    assert step == 2 and steps_per_s > 0
    assert train_r.find_tfrecords([str(output_dir)]) == summary.files  # tb/ does not disturb the data


def test_eval_policy_logs_its_returns_at_the_checkpoints_update(tmp_path):
    policy = ppo.ActorCritic("cnn", gym.spaces.Box(0, 255, (84, 84, 3), np.uint8), gym.spaces.Discrete(4))
    checkpoint = tmp_path / "run" / "checkpoints" / "policy.00007.h5"
    checkpoint_io.save_variables(
        str(checkpoint), {"policy": policy.trainable_variables}, {"policy_architecture": "cnn", "update": 7}
    )
    result = eval_policy.eval_policy(
        str(checkpoint),
        "fake",
        split="valid",
        num_episodes=2,
        num_env=2,
        asynchronous=False,
        env_kwargs={"episode_length": 4},
    )
    assert eval_policy.tensorboard_dir(str(checkpoint)) == str(tmp_path / "run" / "tb")
    scalars = read_scalars(str(tmp_path / "run" / "tb"))
    assert scalars["eval_policy/valid_mean_return"] == [(7, pytest.approx(result["mean_return"]))]
    assert scalars["eval_policy/valid_success_rate"] == [(7, pytest.approx(result["success_rate"]))]
    assert eval_policy.tensorboard_dir(str(tmp_path / "policy.h5")) == str(tmp_path / "tb")


def test_a_resumed_policy_run_writes_each_step_to_tensorboard_once(tmp_path, clean_gin):
    """Updates redone after a resume (those after the newest checkpoint) are not written again."""
    import gin  # pylint: disable=g-import-not-at-top

    from episodic_curiosity import train_policy  # pylint: disable=g-import-not-at-top

    gin.parse_config_files_and_bindings(
        [],
        [
            "PPOConfig.nsteps=8",
            "PPOConfig.nminibatches=2",
            "PPOConfig.noptepochs=1",
            "train_policy.eval_every_rollouts=2",
            "train_policy.save_interval=3",
            "train_policy.keep_checkpoints=5",
        ],
        skip_unknown=False,
    )
    kwargs = dict(
        num_env=2, num_timesteps=80, asynchronous=False, show_progress=False, env_kwargs={"episode_length": 6}
    )
    train_policy.train_policy(str(tmp_path), "fake", **kwargs)  # 88 // 16 = 5 updates
    os.remove(tmp_path / "checkpoints" / "policy.00005.h5")  # as if killed after update 5's logs
    train_policy.train_policy(str(tmp_path), "fake", **kwargs)  # resumes at 3, redoes 4 and 5
    scalars = read_scalars(str(tmp_path / "tb"))
    assert [step for step, _ in scalars["losses/policy_loss"]] == [16 * u for u in range(1, 6)]
    assert [step for step, _ in scalars["eval/test_return"]] == [0, 32, 64]
