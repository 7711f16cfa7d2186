"""PPO learner: schedules, config validation, one train() call, reproducibility."""

import dataclasses
import math

import gin
import gymnasium as gym
import numpy as np
import pytest

from episodic_curiosity.ppo import ActorCritic
from episodic_curiosity.ppo import annealing_fraction
from episodic_curiosity.ppo import explained_variance
from episodic_curiosity.ppo import minibatch_indices
from episodic_curiosity.ppo import num_updates
from episodic_curiosity.ppo import PPOConfig
from episodic_curiosity.ppo import PPOLearner
from episodic_curiosity.ppo.learner import STAT_KEYS

OBSERVATION_SPACE = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)
SMALL_CONFIG = PPOConfig(nsteps=8, nminibatches=4, noptepochs=2)


def _batch(policy, size=32, seed=0):
    rng = np.random.default_rng(seed)
    observations = rng.normal(size=(size, *policy.observation_space.shape))
    observations = observations.astype(policy.observation_space.dtype)
    if np.issubdtype(observations.dtype, np.integer):
        observations = rng.integers(0, 256, observations.shape, dtype=observations.dtype)
    actions, values, neglogps = policy.step(observations)
    return {
        "observations": observations,
        "actions": actions,
        "values": values,
        "neglogps": neglogps,
        "returns": values + rng.normal(size=size).astype(np.float32),
    }


def test_num_updates_rounds_down_like_ppo2():
    assert num_updates(22_000_000, 12, 256) == 7161
    assert 22_000_000 // 3072 == 7161
    assert num_updates(3071, 12, 256) == 0
    assert num_updates(3072 * 5, 12, 256) == 5
    with pytest.raises(ValueError):
        num_updates(100, 0, 256)


def test_annealing_fraction():
    assert annealing_fraction(1, 10) == 1.0
    assert annealing_fraction(10, 10) == pytest.approx(0.1)
    assert annealing_fraction(6, 10) == pytest.approx(0.5)
    for bad in (0, 11):
        with pytest.raises(ValueError, match="update"):
            annealing_fraction(bad, 10)


def test_default_config_matches_the_original():
    config = PPOConfig()
    assert (config.nsteps, config.nminibatches, config.noptepochs) == (256, 4, 4)
    assert config.learning_rate == 2.5e-4 and config.ent_coef == 0.01 and config.vf_coef == 0.5
    assert config.max_grad_norm == 0.5 and config.gamma == 0.99 and config.lam == 0.95
    assert config.cliprange == 0.1 and config.adam_epsilon == 1e-5
    assert config.anneal_learning_rate and config.anneal_cliprange
    config.validate(num_envs=12)


def test_validate_lists_all_errors():
    config = PPOConfig(nsteps=0, learning_rate=-1.0, gamma=1.5, cliprange=0.0, ent_coef=-0.1)
    with pytest.raises(ValueError) as error:
        config.validate()
    message = str(error.value)
    for name in ("nsteps=0", "learning_rate=-1.0", "gamma=1.5", "cliprange=0.0", "ent_coef=-0.1"):
        assert name in message
    assert "lam" not in message
    with pytest.raises(ValueError, match="divisible by nminibatches=5"):
        PPOConfig(nminibatches=5).validate(num_envs=12)


def test_config_is_gin_configurable():
    try:
        gin.parse_config("PPOConfig.noptepochs = 10\nPPOConfig.anneal_cliprange = False")
        config = PPOConfig()
        assert config.noptepochs == 10 and not config.anneal_cliprange
        assert PPOConfig(noptepochs=3).noptepochs == 3
    finally:
        gin.clear_config()


def test_minibatch_indices_cover_the_batch():
    chunks = minibatch_indices(12, 3, np.random.default_rng(0))
    assert [len(chunk) for chunk in chunks] == [4, 4, 4]
    np.testing.assert_array_equal(np.sort(np.concatenate(chunks)), np.arange(12))
    with pytest.raises(ValueError, match="equal minibatches"):
        minibatch_indices(10, 3, np.random.default_rng(0))


