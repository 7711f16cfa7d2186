"""PPO+ECO online trainer: history, trajectories, schedule and gating, checkpoint round trip."""

import gin
import numpy as np
import pytest

from episodic_curiosity import checkpoint_io
from episodic_curiosity import curiosity_env_wrapper
from episodic_curiosity import environments
from episodic_curiosity import intrinsic
from episodic_curiosity import online_r_training
from episodic_curiosity import r_network

TINY = [
    "build_embedding_network.stage_filters = (4, 8, 8, 8)",
    "build_embedding_network.embedding_size = 16",
    "build_comparator_network.hidden_units = 16",
]
SHAPE = (24, 32, 3)


@pytest.fixture
def tiny_network():
    gin.clear_config()
    gin.parse_config(TINY)
    try:
        yield lambda: r_network.RNetwork(input_shape=SHAPE)
    finally:
        gin.clear_config()


def test_trajectories_cut_after_each_done_step():
    dones = np.zeros((7, 2), bool)
    dones[2, 0] = dones[5, 0] = True
    result = [(env, steps.tolist()) for env, steps in online_r_training.trajectories(dones)]
    assert result == [(0, [0, 1, 2]), (0, [3, 4, 5]), (0, [6]), (1, [0, 1, 2, 3, 4, 5, 6])]


def test_disk_history_ring_order_and_persistence(tmp_path):
    path = str(tmp_path / "history" / "frames.u8")
    history = online_r_training.DiskHistory(path, capacity=4, num_envs=2, frame_shape=(2, 3, 1))
    for step in range(6):
        frames = np.full((2, 2, 3, 1), step, np.uint8)
        frames[1] += 100
        history.append(frames, np.array([step == 4, False]))
    slots = history.chronological_slots()
    assert history.count == 4 and len(slots) == 4
    firsts = history.read_frames(slots, np.zeros(4, int))[:, 0, 0, 0]
    assert firsts.tolist() == [2, 3, 4, 5]  # oldest first
    assert history.read_frames(slots[:1], np.ones(1, int))[0, 0, 0, 0] == 102
    assert history.dones[slots][:, 0].tolist() == [False, False, True, False]
    history.close()
    reopened = online_r_training.DiskHistory(path, capacity=4, num_envs=2, frame_shape=(2, 3, 1))
    reopened.position, reopened.count = history.position, history.count
    np.testing.assert_array_equal(reopened.dones, history.dones)
    assert reopened.read_frames(slots, np.zeros(4, int))[:, 0, 0, 0].tolist() == [2, 3, 4, 5]
    reopened.close()
    with pytest.raises(ValueError, match="history frames"):
        online_r_training.DiskHistory(path, 4, 2, (2, 3, 1)).append(np.zeros((3, 2, 3, 1)), np.zeros(3))


