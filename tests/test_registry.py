"""Scenario registry: names, errors for unknown/unavailable scenarios and missing packages."""

import os
import sys

import pytest

from episodic_curiosity import environments
from episodic_curiosity.environments import fake

DMLAB_SCENARIOS = ["noreward", "norewardnofire", "sparse", "verysparse", "sparseplusdoors", "dense1", "dense2"]


def test_registered_names():
    names = environments.scenario_names()
    for name in ["vizdoom_dense", "vizdoom_sparse", "vizdoom_verysparse", "ant_no_reward", "fake", *DMLAB_SCENARIOS]:
        assert name in names
    available = environments.scenario_names(available_only=True)
    assert "vizdoom_sparse" in available and "fake" in available
    assert "sparse" in available  # DMLab scenarios are listed; building one needs deepmind_lab
    assert "ant_no_reward" in available  # building it needs the `mujoco` extra


def test_unknown_scenario_lists_valid_names():
    with pytest.raises(environments.UnknownScenarioError) as error:
        environments.make_env("vizdoom_sparce")
    message = str(error.value)
    assert "'vizdoom_sparce'" in message
    for name in ["vizdoom_dense", "vizdoom_sparse", "vizdoom_verysparse", "noreward"]:
        assert name in message


def test_unknown_scenario_in_vector_env():
    with pytest.raises(environments.UnknownScenarioError):
        environments.make_vector_env("nope", 2, asynchronous=False)


def test_unavailable_scenarios_say_why(monkeypatch):
    from episodic_curiosity.environments import registry  # pylint: disable=g-import-not-at-top

    monkeypatch.setitem(
        registry._REGISTRY,
        "future_env",
        environments.ScenarioSpec(  # pylint: disable=protected-access
            name="future_env", family="fake", unavailable_reason="waiting for its simulator."
        ),
    )
    assert "future_env" not in environments.scenario_names(available_only=True)
    with pytest.raises(
        environments.ScenarioNotAvailableError, match="'future_env' is not available yet: waiting for its simulator"
    ):
        environments.make_env("future_env")


def test_missing_vizdoom_gives_install_command(monkeypatch):
    # A None entry in sys.modules makes `import vizdoom` raise ImportError.
    monkeypatch.setitem(sys.modules, "vizdoom", None)
    with pytest.raises(environments.MissingDependencyError) as error:
        environments.make_env("vizdoom_sparse")
    message = str(error.value)
    assert "vizdoom" in message
    assert "pip install 'episodic-curiosity[vizdoom]'" in message


def test_missing_vizdoom_fails_in_parent_before_starting_workers(monkeypatch):
    monkeypatch.setitem(sys.modules, "vizdoom", None)
    with pytest.raises(environments.MissingDependencyError):
        environments.make_vector_env("vizdoom_sparse", 2, asynchronous=True)


def test_make_env_applies_defaults_and_overrides():
    env = environments.make_env("fake", seed=1, episode_length=3)
    assert isinstance(env, fake.FakeNavigationEnv)
    assert env.episode_length == 3
    assert env.grid_size == environments.get_scenario("fake").env_kwargs["grid_size"]


def test_vizdoom_spec_defaults():
    spec = environments.get_scenario("vizdoom_verysparse")
    assert spec.family == "vizdoom"
    assert spec.env_kwargs["variant"] == "verysparse"
    assert spec.action_names == ("noop", "forward", "turn_left", "turn_right")
    assert spec.max_episode_steps == 525


def _without_mujoco(monkeypatch):
    """As if the `mujoco` extra were not installed (a None entry makes `import mujoco` fail)."""
    monkeypatch.setitem(sys.modules, "mujoco", None)
    monkeypatch.delitem(sys.modules, "episodic_curiosity.environments.ant", raising=False)
    for name in ("MUJOCO_GL", "PYOPENGL_PLATFORM"):
        monkeypatch.setenv(name, "")  # so that monkeypatch restores whatever is set meanwhile
        monkeypatch.delenv(name)
    from episodic_curiosity.environments import mujoco_rendering  # pylint: disable=g-import-not-at-top

    # What probing a GL backend in a subprocess reports without mujoco (no subprocess here).
    monkeypatch.setattr(
        mujoco_rendering, "probe_backend", lambda backend: "ModuleNotFoundError: No module named 'mujoco'"
    )


def _assert_names_the_mujoco_extra(error):
    message = str(error.value)
    assert error.value.package == "mujoco" and error.value.extra == "mujoco"
    assert "pip install 'episodic-curiosity[mujoco]'" in message
    assert "pip install -e '.[mujoco]'" in message


def test_missing_mujoco_gives_install_command(monkeypatch):
    _without_mujoco(monkeypatch)
    with pytest.raises(environments.MissingDependencyError) as error:
        environments.get_scenario("ant_no_reward").constructor()
    _assert_names_the_mujoco_extra(error)
    with pytest.raises(environments.MissingDependencyError) as error:
        environments.make_env("ant_no_reward")
    _assert_names_the_mujoco_extra(error)
    assert "MUJOCO_GL" not in os.environ  # no GL backend was probed or chosen


def test_missing_mujoco_is_reported_before_probing_gl_backends(monkeypatch):
    _without_mujoco(monkeypatch)
    from episodic_curiosity.environments import mujoco_rendering  # pylint: disable=g-import-not-at-top

    monkeypatch.setattr(mujoco_rendering, "probe_backend", lambda backend: pytest.fail("probed " + backend))
    with pytest.raises(environments.MissingDependencyError) as error:
        mujoco_rendering.import_mujoco()
    _assert_names_the_mujoco_extra(error)
    with pytest.raises(environments.MissingDependencyError):
        mujoco_rendering.check_mujoco()


def test_missing_mujoco_fails_in_parent_before_starting_workers(monkeypatch):
    _without_mujoco(monkeypatch)
    with pytest.raises(environments.MissingDependencyError):
        environments.make_vector_env("ant_no_reward", 2, asynchronous=True)


def test_ant_spec_checks_for_mujoco():
    spec = environments.get_scenario("ant_no_reward")
    assert spec.dependency_check == "episodic_curiosity.environments.mujoco_rendering:check_mujoco"
