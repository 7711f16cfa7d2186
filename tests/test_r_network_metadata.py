"""Checkpoints know their architecture: R-network `.h5` metadata and policy checkpoint spaces."""

import os

import gin
import gymnasium as gym
import h5py
import numpy as np
import pytest

from episodic_curiosity import checkpoint_io
from episodic_curiosity import ppo
from episodic_curiosity import r_network
from episodic_curiosity import r_network_training
from episodic_curiosity import train_policy

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO_ROOT, "..", "shared", "fixtures", "original_r_network")
WEIGHTS = os.path.join(FIXTURES, "r_network_weights.00002.h5")
REFERENCE = os.path.join(FIXTURES, "rnet_reference_io.npz")
needs_fixture = pytest.mark.skipif(not os.path.exists(WEIGHTS), reason="../shared fixtures absent")

SMALL_SHAPE = (30, 40, 3)
SMALL_BINDINGS = [
    "build_embedding_network.stage_filters = (8, 8, 8, 8)",
    "build_embedding_network.embedding_size = 16",
    "build_comparator_network.hidden_units = 16",
]
SMALL_ARCHITECTURE = {
    "input_shape": [30, 40, 3],
    "stage_filters": [8, 8, 8, 8],
    "blocks_per_stage": 2,
    "embedding_size": 16,
    "comparator_hidden_units": 16,
    "comparator_hidden_layers": 4,
    "input_pooling": 1,
}
PAPER_ARCHITECTURE = {
    "input_pooling": 1,
    "input_shape": [120, 160, 3],
    "stage_filters": [64, 128, 256, 512],
    "blocks_per_stage": 2,
    "embedding_size": 512,
    "comparator_hidden_units": 512,
    "comparator_hidden_layers": 4,
}


@pytest.fixture
def small_checkpoint(tmp_path):
    """(path, frames, embeddings) of a small network saved under gin bindings; gin is empty after."""
    gin.clear_config()
    gin.parse_config(SMALL_BINDINGS)
    try:
        network = r_network.RNetwork(input_shape=SMALL_SHAPE)
        path = str(tmp_path / "r_network_weights.00001.h5")
        network.save_weights(path)
        frames = np.random.default_rng(0).integers(0, 256, size=(4, *SMALL_SHAPE), dtype=np.uint8)
        embeddings = network.embed(frames)
    finally:
        gin.clear_config()
    yield path, frames, embeddings
    gin.clear_config()


def test_weights_file_records_the_architecture(small_checkpoint):
    path, _, _ = small_checkpoint
    assert r_network.read_architecture(path) == SMALL_ARCHITECTURE
    with h5py.File(path, "r") as handle:  # plain HDF5 attributes, beside the original's layout
        assert list(handle.attrs["stage_filters"]) == [8, 8, 8, 8]
        assert list(handle.attrs["input_shape"]) == [30, 40, 3]
        assert [n.decode() for n in handle.attrs["layer_names"]] == ["x1", "x2", "model", "model_1"]


def test_network_is_built_from_the_file_without_gin(small_checkpoint):
    path, frames, embeddings = small_checkpoint
    network = r_network.RNetwork(weights_path=path)  # no bindings, no input shape
    assert network.architecture == SMALL_ARCHITECTURE
    assert network.input_shape == SMALL_SHAPE and network.embedding_size == 16
    np.testing.assert_array_equal(network.embed(frames), embeddings)
    # The same input shape passed explicitly is no conflict.
    same = r_network.RNetwork(input_shape=SMALL_SHAPE, weights_path=path)
    np.testing.assert_array_equal(same.embed(frames), embeddings)


def test_the_files_architecture_wins_over_gin_bindings(small_checkpoint):
    path, frames, embeddings = small_checkpoint
    gin.parse_config(["build_embedding_network.embedding_size = 32", "build_comparator_network.hidden_units = 64"])
    network = r_network.RNetwork(weights_path=path)
    assert network.architecture == SMALL_ARCHITECTURE
    np.testing.assert_array_equal(network.embed(frames), embeddings)


def test_conflicting_explicit_input_shape_names_both_shapes(small_checkpoint):
    path, _, _ = small_checkpoint
    with pytest.raises(r_network.CheckpointError) as error:
        r_network.RNetwork(input_shape=(120, 160, 3), weights_path=path)
    message = str(error.value)
    assert "30x40x3" in message and "120x160x3" in message and "input_shape" in message


