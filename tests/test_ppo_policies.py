"""Actor-critic policies: shapes, initialisation, sampling and -log p."""

import math

import gymnasium as gym
import numpy as np
import pytest

from episodic_curiosity.ppo import ActorCritic

IMAGE_SPACE = gym.spaces.Box(0, 255, (84, 84, 3), np.uint8)
VECTOR_SPACE = gym.spaces.Box(-np.inf, np.inf, (27,), np.float64)
BOX_ACTIONS = gym.spaces.Box(-1.0, 1.0, (8,), np.float32)


@pytest.fixture(scope="module")
def cnn():
    return ActorCritic("cnn", IMAGE_SPACE, gym.spaces.Discrete(4), seed=3)


def _frames(batch, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (batch, 84, 84, 3), dtype=np.uint8)


def _kernel(policy, path):
    return next(v for v in policy.trainable_variables if v.path == path).numpy()


def test_cnn_shapes_and_dtypes(cnn):
    actions, values, neglogps = cnn.step(_frames(5))
    assert actions.shape == (5,) and actions.dtype == np.int64
    assert ((actions >= 0) & (actions < 4)).all()
    assert values.shape == (5,) and values.dtype == np.float32
    assert neglogps.shape == (5,) and neglogps.dtype == np.float32
    assert cnn.value(_frames(7)).shape == (7,)
    assert cnn.architecture == "cnn"
    # uint8 frames go into the model unconverted; scaling happens inside it.
    assert cnn.model.inputs[0].dtype == "uint8"
    assert cnn.model.get_layer("scale").scale == pytest.approx(1 / 255)


def test_cnn_layers_and_variable_order(cnn):
    paths = [v.path for v in cnn.trainable_variables]
    assert paths == [
        "conv1/kernel",
        "conv1/bias",
        "conv2/kernel",
        "conv2/bias",
        "conv3/kernel",
        "conv3/bias",
        "fc/kernel",
        "fc/bias",
        "policy_logits/kernel",
        "policy_logits/bias",
        "value/kernel",
        "value/bias",
    ]
    shapes = [tuple(v.shape) for v in cnn.trainable_variables]
    assert shapes[0] == (8, 8, 3, 32) and shapes[2] == (4, 4, 32, 64) and shapes[4] == (3, 3, 64, 64)
    assert shapes[6] == (7 * 7 * 64, 512)


@pytest.mark.parametrize(
    "path, gain",
    [
        ("conv1/kernel", math.sqrt(2)),
        ("conv3/kernel", math.sqrt(2)),
        ("fc/kernel", math.sqrt(2)),
        ("policy_logits/kernel", 0.01),
        ("value/kernel", 1.0),
    ],
)
def test_cnn_orthogonal_init_scales(cnn, path, gain):
    kernel = _kernel(cnn, path)
    matrix = kernel.reshape(-1, kernel.shape[-1])  # Columns are orthogonal with norm `gain`.
    np.testing.assert_allclose(matrix.T @ matrix, gain**2 * np.eye(matrix.shape[1]), atol=1e-4 * max(1, gain**2))


def test_cnn_biases_zero(cnn):
    for variable in cnn.trainable_variables:
        if variable.path.endswith("bias"):
            assert not variable.numpy().any(), variable.path


def test_cnn_initial_policy_is_near_uniform(cnn):
    logits, _ = cnn.model(_frames(16))
    assert np.abs(logits.numpy()).max() < 0.1
    _, _, neglogps = cnn.step(_frames(16))
    np.testing.assert_allclose(neglogps, math.log(4), atol=0.1)


