"""Vector envs: per-env seeds and the SAME_STEP auto-reset rule."""

import numpy as np
import pytest

from episodic_curiosity import environments
from episodic_curiosity.environments import fake

EPISODE_LENGTH = 4


def _vector(asynchronous, num_envs=3, **kwargs):
    return environments.make_vector_env(
        "fake", num_envs, asynchronous=asynchronous, env_kwargs={"episode_length": EPISODE_LENGTH, **kwargs}
    )


@pytest.mark.parametrize("asynchronous", [False, True])
def test_env_i_is_seeded_base_seed_plus_i(asynchronous):
    vec = _vector(asynchronous)
    try:
        observations, infos = vec.reset()
    finally:
        vec.close()
    for i in range(3):
        expected_obs, expected_info = fake.FakeNavigationEnv(
            episode_length=EPISODE_LENGTH, grid_size=8, seed=environments.DEFAULT_BASE_SEED + i
        ).reset()
        np.testing.assert_array_equal(observations[i], expected_obs)
        np.testing.assert_array_equal(infos["position"][i], expected_info["position"])


@pytest.mark.parametrize("asynchronous", [False, True])
def test_same_step_autoreset(asynchronous):
    """On the ending step, obs is the next episode's first obs; the last one is in final_obs."""
    vec = _vector(asynchronous, num_envs=2)
    reference = [
        fake.FakeNavigationEnv(episode_length=EPISODE_LENGTH, grid_size=8, seed=environments.DEFAULT_BASE_SEED + i)
        for i in range(2)
    ]
    try:
        vec.reset()
        for env in reference:
            env.reset()
        actions = np.array([1, 2])
        for step in range(EPISODE_LENGTH):
            observations, rewards, terminated, truncated, infos = vec.step(actions)
            expected = [env.step(int(a)) for env, a in zip(reference, actions)]
            if step < EPISODE_LENGTH - 1:
                assert not truncated.any() and "final_obs" not in infos
                for i in range(2):
                    np.testing.assert_array_equal(observations[i], expected[i][0])
        assert truncated.all() and not terminated.any()
        for i in range(2):
            # The ended episode's last observation ...
            np.testing.assert_array_equal(infos["final_obs"][i], expected[i][0])
            np.testing.assert_array_equal(infos["final_info"]["position"][i], expected[i][4]["position"])
            # ... and the new episode's first one, from the env's own RNG stream.
            next_first, next_info = reference[i].reset()
            np.testing.assert_array_equal(observations[i], next_first)
            np.testing.assert_array_equal(infos["position"][i], next_info["position"])
    finally:
        vec.close()


def test_rejects_zero_envs():
    with pytest.raises(ValueError, match="num_envs"):
        environments.make_vector_env("fake", 0)
