"""MuJoCo Ant: head camera, floor texture, oracle reward, episode end, and a tiny PPO+EC launch."""

import os

import gin
import numpy as np
import pytest

pytest.importorskip("mujoco")

from episodic_curiosity import environments  # pylint: disable=g-import-not-at-top,wrong-import-position
from episodic_curiosity import launcher  # pylint: disable=g-import-not-at-top,wrong-import-position
from episodic_curiosity import metrics_csv  # pylint: disable=g-import-not-at-top,wrong-import-position
from episodic_curiosity.environments import ant  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(name="env")
def _env():
    env = environments.make_env("ant_no_reward", seed=7)
    yield env
    env.close()


def _pixel_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_observation_frame_and_position(env):
    observation, info = env.reset()
    assert env.observation_space.shape == (27,) and observation.shape == (27,)
    assert observation.dtype == np.float32 and env.observation_space.contains(observation)
    assert env.action_space.shape == (8,)
    np.testing.assert_array_equal(env.action_space.low, -1.0)
    assert info["frame"].shape == (120, 160, 3) and info["frame"].dtype == np.uint8
    assert info["position"].shape == (3,)
    assert np.all(np.abs(info["position"][:2]) <= 100.2)  # start uniform in [-100, 100] + noise
    assert 0.6 <= info["position"][2] <= 0.9
    # The observation is qpos without x, y, then qvel.
    np.testing.assert_allclose(
        observation, np.concatenate([env.unwrapped.data.qpos[2:], env.unwrapped.data.qvel]), rtol=1e-6
    )


def test_frames_change_when_the_ant_moves(env):
    _, info = env.reset()
    first = info["frame"]
    env.action_space.seed(0)
    for _ in range(10):
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        assert not truncated
        if terminated:
            break
    assert _pixel_distance(first, info["frame"]) > 2.0
    # A frame is a pure function of the state: rendering again gives the same image.
    np.testing.assert_array_equal(info["frame"], env.unwrapped.head_camera_frame())


def test_far_apart_places_look_different(env):
    env.reset()
    frames = {}
    for position in ((0.0, 0.0), (0.05, 0.0), (12.0, -9.0), (-30.0, 21.0), (37.0, 33.0)):
        env.unwrapped.set_torso_position(*position)
        frames[position] = env.unwrapped.head_camera_frame()
    near = _pixel_distance(frames[(0.0, 0.0)], frames[(0.05, 0.0)])
    far = [_pixel_distance(frames[a], frames[b]) for a in frames for b in frames if a < b and (0.05, 0.0) not in (a, b)]
    assert min(far) > 20.0, far
    assert near < min(far) / 2, (near, far)


def test_textures_vary_per_episode_and_follow_the_seed():
    rng = np.random.default_rng
    first, again, other = (ant.tiled_texture(rng(s)) for s in (1, 1, 2))
    assert first.shape == (2000, 2000, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)
    assert _pixel_distance(first, other) > 30.0
    tiles = first.reshape(20, 100, 20, 100, 3).mean(axis=(1, 3)).reshape(400, 3)  # mean colour per tile
    assert len(np.unique(tiles.round().astype(int), axis=0)) > 350  # of 400 tiles
    np.testing.assert_array_equal(ant.floor_texture("fixed", rng(5)), ant.floor_texture("fixed", rng(6)))
    assert ant.floor_texture("random", rng(3)).shape == (2000, 2000, 3)
    with pytest.raises(ValueError, match="texture_mode"):
        ant.AntEnv(texture_mode="marble")


def test_reward_is_the_grid_oracle_of_5x5_cells(env):
    env.reset()
    oracle = env.unwrapped._oracle  # pylint: disable=protected-access
    positions = np.array([[4.9, -4.9, 0.7], [5.0, -5.1, 0.7], [-0.1, 9.99, 0.7]])
    np.testing.assert_array_equal(oracle.cells(positions), [[0, 0, 0], [1, -1, 0], [0, 1, 0]])  # toward 0
    env.unwrapped.set_torso_position(2.0, 2.0)
    _, first, *_ = env.step(np.zeros(8, np.float32))
    _, again, *_ = env.step(np.zeros(8, np.float32))
    env.unwrapped.set_torso_position(7.0, 2.0)
    _, new_cell, _, _, info = env.step(np.zeros(8, np.float32))
    assert (first, again, new_cell) == (1.0, 0.0, 1.0)
    assert "native_reward" in info