def test_same_seed_same_actions():
    first = ActorCritic("cnn", IMAGE_SPACE, gym.spaces.Discrete(4), seed=7)
    second = ActorCritic("cnn", IMAGE_SPACE, gym.spaces.Discrete(4), seed=7)
    other = ActorCritic("cnn", IMAGE_SPACE, gym.spaces.Discrete(4), seed=8)
    for a, b in zip(first.trainable_variables, second.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(first.trainable_variables[0].numpy(), other.trainable_variables[0].numpy())
    frames = _frames(64)
    for _ in range(3):
        a, va, na = first.step(frames)
        b, vb, nb = second.step(frames)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(va, vb)
        np.testing.assert_array_equal(na, nb)


def test_step_neglogp_matches_evaluate(cnn):
    frames = _frames(8)
    actions, values, neglogps = cnn.step(frames)
    neglogp, entropy, evaluated_values = cnn.evaluate(frames, actions)
    np.testing.assert_allclose(neglogp.numpy(), neglogps, rtol=1e-5)
    np.testing.assert_allclose(evaluated_values.numpy(), values, rtol=1e-5)
    logits = cnn.model(frames)[0].numpy().astype(np.float64)
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(neglogp.numpy(), -np.log(probabilities[np.arange(8), actions]), rtol=1e-5)
    np.testing.assert_allclose(entropy.numpy(), -(probabilities * np.log(probabilities)).sum(-1), rtol=1e-5)


def test_categorical_sampling_follows_softmax():
    policy = ActorCritic("mlp", gym.spaces.Box(-1, 1, (3,), np.float32), gym.spaces.Discrete(3), seed=0)
    head_bias = next(v for v in policy.trainable_variables if v.path == "policy_head/bias")
    head_bias.assign(np.array([1.0, 0.0, -1.0], np.float32))
    actions, _, _ = policy.step(np.zeros((20000, 3), np.float32))
    logits = policy.policy_model(np.zeros((1, 3), np.float32)).numpy()[0]
    expected = np.exp(logits) / np.exp(logits).sum()
    frequencies = np.bincount(actions, minlength=3) / len(actions)
    np.testing.assert_allclose(frequencies, expected, atol=0.015)


def test_mlp_gaussian_log_std_and_neglogp():
    policy = ActorCritic("mlp", VECTOR_SPACE, BOX_ACTIONS, seed=1)
    assert policy.architecture == "mlp"
    np.testing.assert_array_equal(policy.log_std.numpy(), np.zeros(8))
    paths = [v.path for v in policy.trainable_variables]
    assert paths == [
        "policy_fc1/kernel",
        "policy_fc1/bias",
        "policy_fc2/kernel",
        "policy_fc2/bias",
        "policy_head/kernel",
        "policy_head/bias",
        "log_std",
        "value_fc1/kernel",
        "value_fc1/bias",
        "value_fc2/kernel",
        "value_fc2/bias",
        "value_head/kernel",
        "value_head/bias",
    ]
    head = _kernel(policy, "policy_head/kernel")
    np.testing.assert_allclose(head.T @ head, 1e-4 * np.eye(8), atol=1e-7)
    log_std = np.linspace(-1.0, 0.5, 8).astype(np.float32)
    policy.log_std.assign(log_std)
    observations = np.random.default_rng(0).normal(size=(6, 27))  # float64, as MuJoCo gives
    actions, values, neglogps = policy.step(observations)
    assert actions.shape == (6, 8) and actions.dtype == np.float32 and values.shape == (6,)
    mean = policy.policy_model(observations.astype(np.float32)).numpy().astype(np.float64)
    std = np.exp(log_std.astype(np.float64))
    expected = -np.sum(-0.5 * ((actions - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi), axis=-1)
    np.testing.assert_allclose(neglogps, expected, rtol=1e-5)
    neglogp, entropy, _ = policy.evaluate(observations, actions)
    np.testing.assert_allclose(neglogp.numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(entropy.numpy(), np.sum(log_std + 0.5 * np.log(2 * np.pi * np.e)), rtol=1e-5)


def test_errors():
    with pytest.raises(ValueError, match="'transformer'"):
        ActorCritic("transformer", IMAGE_SPACE, gym.spaces.Discrete(4))
    with pytest.raises(ValueError, match="Discrete action space"):
        ActorCritic("cnn", IMAGE_SPACE, BOX_ACTIONS)
    with pytest.raises(ValueError, match="HxWxC"):
        ActorCritic("cnn", VECTOR_SPACE, gym.spaces.Discrete(4))
    with pytest.raises(ValueError, match="Box observation space"):
        ActorCritic("mlp", gym.spaces.Discrete(5), gym.spaces.Discrete(4))
    with pytest.raises(ValueError, match="1-d Box"):
        ActorCritic("mlp", VECTOR_SPACE, gym.spaces.MultiBinary(3))
    policy = ActorCritic("mlp", VECTOR_SPACE, gym.spaces.Discrete(2))
    with pytest.raises(ValueError, match=r"\[B, 27\]"):
        policy.step(np.zeros((4, 26)))


def test_small_cnn_is_the_icm_42x42_encoder():
    space = gym.spaces.Box(0, 255, (42, 42, 4), np.uint8)
    policy = ActorCritic("cnn_small", space, gym.spaces.Discrete(4), seed=1)
    shapes = [tuple(v.shape) for v in policy.trainable_variables]
    # 4 x conv 32 3x3 stride 2 'same': 42 -> 21 -> 11 -> 6 -> 3, then FC 256 and the two heads.
    assert shapes[:8] == [(3, 3, 4, 32), (32,), (3, 3, 32, 32), (32,), (3, 3, 32, 32), (32,), (3, 3, 32, 32), (32,)]
    assert shapes[8:] == [(3 * 3 * 32, 256), (256,), (256, 4), (4,), (256, 1), (1,)]
    assert policy.model.get_layer("conv1").activation.__name__ == "elu"
    frames = np.random.default_rng(0).integers(0, 256, (5, 42, 42, 4), dtype=np.uint8)
    actions, values, neglogps = policy.step(frames)
    assert actions.shape == values.shape == neglogps.shape == (5,)
    # Near-uniform at initialisation, as the Nature CNN (logits head gain 0.01).
    neglogp, entropy, _ = policy.evaluate(frames, actions)
    np.testing.assert_allclose(entropy.numpy(), math.log(4), atol=1e-3)
    with pytest.raises(ValueError, match="cnn_small"):
        ActorCritic("cnn_small", VECTOR_SPACE, gym.spaces.Discrete(4))


def test_bfloat16_policy_keeps_float32_weights_and_outputs_and_stays_close():
    """The opt-in bf16 policy: the same float32 variables as the default one (same seed, same
    order and initial values: checkpoints are interchangeable), float32 logits and values that
    differ from the float32 policy's only by bf16 rounding, and a PPO step that keeps every
    variable float32 and finite."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    from episodic_curiosity.ppo import PPOConfig  # pylint: disable=g-import-not-at-top
    from episodic_curiosity.ppo import PPOLearner  # pylint: disable=g-import-not-at-top

    exact = ActorCritic("cnn", IMAGE_SPACE, gym.spaces.Discrete(4), seed=3)
    low = ActorCritic("cnn", IMAGE_SPACE, gym.spaces.Discrete(4), seed=3, compute_dtype="bfloat16")
    assert exact.compute_dtype == "float32" and low.compute_dtype == "bfloat16"
    assert [v.path for v in low.trainable_variables] == [v.path for v in exact.trainable_variables]
    for a, b in zip(exact.trainable_variables, low.trainable_variables):
        assert b.dtype == "float32"
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert low.model.get_layer("conv1").compute_dtype == "bfloat16"
    assert low.model.get_layer("policy_logits").compute_dtype == "float32"
    assert exact.model.get_layer("conv1").compute_dtype == "float32"
    # Give the heads weight so that rounding shows in the outputs (initial logits are ~0).
    for policy in (exact, low):
        for layer in ("policy_logits", "value"):
            kernel = policy.model.get_layer(layer).kernel
            kernel.assign(np.random.default_rng(7).normal(0, 0.05, kernel.shape).astype(np.float32))
    frames = _frames(64, seed=2)
    actions = np.random.default_rng(3).integers(0, 4, 64)
    exact_neglogp, _, exact_values = exact.evaluate(frames, actions)
    low_neglogp, low_entropy, low_values = low.evaluate(frames, actions)
    assert low_neglogp.dtype == low_values.dtype == low_entropy.dtype == tf.float32
    value_error = np.abs(low_values.numpy() - exact_values.numpy())
    assert 0 < value_error.max() < 0.05 * np.abs(exact_values.numpy()).max()
    np.testing.assert_allclose(low_neglogp.numpy(), exact_neglogp.numpy(), atol=0.05)
    config = PPOConfig(nsteps=16, nminibatches=2, noptepochs=1)
    values = low.value(frames)
    batch = {
        "observations": frames,
        "actions": actions,
        "returns": values + 0.1,
        "values": values,
        "neglogps": low_neglogp.numpy(),
    }
    conv1_before = low.model.get_layer("conv1").kernel.numpy().copy()
    stats = PPOLearner(low, config).train(batch, frac=1.0)
    assert (
        np.abs(low.model.get_layer("conv1").kernel.numpy() - conv1_before).max() > 0
    )  # gradients reach the bf16 layers
    assert np.isfinite(list(stats.values())).all()
    assert all(v.dtype == "float32" and np.isfinite(v.numpy()).all() for v in low.trainable_variables)
    with pytest.raises(ValueError, match="compute_dtype must be one of float32, bfloat16, auto"):
        ActorCritic("cnn", IMAGE_SPACE, gym.spaces.Discrete(4), compute_dtype="float16")