def test_loading_another_architecture_names_both_and_what_to_pass(small_checkpoint):
    path, frames, _ = small_checkpoint
    gin.parse_config(
        [
            "build_embedding_network.stage_filters = (8, 8, 8, 8)",
            "build_embedding_network.embedding_size = 8",
            "build_comparator_network.hidden_units = 16",
        ]
    )
    network = r_network.RNetwork(input_shape=SMALL_SHAPE)
    before = network.embed(frames)
    with pytest.raises(r_network.CheckpointError) as error:
        network.load_weights(path)
    message = str(error.value)
    assert "embedding 16" in message and "embedding 8" in message
    assert "RNetwork(weights_path=" in message and "build_embedding_network.embedding_size" in message
    np.testing.assert_array_equal(network.embed(frames), before)
    # Another input shape, same layers: the weights would fit, the file says otherwise.
    gin.clear_config()
    gin.parse_config(SMALL_BINDINGS)
    other_shape = r_network.RNetwork(input_shape=(24, 32, 3))
    with pytest.raises(r_network.CheckpointError, match=r"30x40x3.*24x32x3|24x32x3.*30x40x3"):
        other_shape.load_weights(path)


def test_full_checkpoint_records_the_architecture_and_refuses_another(small_checkpoint, tmp_path):
    path, frames, embeddings = small_checkpoint
    gin.parse_config(SMALL_BINDINGS)
    network = r_network.RNetwork(weights_path=path)
    trainer = r_network_training.PairTrainer(network)
    full = str(tmp_path / r_network_training.full_checkpoint_name(3))
    trainer.save_full_checkpoint(full, 3, {"loss": 0.5})
    assert r_network.read_architecture(full) == SMALL_ARCHITECTURE
    gin.clear_config()
    resumed = r_network_training.PairTrainer(r_network.RNetwork(weights_path=full))
    epoch, attributes = resumed.load_full_checkpoint(full)
    assert (epoch, attributes) == (3, {"loss": 0.5})  # no architecture keys among the run's attributes
    np.testing.assert_array_equal(resumed.network.embed(frames), embeddings)
    gin.parse_config(
        [
            "build_embedding_network.stage_filters = (8, 8, 8, 16)",
            "build_embedding_network.embedding_size = 16",
            "build_comparator_network.hidden_units = 16",
        ]
    )
    other = r_network_training.PairTrainer(r_network.RNetwork(input_shape=SMALL_SHAPE))
    with pytest.raises(r_network.CheckpointError) as error:
        other.load_full_checkpoint(full)
    message = str(error.value)
    assert "stage filters (8, 8, 8, 8)" in message and "stage filters (8, 8, 8, 16)" in message
    assert "build_embedding_network.stage_filters=(8, 8, 8, 8)" in message


@needs_fixture
def test_original_file_without_metadata_loads_as_paper_sizes():
    assert r_network.read_architecture(WEIGHTS) is None
    gin.clear_config()
    gin.parse_config(SMALL_BINDINGS)  # bindings of another size do not apply to a file's network
    try:
        network = r_network.RNetwork(weights_path=WEIGHTS)
    finally:
        gin.clear_config()
    assert network.architecture == PAPER_ARCHITECTURE
    assert r_network.deduce_architecture(WEIGHTS) == PAPER_ARCHITECTURE
    reference = np.load(REFERENCE)
    expected = reference["embeddings"]
    np.testing.assert_allclose(network.embed(reference["x"]), expected, rtol=0, atol=1e-5 * np.abs(expected).max())


@needs_fixture
def test_original_file_into_a_network_of_another_architecture_names_both():
    gin.clear_config()
    gin.parse_config(SMALL_BINDINGS)
    try:
        network = r_network.RNetwork(input_shape=SMALL_SHAPE)
    finally:
        gin.clear_config()
    with pytest.raises(r_network.CheckpointError) as error:
        network.load_weights(WEIGHTS)
    message = str(error.value)
    assert "stage filters (64, 128, 256, 512)" in message and "stage filters (8, 8, 8, 8)" in message
    assert "RNetwork(weights_path=" in message


# --- Policy checkpoints ---------------------------------------------------------------------------


def _policy_checkpoint(path, observation_shape, num_actions=3, **attributes):
    space = gym.spaces.Box(0, 255, observation_shape, np.uint8)
    policy = ppo.ActorCritic("cnn", space, gym.spaces.Discrete(num_actions), seed=0)
    checkpoint_io.save_variables(
        str(path),
        {"policy": policy.trainable_variables},
        {
            "policy_architecture": "cnn",
            "observation_shape": list(observation_shape),
            "action_space": {"type": "discrete", "n": num_actions},
            **attributes,
        },
    )
    return policy