def test_explained_variance():
    targets = np.array([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(targets, targets) == 1.0
    assert explained_variance(np.full(4, 2.5), targets) == pytest.approx(0.0)
    assert math.isnan(explained_variance(targets, np.ones(4)))


def test_train_returns_stats_and_annealed_schedule():
    policy = ActorCritic("mlp", OBSERVATION_SPACE, gym.spaces.Discrete(3), seed=0)
    learner = PPOLearner(policy, SMALL_CONFIG, seed=0)
    assert learner.optimizer.epsilon == pytest.approx(1e-5)
    before = [v.numpy().copy() for v in policy.trainable_variables]
    batch = _batch(policy)
    stats = learner.train(batch, frac=1.0)
    assert set(stats) == set(STAT_KEYS) | {"learning_rate", "cliprange"}
    assert all(isinstance(value, float) and math.isfinite(value) for value in stats.values())
    assert stats["learning_rate"] == pytest.approx(2.5e-4) and stats["cliprange"] == pytest.approx(0.1)
    assert any(not np.array_equal(b, v.numpy()) for b, v in zip(before, policy.trainable_variables))
    half = learner.train(batch, frac=0.5)
    assert half["learning_rate"] == pytest.approx(1.25e-4) and half["cliprange"] == pytest.approx(0.05)
    assert float(learner.optimizer.learning_rate.numpy()) == pytest.approx(1.25e-4)
    # One trace serves every minibatch and every learning rate / clip range.
    assert learner._train_step.experimental_get_tracing_count() == 1


def test_no_annealing_keeps_schedule_constant():
    policy = ActorCritic("mlp", OBSERVATION_SPACE, gym.spaces.Box(-1, 1, (2,), np.float32), seed=0)
    config = dataclasses.replace(
        SMALL_CONFIG, anneal_learning_rate=False, anneal_cliprange=False, learning_rate=3e-4, cliprange=0.2
    )
    stats = PPOLearner(policy, config).train(_batch(policy), frac=0.25)
    assert stats["learning_rate"] == pytest.approx(3e-4) and stats["cliprange"] == pytest.approx(0.2)


def test_first_minibatch_diagnostics_before_any_change():
    """With one minibatch and one epoch, the step sees the collecting policy: ratio 1."""
    policy = ActorCritic("mlp", OBSERVATION_SPACE, gym.spaces.Discrete(3), seed=0)
    config = dataclasses.replace(SMALL_CONFIG, nminibatches=1, noptepochs=1)
    stats = PPOLearner(policy, config).train(_batch(policy), frac=1.0)
    assert stats["approxkl"] == pytest.approx(0.0, abs=1e-10)
    assert stats["clipfrac"] == 0.0
    assert stats["policy_loss"] == pytest.approx(0.0, abs=1e-6)  # -mean(normalised A) = 0
    assert stats["policy_entropy"] == pytest.approx(math.log(3), abs=0.01)


def test_train_rejects_bad_batches():
    policy = ActorCritic("mlp", OBSERVATION_SPACE, gym.spaces.Discrete(3), seed=0)
    learner = PPOLearner(policy, SMALL_CONFIG)
    batch = _batch(policy)
    with pytest.raises(ValueError, match="neglogps"):
        learner.train({k: v for k, v in batch.items() if k != "neglogps"}, 1.0)
    with pytest.raises(ValueError, match="equal minibatches"):
        learner.train({k: v[:30] for k, v in batch.items()}, 1.0)
    with pytest.raises(ValueError, match="differ in length"):
        learner.train({**batch, "returns": batch["returns"][:16]}, 1.0)


@pytest.mark.parametrize(
    "architecture, space, action_space",
    [
        ("mlp", OBSERVATION_SPACE, gym.spaces.Box(-1, 1, (2,), np.float32)),
        ("cnn", gym.spaces.Box(0, 255, (36, 36, 3), np.uint8), gym.spaces.Discrete(4)),
    ],
)
def test_same_seed_same_result(architecture, space, action_space):
    results = []
    for _ in range(2):
        policy = ActorCritic(architecture, space, action_space, seed=5)
        learner = PPOLearner(policy, SMALL_CONFIG, seed=11)
        stats = learner.train(_batch(policy), frac=1.0)
        results.append(([v.numpy() for v in policy.trainable_variables], stats))
    (first, first_stats), (second, second_stats) = results
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert first_stats == second_stats


def test_unnormalised_advantages_keep_their_scale():
    """First minibatch step (ratio 1): the policy loss is -mean(A) with the raw advantages,
    0 with PPO2's standardised ones."""
    policy = ActorCritic("mlp", OBSERVATION_SPACE, gym.spaces.Discrete(3), seed=0)
    batch = _batch(policy)
    advantages = (0.25 + 0.1 * np.random.default_rng(1).normal(size=len(batch["values"]))).astype(np.float32)
    batch["returns"] = batch["values"] + advantages
    raw_mean = float(np.mean(batch["returns"] - batch["values"]))
    for normalize, expected in ((True, 0.0), (False, -raw_mean)):
        config = dataclasses.replace(SMALL_CONFIG, nminibatches=1, noptepochs=1, normalize_advantages=normalize)
        stats = PPOLearner(policy, config).train(batch, frac=1.0)
        assert stats["policy_loss"] == pytest.approx(expected, abs=1e-3)
    with pytest.raises(ValueError, match="normalize_advantages"):
        dataclasses.replace(SMALL_CONFIG, normalize_advantages=1).validate()