def test_schedule_and_gating_on_the_fake_env(tiny_network, tmp_path):
    gin.parse_config(
        [
            "OnlineRNetworkTrainer.observation_history_size = 300",
            "OnlineRNetworkTrainer.training_interval = -1",
            "OnlineRNetworkTrainer.num_epochs = 1",
        ]
    )
    network = tiny_network()
    vec = environments.make_vector_env(
        "fake", 2, asynchronous=False, env_kwargs={"episode_length": 60, "observation_shape": SHAPE}
    )
    setup = intrinsic.Setup(
        num_envs=2,
        observation_space=vec.single_observation_space,
        action_space=vec.single_action_space,
        workdir=str(tmp_path),
    )
    eco = intrinsic.OnlineEpisodicCuriosity(setup, network=network)
    trainer = eco.trainer
    # A resume before the first training writes no weights file (none was trained).
    eco.restore_state(eco.state_attributes())
    assert not list(tmp_path.glob("r_network_weights.*"))
    # Fixed progress.csv columns from the first update: nan until the first training.
    before_training = eco.progress_columns()
    assert before_training.pop("r_network_trainings") == 0.0
    assert sorted(before_training) == ["r_network_acc", "r_network_loss", "r_network_val_acc", "r_network_val_loss"]
    assert all(np.isnan(value) for value in before_training.values())
    env = curiosity_env_wrapper.CuriosityEnvWrapper(
        vec, eco, intrinsic.RewardScales(scale_surrogate_reward=1.0, exploration_reward_min_step=300)
    )
    env.reset()
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(2, *SHAPE), dtype=np.uint8)
    before = network.embed(frames)
    for step in range(1, 601):
        _, reward, _, _, infos = env.step(rng.integers(0, 4, size=2))
        expected_trainings = step // 300
        assert trainer.trainings == expected_trainings, step
        if step < 300:  # gated: the bonus is computed but scaled by 0
            np.testing.assert_array_equal(reward, infos["task_reward"])
        else:  # on from the step the first training completes
            np.testing.assert_allclose(reward, infos["task_reward"] + infos["curiosity_bonus"])
        if step == 299:
            np.testing.assert_array_equal(network.embed(frames), before)
    assert not np.allclose(network.embed(frames), before)  # trained in place
    assert set(trainer.last_metrics) == {"loss", "acc", "val_loss", "val_acc"}
    columns = eco.progress_columns()
    assert columns["r_network_trainings"] == 2.0
    assert 0.0 <= columns["r_network_acc"] <= 1.0 and np.isfinite(columns["r_network_loss"])
    assert (tmp_path / "r_network_weights.00003.h5").exists()  # after the second training
    # Memory keys follow the new weights.
    valid = env.memory.valid_mask()
    np.testing.assert_allclose(
        env.memory.keys[valid], network.memory_keys(env.memory.embeddings[valid]), rtol=1e-5, atol=1e-5
    )
    env.close()


def test_checkpoint_round_trip_restores_the_same_r_network(tiny_network, tmp_path):
    network = tiny_network()
    trainer = online_r_training.OnlineRNetworkTrainer(
        network, 1, SHAPE, str(tmp_path / "h.u8"), observation_history_size=200, training_interval=200, num_epochs=1
    )
    rng = np.random.default_rng(1)
    for _ in range(200):
        trainer.observe(rng.integers(0, 256, size=(1, *SHAPE), dtype=np.uint8), np.array([rng.random() < 0.02]))
    assert trainer.trainings == 1
    trainer.last_metrics.update(loss=0.6, acc=0.7)  # this history is too short for a batch
    path = str(tmp_path / "policy.h5")
    checkpoint_io.save_variables(path, trainer.variable_groups(), trainer.state_attributes())
    trainer.history.close()
    frames = rng.integers(0, 256, size=(3, *SHAPE), dtype=np.uint8)

    restored_network = tiny_network()
    restored = online_r_training.OnlineRNetworkTrainer(
        restored_network,
        1,
        SHAPE,
        str(tmp_path / "h.u8"),
        observation_history_size=200,
        training_interval=200,
        num_epochs=1,
    )
    assert not np.allclose(restored_network.embed(frames), network.embed(frames))
    attributes = checkpoint_io.load_variables(path, restored.variable_groups())
    restored.restore_attributes(attributes)
    np.testing.assert_array_equal(restored_network.embed(frames), network.embed(frames))
    assert (restored.step_count, restored.trainings, restored.history.count) == (200, 1, 200)
    assert restored.last_metrics == pytest.approx(trainer.last_metrics, nan_ok=True)
    assert (restored.last_metrics["loss"], restored.last_metrics["acc"]) == pytest.approx((0.6, 0.7))
    for a, b in zip(restored.trainer.optimizer.variables, trainer.trainer.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    restored.history.close()

    # Without its history files the resumed trainer refills the history instead of taking
    # 200 steps of zeros for frames.
    for suffix in ("", ".dones"):
        (tmp_path / f"h.u8{suffix}").unlink()
    lost = online_r_training.OnlineRNetworkTrainer(
        tiny_network(), 1, SHAPE, str(tmp_path / "h.u8"), observation_history_size=200, training_interval=200
    )
    lost.restore_attributes(checkpoint_io.load_variables(path, lost.variable_groups()))
    assert (lost.step_count, lost.trainings, lost.history.count, lost.history.position) == (200, 1, 0, 0)
    lost.history.close()
