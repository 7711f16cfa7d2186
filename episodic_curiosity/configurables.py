"""Imports every module that declares gin configurables, so any shipped `.gin` file parses.

Each entry point that accepts `--gin_config` imports this module: the method, scenario and
scale files bind names across the whole pipeline (`PPOConfig`, `RewardScales`, `EpisodicCuriosity`,
`train_r`, `generate_r_training_data`, ...), and gin refuses a file naming a configurable
whose module was never imported.
"""

# pylint: disable=unused-import
from episodic_curiosity import curiosity_env_wrapper  # noqa: F401
from episodic_curiosity import episodic_memory  # noqa: F401
from episodic_curiosity import generate_r_training_data  # noqa: F401
from episodic_curiosity import icm  # noqa: F401
from episodic_curiosity import intrinsic  # noqa: F401
from episodic_curiosity import online_r_training  # noqa: F401
from episodic_curiosity import oracle  # noqa: F401
from episodic_curiosity import r_network  # noqa: F401
from episodic_curiosity import r_network_training  # noqa: F401
from episodic_curiosity import train_policy  # noqa: F401
from episodic_curiosity import train_r  # noqa: F401
from episodic_curiosity.ppo import learner  # noqa: F401
