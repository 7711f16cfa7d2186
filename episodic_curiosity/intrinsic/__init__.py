"""Exploration bonuses on one interface (`base`): EC and ECO (`episodic`), the grid oracle
(`grid_oracle`), ICM (`icm`), RND (`rnd`) and E3B (`e3b`).

A method is chosen by one gin binding, `train_policy.intrinsic_reward = @EpisodicCuriosity`
(the launcher's `--method` picks the method's gin file); `None` is plain PPO. Adding a bonus
means one module with an `IntrinsicReward` subclass (gin-configurable) and one gin file that
imports it and binds `train_policy.intrinsic_reward`.
"""

from episodic_curiosity.intrinsic.base import IntrinsicReward
from episodic_curiosity.intrinsic.base import RewardScales
from episodic_curiosity.intrinsic.base import Rollout
from episodic_curiosity.intrinsic.base import Setup
from episodic_curiosity.intrinsic.base import Step
from episodic_curiosity.intrinsic.e3b import E3bBonus
from episodic_curiosity.intrinsic.episodic import EpisodicCuriosity
from episodic_curiosity.intrinsic.episodic import OnlineEpisodicCuriosity
from episodic_curiosity.intrinsic.grid_oracle import GridOracleBonus
from episodic_curiosity.intrinsic.icm import IcmBonus
from episodic_curiosity.intrinsic.rnd import RndBonus

__all__ = [
    "IntrinsicReward",
    "RewardScales",
    "Rollout",
    "Setup",
    "Step",
    "EpisodicCuriosity",
    "OnlineEpisodicCuriosity",
    "GridOracleBonus",
    "IcmBonus",
    "RndBonus",
    "E3bBonus",
]