def test_load_policy_names_both_observation_shapes(tmp_path):
    path = tmp_path / "policy.00001.h5"
    _policy_checkpoint(path, (42, 42, 3))
    assert checkpoint_io.policy_observation_shape(str(path)) == (42, 42, 3)
    with pytest.raises(checkpoint_io.CheckpointError) as error:
        train_policy.load_policy(str(path), gym.spaces.Box(0, 255, (84, 84, 3), np.uint8), gym.spaces.Discrete(3))
    message = str(error.value)
    assert "42x42x3" in message and "84x84x3" in message
    assert "CuriosityEnvWrapper.target_image_shape=(42, 42, 3)" in message


def test_load_policy_names_both_action_spaces(tmp_path):
    path = tmp_path / "policy.00001.h5"
    _policy_checkpoint(path, (42, 42, 3), num_actions=3, scenario="vizdoom_dense")
    with pytest.raises(checkpoint_io.CheckpointError) as error:
        train_policy.load_policy(str(path), gym.spaces.Box(0, 255, (42, 42, 3), np.uint8), gym.spaces.Discrete(5))
    message = str(error.value)
    assert "Discrete(3)" in message and "Discrete(5)" in message and "vizdoom_dense" in message


def test_load_policy_with_matching_spaces_and_old_checkpoints(tmp_path):
    path = tmp_path / "policy.00001.h5"
    saved = _policy_checkpoint(path, (42, 42, 3))
    loaded = train_policy.load_policy(str(path), gym.spaces.Box(0, 255, (42, 42, 3), np.uint8), gym.spaces.Discrete(3))
    for a, b in zip(saved.trainable_variables, loaded.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # A checkpoint from before the spaces were recorded: no shape to check, none to report.
    old = tmp_path / "policy.00002.h5"
    checkpoint_io.save_variables(str(old), {"policy": saved.trainable_variables}, {"policy_architecture": "cnn"})
    assert checkpoint_io.policy_observation_shape(str(old)) is None
    train_policy.load_policy(str(old), gym.spaces.Box(0, 255, (42, 42, 3), np.uint8), gym.spaces.Discrete(3))


def test_visualize_and_eval_build_envs_of_the_policys_observation_shape(tmp_path):
    pytest.importorskip("imageio")
    from episodic_curiosity import eval_policy  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import visualize_curiosity_reward as viz  # pylint: disable=g-import-not-at-top

    gin.clear_config()
    gin.parse_config(
        [
            "build_embedding_network.stage_filters = (4, 4, 4, 4)",
            "build_embedding_network.embedding_size = 8",
            "build_comparator_network.hidden_units = 8",
        ]
    )
    try:
        r_network.RNetwork().save_weights(str(tmp_path / "r.h5"))  # the fake scenario's 120x160x3 frames
    finally:
        gin.clear_config()
    r_net = r_network.RNetwork(weights_path=str(tmp_path / "r.h5"))  # as --r_net_weights: no gin
    checkpoint = tmp_path / "run" / "checkpoints" / "policy.00002.h5"
    _policy_checkpoint(checkpoint, (42, 42, 3), num_actions=4)  # the fake scenario's 4 actions
    paths = viz.visualize(
        str(tmp_path / "viz"),
        "fake",
        r_net,
        policy=str(tmp_path / "run"),
        num_episodes=1,
        num_steps=4,
        trajectory_mode="policy",
        write_gif=False,
    )
    assert [os.path.basename(p) for p in paths] == ["surrogate_reward_0.mp4", "surrogate_reward_0.csv"]
    summary = eval_policy.eval_policy(
        str(checkpoint),
        "fake",
        split="valid",
        num_episodes=2,
        num_env=2,
        asynchronous=False,
        env_kwargs={"episode_length": 4},
    )
    assert summary["episodes"] == 2


@pytest.mark.parametrize(
    "input_shape, stage_filters, blocks",
    [((30, 40, 3), (8, 8, 8, 8), 2), ((23, 31, 3), (4, 8, 8, 16), 1), ((7, 9, 1), (4, 4, 8, 8), 3)],
)
def test_weights_without_metadata_give_their_architecture(tmp_path, input_shape, stage_filters, blocks):
    gin.clear_config()
    gin.parse_config(
        [
            f"build_embedding_network.stage_filters = {stage_filters}",
            f"build_embedding_network.blocks_per_stage = {blocks}",
            "build_embedding_network.embedding_size = 12",
            "build_comparator_network.hidden_units = 6",
            "build_comparator_network.num_hidden_layers = 2",
        ]
    )
    try:
        network = r_network.RNetwork(input_shape=input_shape)
    finally:
        gin.clear_config()
    stored = {name: [tuple(v.shape) for v in variables] for name, variables in network._groups().items()}
    assert r_network._weight_shapes(network.architecture) == stored
    path = str(tmp_path / "old.h5")
    network.save_weights(path)
    with h5py.File(path, "a") as handle:  # as written before the architecture was recorded
        for key in r_network.ARCHITECTURE_KEYS:
            del handle.attrs[key]
    assert r_network.read_architecture(path) is None
    assert r_network.deduce_architecture(path, input_shape) == network.architecture
    frames = np.random.default_rng(3).integers(0, 256, size=(2, *input_shape), dtype=np.uint8)
    reloaded = r_network.RNetwork(input_shape=input_shape, weights_path=path)
    np.testing.assert_array_equal(reloaded.embed(frames), network.embed(frames))


def test_input_pooling_is_an_area_resize_by_its_factor_and_is_recorded(tmp_path):
    """input_pooling=2 on 60x80 frames computes what the unpooled network computes on the frames
    area-resized to 30x40 (same layer weights); the file records it and rebuilds it without gin."""
    import cv2  # pylint: disable=g-import-not-at-top

    gin.clear_config()
    gin.parse_config(SMALL_BINDINGS)
    try:
        with pytest.raises(ValueError, match="input_pooling"):
            r_network.build_embedding_network((60, 80, 3), input_pooling=0)
    finally:
        gin.clear_config()
    gin.parse_config(SMALL_BINDINGS + ["build_embedding_network.input_pooling = 2"])
    try:
        pooled = r_network.RNetwork(input_shape=(60, 80, 3))
    finally:
        gin.clear_config()
    gin.parse_config(SMALL_BINDINGS)
    try:
        plain = r_network.RNetwork(input_shape=(30, 40, 3))
    finally:
        gin.clear_config()
    assert pooled.architecture == {**SMALL_ARCHITECTURE, "input_shape": [60, 80, 3], "input_pooling": 2}
    assert "average-pooled 2x2" in r_network.describe_architecture(pooled.architecture)
    plain.pair_model.set_weights(pooled.pair_model.get_weights())
    frames = np.random.default_rng(5).integers(0, 256, size=(3, 60, 80, 3), dtype=np.uint8)
    resized = np.stack([cv2.resize(f.astype(np.float32), (40, 30), interpolation=cv2.INTER_AREA) for f in frames])
    np.testing.assert_allclose(pooled.embed(frames), plain.embed(resized), rtol=1e-4, atol=1e-4)
    path = str(tmp_path / "r_network_weights.00001.h5")
    pooled.save_weights(path)
    assert r_network.read_architecture(path)["input_pooling"] == 2
    assert r_network._weight_shapes(pooled.architecture) == {
        name: [tuple(v.shape) for v in variables] for name, variables in pooled._groups().items()
    }
    reloaded = r_network.RNetwork(weights_path=path)  # no gin bindings
    assert reloaded.architecture == pooled.architecture
    np.testing.assert_array_equal(reloaded.embed(frames), pooled.embed(frames))
    with h5py.File(str(tmp_path / "r_network_weights.00001.h5"), "r") as handle:
        assert int(handle.attrs["input_pooling"]) == 2
    plain_path = str(tmp_path / "plain.h5")
    plain.save_weights(plain_path)
    with h5py.File(plain_path, "r") as handle:  # unchanged layout for unpooled networks
        assert "input_pooling" not in handle.attrs


def test_policy_input_settings_give_back_resize_and_frame_stack(tmp_path):
    stacked = tmp_path / "stacked.00001.h5"
    _policy_checkpoint(stacked, (42, 42, 4), num_actions=4, frame_stack=4)
    assert checkpoint_io.policy_input_settings(str(stacked)) == {"target_image_shape": (42, 42, 1), "frame_stack": 4}
    plain = tmp_path / "plain.00001.h5"
    _policy_checkpoint(plain, (42, 42, 3))  # recorded before frame stacking: one frame
    assert checkpoint_io.policy_input_settings(str(plain)) == {"target_image_shape": (42, 42, 3), "frame_stack": 1}
    bad = tmp_path / "bad.00001.h5"
    _policy_checkpoint(bad, (42, 42, 3), frame_stack=2)
    with pytest.raises(checkpoint_io.CheckpointError, match="2 stacked frames"):
        checkpoint_io.policy_input_settings(str(bad))
    # eval_policy builds the stacked observations the checkpoint was trained on.
    from episodic_curiosity import eval_policy  # pylint: disable=g-import-not-at-top

    summary = eval_policy.eval_policy(
        str(stacked),
        "fake",
        split="valid",
        num_episodes=2,
        num_env=2,
        asynchronous=False,
        env_kwargs={"episode_length": 4},
    )
    assert summary["episodes"] == 2