def test_episode_ends_by_falling_or_after_1001_steps():
    env = ant.AntEnv(seed=0, max_episode_steps=1000)
    try:
        env.reset()
        env.unwrapped.set_torso_position(0.0, 0.0)
        qpos = env.data.qpos.copy()
        qpos[2] = 1.3  # torso above 1.0: unhealthy
        env.set_state(qpos, np.zeros_like(env.data.qvel))
        _, _, terminated, truncated, _ = env.step(np.zeros(8, np.float32))
        assert terminated and not truncated
        env.reset()
        env._elapsed_steps = 999  # pylint: disable=protected-access
        for expected_truncated in (False, True):  # steps 1000 and 1001
            qpos = env.data.qpos.copy()
            qpos[2] = 0.55  # keep it healthy
            env.set_state(qpos, np.zeros_like(env.data.qvel))
            _, _, terminated, truncated, _ = env.step(np.zeros(8, np.float32))
            assert (terminated, truncated) == (False, expected_truncated)
    finally:
        env.close()
    assert environments.get_scenario("ant_no_reward").max_episode_steps == 1001


def test_registry_scenario_and_configs():
    spec = environments.get_scenario("ant_no_reward")
    assert spec.available and spec.family == "ant"
    assert spec.env_kwargs["texture_mode"] == "random_tiled"
    expected = {"ppo": (8e-6, 3e-4, None), "ppo_plus_ec": (2.23872113857e-05, 7.49894209332e-05, 1.0)}
    for method, (entropy, learning_rate, alpha) in expected.items():
        gin.clear_config()
        gin.parse_config_files_and_bindings(
            launcher.config_files(method, "ant_no_reward", "paper"), [], skip_unknown=False
        )
        query = gin.query_parameter
        assert (query("PPOConfig.ent_coef"), query("PPOConfig.learning_rate")) == (entropy, learning_rate)
        assert query("PPOConfig.noptepochs") == 10 and query("PPOConfig.cliprange") == 0.2
        assert not query("PPOConfig.anneal_learning_rate") and not query("PPOConfig.anneal_cliprange")
        assert query("train_policy.policy_architecture") == "mlp"
        assert query("RewardScales.scale_task_reward") == 0.0
        if alpha is not None:
            assert query("RewardScales.scale_surrogate_reward") == alpha
            assert query("EpisodicCuriosity.bonus_reward_additive_term") == 0.5
            assert query("EpisodicCuriosity.similarity_threshold") == 1.0
            assert query("EpisodicMemory.capacity") == 1000
            assert query("EpisodicMemory.similarity_aggregation") == "nth_largest"
    gin.clear_config()


_TINY = [
    "train_policy.env_kwargs = {'max_episode_steps': 20}",
    "generate_r_training_data.env_kwargs = {'random_start_position': False}",
    "PPOConfig.nsteps = 16",
    "PPOConfig.nminibatches = 2",
    "PPOConfig.noptepochs = 1",
    "train_policy.eval_every_rollouts = 2",
    "train_r.num_epochs = 1",
    "train_r.steps_per_epoch = 2",
    "train_r.validation_steps = 1",
    "train_r.batch_size = 4",
    "train_r.checkpoint_every_epochs = 1",
    "train_r.shuffle_buffer = 50",
    "build_embedding_network.stage_filters = (4, 8, 8, 8)",
    "build_embedding_network.embedding_size = 16",
    "build_comparator_network.hidden_units = 16",
]


def test_tiny_ppo_plus_ec_launch_trains_r_network_on_camera_frames(tmp_path, monkeypatch):
    monkeypatch.setitem(
        launcher.SCALE_SETTINGS,
        "smoke",
        launcher.ScaleSettings(num_timesteps=60, num_env=2, data_env_steps=300, data_tasks=1, data_workers=1),
    )
    outputs = launcher.launch(
        str(tmp_path),
        "ppo_plus_ec",
        "ant_no_reward",
        scale="smoke",
        gin_bindings=_TINY,
        asynchronous=False,
        show_progress=False,
    )
    gin.clear_config()
    run_dir = outputs["run_dir"]
    assert os.path.basename(outputs["r_checkpoint"]).startswith("r_network_weights.")
    data = os.path.join(run_dir, "r_training_data", "R_TRAINING")
    assert any(name.endswith(".tfrecords") for name in os.listdir(data))
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    record = next(
        iter(
            tf.data.TFRecordDataset(sorted(os.path.join(data, n) for n in os.listdir(data) if n.endswith(".tfrecords")))
        )
    )
    example = tf.train.Example.FromString(record.numpy())
    png = example.features.feature["x1"].bytes_list.value[0]
    assert tf.io.decode_png(png).shape == (120, 160, 3)  # camera frames, not the 27-d state
    train_rows = metrics_csv.read_scalars(os.path.join(run_dir, "reward_train.csv"))
    assert [step for step, _, _ in train_rows] == [32, 64]  # 2 updates of 2 envs x 16 steps
    test_rows = metrics_csv.read_scalars(os.path.join(run_dir, "reward_test.csv"))
    assert test_rows and all(value >= 1.0 for _, value, _ in test_rows)  # each episode enters >= 1 cell
    assert not os.path.exists(os.path.join(run_dir, "reward_valid.csv"))  # Ant: test split only
