"""Non-finite values stop training with a named error and never reach a checkpoint."""

import gymnasium as gym
import numpy as np
import pytest

from episodic_curiosity import checkpoint_io
from episodic_curiosity import environments
from episodic_curiosity import ppo
from episodic_curiosity import train_policy
from episodic_curiosity.environments import fake
from episodic_curiosity.environments import registry

pytestmark = pytest.mark.usefixtures("clean_gin")
TINY = [
    "PPOConfig.nsteps=8",
    "PPOConfig.nminibatches=2",
    "PPOConfig.noptepochs=1",
    "train_policy.eval_every_rollouts=0",
    "train_policy.save_interval=1",
]


class NanRewardAt(fake.FakeNavigationEnv):
    """The fake maze, whose reward is NaN once: at `nan_step` (counted over all episodes)."""

    def __init__(self, nan_step: int = 30, **kwargs):
        super().__init__(**kwargs)
        self._nan_step = nan_step
        self._count = 0

    def step(self, action):
        observation, reward, terminated, truncated, info = super().step(action)
        self._count += 1
        return observation, (float("nan") if self._count == self._nan_step else reward), terminated, truncated, info


@pytest.fixture
def nan_scenario():
    name = "test_nan_reward"
    registry.register(
        registry.ScenarioSpec(
            name=name,
            family="fake",
            entry_point=f"{__name__}:NanRewardAt",
            env_kwargs={"episode_length": 6, "nan_step": 30},
            max_episode_steps=6,
        )
    )
    yield name
    del registry._REGISTRY[name]  # pylint: disable=protected-access


def test_a_nan_reward_stops_training_naming_step_env_and_quantity(tmp_path, nan_scenario):
    import gin  # pylint: disable=g-import-not-at-top

    gin.parse_config_files_and_bindings([], TINY, skip_unknown=False)
    with pytest.raises(ppo.NonFiniteError, match=r"non-finite reward nan from env 0 at vector step 30"):
        train_policy.train_policy(
            str(tmp_path), nan_scenario, num_env=2, num_timesteps=200, asynchronous=False, show_progress=False
        )
    checkpoints = sorted((tmp_path / "checkpoints").glob("policy.*.h5"))
    assert [c.name for c in checkpoints] == ["policy.00002.h5", "policy.00003.h5"]  # steps 1-24 trained
    for path in checkpoints:
        policy = train_policy.load_policy(
            str(path), gym.spaces.Box(0, 255, (84, 84, 3), np.uint8), gym.spaces.Discrete(4)
        )
        assert all(np.isfinite(v.numpy()).all() for v in policy.trainable_variables)
    assert checkpoint_io.read_attributes(str(checkpoints[-1]))["update"] == 3


def test_non_finite_losses_or_weights_are_not_saved(tmp_path, monkeypatch):
    import gin  # pylint: disable=g-import-not-at-top

    gin.parse_config_files_and_bindings([], TINY, skip_unknown=False)
    original_train = ppo.PPOLearner.train
    calls = []

    def train(self, batch, frac):
        stats = original_train(self, batch, frac)
        calls.append(1)
        if len(calls) == 2:
            stats = {**stats, "value_loss": float("inf")}
        return stats

    monkeypatch.setattr(ppo.PPOLearner, "train", train)
    with pytest.raises(ppo.NonFiniteError, match="non-finite value_loss .* in PPO update 2"):
        train_policy.train_policy(
            str(tmp_path),
            "fake",
            num_env=2,
            num_timesteps=200,
            asynchronous=False,
            show_progress=False,
            env_kwargs={"episode_length": 6},
        )
    assert [c.name for c in sorted((tmp_path / "checkpoints").glob("policy.*.h5"))] == ["policy.00001.h5"]


def test_observations_of_the_wrong_dtype_or_shape_are_named():
    space = gym.spaces.Box(0, 255, (4, 4, 3), np.uint8)
    ppo.check_step_data(np.zeros((2, 4, 4, 3), np.uint8), np.zeros(2), space, 5)
    with pytest.raises(ValueError, match="vector step 5 are float32"):
        ppo.check_step_data(np.zeros((2, 4, 4, 3), np.float32), np.zeros(2), space, 5)
    with pytest.raises(ppo.NonFiniteError, match="env 1 at vector step 9"):
        ppo.check_step_data(np.zeros((2, 4, 4, 3), np.uint8), np.array([0.0, np.inf]), space, 9)
    assert environments.get_scenario("fake")
