r"""PPO+ICM on the intrinsic-reward interface (Pathak et al. 2017; the original's ppo2 ICM
option): the bonus of a transition (s, a, s') is the ICM's scaled forward-model error
(`icm.IntrinsicCuriosityModule`), computed on the policy's observations.

A step that ends an episode has, with SAME_STEP auto-reset, the next episode's first
observation as s', so the transition is not real: its bonus is 0 and it is not trained on.
After the rollout's bonus is computed, the ICM trains on the rollout's real transitions for
`num_epochs` passes, each a shuffle split into `num_minibatches` minibatches (defaults: PPO's
4 x 4, the minibatches the original's ppo2 ICM option trained on). Its weights, Adam state,
counters and shuffling state are saved with the policy checkpoint.
"""

from __future__ import annotations

import collections
import math

import gin
import numpy as np

from episodic_curiosity import icm as icm_lib
from episodic_curiosity.intrinsic import base


def train_on_real_transitions(
    module: icm_lib.IntrinsicCuriosityModule,
    rollout: base.Rollout,
    rng: np.random.Generator,
    num_epochs: int,
    num_minibatches: int,
) -> dict[str, float] | None:
    """Trains `module` on the rollout's real transitions (`IcmBonus.transitions`) for
    `num_epochs` shuffled passes of `num_minibatches` minibatches; returns the mean of each loss
    over the minibatch steps, or None (nothing trained) when no transition is real."""
    observations, actions, next_observations, real = IcmBonus.transitions(rollout)
    observations, actions, next_observations = observations[real], actions[real], next_observations[real]
    totals, steps = collections.defaultdict(float), 0
    for chunk in base.shuffled_minibatches(rng, len(actions), num_epochs, num_minibatches):
        for key, value in module.train_step(observations[chunk], actions[chunk], next_observations[chunk]).items():
            totals[key] += value
        steps += 1
    return {key: value / steps for key, value in totals.items()} if steps else None


@gin.configurable(denylist=["setup", "module"])
class IcmBonus(base.IntrinsicReward):
    """The ICM's forward-model error as the bonus; trained once per rollout."""

    name = "icm"
    trains_on_rollouts = True

    def __init__(
        self,
        setup: base.Setup,
        num_epochs: int = 4,
        num_minibatches: int = 4,
        module: icm_lib.IntrinsicCuriosityModule | None = None,
    ):
        """Args:
        setup: base.Setup (spaces and seed).
        num_epochs: int, passes over the rollout's real transitions per update.
        num_minibatches: int, minibatches per pass.
        module: a prebuilt ICM (None: built from the spaces, configured by gin).
        """
        super().__init__(setup)
        errors = [
            f"{name}={value!r} (must be an int >= 1)"
            for name, value in (("num_epochs", num_epochs), ("num_minibatches", num_minibatches))
            if isinstance(value, bool) or not (isinstance(value, (int, np.integer)) and value >= 1)
        ]
        if errors:
            raise ValueError("bad IcmBonus settings: " + "; ".join(errors))
        self.module = module or icm_lib.IntrinsicCuriosityModule(
            setup.observation_space, setup.action_space, seed=setup.seed
        )
        self.num_epochs = int(num_epochs)
        self.num_minibatches = int(num_minibatches)
        self.trainings = 0
        self._rng = np.random.default_rng(setup.seed)
        self.last_losses = {"forward_loss": math.nan, "inverse_loss": math.nan, "loss": math.nan}
        self.last_bonus = {"mean": math.nan, "std": math.nan}
        self._pending_real_bonus: list[np.ndarray] = []  # real transitions' bonuses since the last update

    @staticmethod
    def transitions(rollout: base.Rollout):
        """(s, a, s', real) flattened time-major over [T * N]."""
        num = rollout.num_steps * rollout.num_envs
        flat = lambda array: np.asarray(array).reshape(num, *np.shape(array)[2:])
        return (
            flat(rollout.observations[:-1]),
            flat(rollout.actions),
            flat(rollout.observations[1:]),
            ~np.asarray(rollout.dones, bool).reshape(num),
        )

    def compute_bonus(self, rollout: base.Rollout) -> np.ndarray:
        observations, actions, next_observations, real = self.transitions(rollout)
        bonus = self.module.intrinsic_reward(observations, actions, next_observations).astype(np.float64)
        bonus[~real] = 0.0
        self._pending_real_bonus.append(bonus[real])
        return bonus.reshape(rollout.num_steps, rollout.num_envs)

    def update(self, rollout: base.Rollout) -> dict[str, float]:
        losses = train_on_real_transitions(self.module, rollout, self._rng, self.num_epochs, self.num_minibatches)
        if losses is None:
            return dict(self.last_losses)
        self.last_losses = losses
        pending = np.concatenate(self._pending_real_bonus) if self._pending_real_bonus else np.zeros(0)
        self._pending_real_bonus = []
        if len(pending):
            self.last_bonus = {"mean": float(pending.mean()), "std": float(pending.std())}
        self.trainings += 1
        return dict(self.last_losses)

    def progress_columns(self) -> dict[str, float]:
        """PPO2's `curiosity_loss` (the ICM's loss) and the ICM's own columns (nan before training)."""
        return {
            "curiosity_loss": self.last_losses["loss"],
            "icm_forward_loss": self.last_losses["forward_loss"],
            "icm_inverse_loss": self.last_losses["inverse_loss"],
            "icm_loss": self.last_losses["loss"],
            "icm_bonus_mean": self.last_bonus["mean"],
            "icm_bonus_std": self.last_bonus["std"],
        }

    def statistics(self) -> dict[str, float]:
        stats = {k: v for k, v in self.progress_columns().items() if k != "curiosity_loss" and not math.isnan(v)}
        stats["icm_trainings"] = float(self.trainings)
        return stats

    def variable_groups(self) -> dict[str, list]:
        return {"icm": self.module.trainable_variables, "icm_optimizer": self.module.optimizer.variables}

    def state_attributes(self) -> dict:
        return {
            "icm_trainings": self.trainings,
            "icm_rng_state": self._rng.bit_generator.state,
            "icm_last_losses": self.last_losses,
            "icm_last_bonus": self.last_bonus,
        }

    def restore_state(self, attributes: dict) -> None:
        self.trainings = int(attributes["icm_trainings"])
        self._rng.bit_generator.state = attributes["icm_rng_state"]
        self.last_losses = {key: float(value) for key, value in attributes["icm_last_losses"].items()}
        self.last_bonus = {key: float(value) for key, value in attributes["icm_last_bonus"].items()}
