"""Environments behind one scenario registry (Gymnasium API throughout).

from episodic_curiosity import environments
env = environments.make_env("vizdoom_sparse", seed=0)
vec = environments.make_vector_env("vizdoom_sparse", num_envs=12)
"""

from episodic_curiosity.environments.errors import MissingDependencyError
from episodic_curiosity.environments.errors import ScenarioNotAvailableError
from episodic_curiosity.environments.errors import UnknownScenarioError
from episodic_curiosity.environments.registry import get_scenario
from episodic_curiosity.environments.registry import make_env
from episodic_curiosity.environments.registry import scenario_names
from episodic_curiosity.environments.registry import ScenarioSpec
from episodic_curiosity.environments.vector import AUTORESET_MODE
from episodic_curiosity.environments.vector import DEFAULT_BASE_SEED
from episodic_curiosity.environments.vector import make_vector_env

__all__ = [
    "AUTORESET_MODE",
    "DEFAULT_BASE_SEED",
    "MissingDependencyError",
    "ScenarioNotAvailableError",
    "ScenarioSpec",
    "UnknownScenarioError",
    "get_scenario",
    "make_env",
    "make_vector_env",
    "scenario_names",
]
