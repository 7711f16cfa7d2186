r"""PPO+E3B on the intrinsic-reward interface: Exploration via Elliptical Episodic Bonuses
(Henaff et al. 2022, NeurIPS).

**Embedding.** phi is the encoder of an `icm.IntrinsicCuriosityModule` trained with the
inverse-dynamics loss only (the module is built with `forward_loss_weight=0.0`, so the forward
model gets zero gradients and stays at its initial weights; it is stored, unused, in the
checkpoint). For images that encoder is 42 x 42 -> 4 x [conv 32 3x3/2 ELU] -> 288 features,
the same shape as the authors' VizDoom embedding net (their code used `hidden_dim 288` there);
vector observations go through the module's MLP.

**Bonus.** Per env an inverse matrix C^-1 of C = lambda I + sum phi phi^T over the embeddings
of the current episode so far (`ridge` lambda = 0.1, the paper's). Step t (the transition
observations[t] -> observations[t + 1]) gets

    b_t = phi(x)^T C^-1 phi(x),   x = observations[t + 1] (what step t returned),

then phi(x) joins C^-1 by the Sherman-Morrison rank-1 update
C^-1 <- C^-1 - (C^-1 phi)(C^-1 phi)^T / (1 + b_t). An episode's first observation (the reset
observation) earns no bonus of its own: it only enters C^-1, so the first step of an episode
is scored against lambda I + phi(s_0) phi(s_0)^T.

Episode ends. With SAME_STEP auto-reset, a step with dones[t] returns the *next* episode's
first observation, and the ended episode's last observation is not in the rollout. Such a step
gets bonus 0 (as IcmBonus does for its unreal transitions), and the env's C^-1 is then reset to
I / lambda and given the new episode's first embedding. (The authors' released code scores the
observation a step *started* from, with 0 for an episode's first step, so its bonuses are one
step earlier than here; the count of scored observations per episode is the same. Scoring the
observation a step returns ties the bonus to the action that caused it.) The bonus is computed
vectorised over the N envs with a loop over T, in numpy float64; one encoder call embeds the
whole rollout with the weights from before this rollout's update.

C^-1 is episodic state: `reset()` clears it, it is not checkpointed, and `restore_state`
clears it too (after a resume the envs start fresh episodes). `compute_bonus` advances it, so
call it exactly once per rollout, rollouts in order (observations[0] of a rollout is the last
observation of the previous one and is not added again).

**Training.** `update` trains encoder + inverse model on the rollout's real transitions
(dones[t] False) for `num_epochs` shuffled passes of `num_minibatches` minibatches (PPO's 4 x 4,
as IcmBonus), with the module's own Adam (its weights, Adam state, counters and shuffling state
are saved with the policy checkpoint).

Differences from the paper and the authors' released code:
  * PPO (this project's runner) instead of the paper's IMPALA; the embedding is trained on
    each rollout after its bonus was computed, with a separate Adam (lr from
    `IntrinsicCuriosityModule.learning_rate`) and 4 x 4 minibatch steps, instead of one joint
    step per IMPALA batch (the authors: Adam 1e-4; here the ICM's 1e-3, as PPO+ICM);
  * MiniHack's embedding net is not implemented (policy observations here are images or
    vectors); images use the ICM encoder above (Glorot init, inputs scaled to [0, 1]); the
    authors' VizDoom net has the same layers but its own (orthogonal) initialisation and input
    handling, so the bonus scale, and hence the right alpha, differ;
  * bonus normalisation is optional (`normalize_bonus`, off by default, on in
    method_ppo_plus_e3b.gin): the bonus is divided by the running standard deviation of the
    raw bonus over all real steps so far, as the authors' MiniHack runs did (`reward_norm
    int`); their VizDoom runs used the raw bonus with coefficients of 3e-7 ... 3e-5, which do
    not carry over to this encoder. The raw bonus grows as the inverse-dynamics training
    enlarges the embedding (the mean bonus of a random-walk MyWayHome episode grew ~50x in
    144 Adam steps on that episode), so a fixed alpha on the raw bonus would drift; the running statistics are saved
    with the checkpoint; `e3b_bonus_mean` / `e3b_bonus_std` log the raw bonus;
  * no reward clipping (the authors' code clipped task + alpha x bonus to [-1, 1] by
    default);
  * bonus timing at episode boundaries as described above.
"""

from __future__ import annotations

import math

import gin
import numpy as np
import tensorflow as tf

from episodic_curiosity import icm as icm_lib
from episodic_curiosity.intrinsic import base
from episodic_curiosity.intrinsic import icm as icm_bonus


@gin.configurable(denylist=["setup", "module"])
class E3bBonus(base.IntrinsicReward):
    """The elliptical episodic bonus on an inverse-dynamics embedding; see the module doc."""

    name = "e3b"
    trains_on_rollouts = True

    def __init__(
        self,
        setup: base.Setup,
        ridge: float = 0.1,
        normalize_bonus: bool = False,
        num_epochs: int = 4,
        num_minibatches: int = 4,
        module: icm_lib.IntrinsicCuriosityModule | None = None,
    ):
        """Args:
        setup: base.Setup (spaces, number of envs and seed).
        ridge: float, lambda > 0: C starts as lambda I each episode.
        normalize_bonus: bool, divide the bonus by the running standard deviation of all
          real steps' bonuses so far (this rollout's included; the authors' MiniHack
          `reward_norm int`); False: the raw phi^T C^-1 phi.
        num_epochs: int, passes over the rollout's real transitions per update.
        num_minibatches: int, minibatches per pass.
        module: a prebuilt IntrinsicCuriosityModule with forward_loss_weight 0 (None: built
          from the spaces and `setup.seed`, configured by gin, forward_loss_weight=0.0).
        """
        super().__init__(setup)
        errors = [
            f"{name}={value!r} (must be an int >= 1)"
            for name, value in (("num_epochs", num_epochs), ("num_minibatches", num_minibatches))
            if isinstance(value, bool) or not (isinstance(value, (int, np.integer)) and value >= 1)
        ]
        if (
            isinstance(ridge, bool)
            or not isinstance(ridge, (int, float, np.number))
            or not (math.isfinite(float(ridge)) and float(ridge) > 0)
        ):
            errors.append(f"ridge={ridge!r} (must be a finite float > 0)")
        if not isinstance(normalize_bonus, (bool, np.bool_)):
            errors.append(f"normalize_bonus={normalize_bonus!r} (must be True or False)")
        if module is not None and module.forward_loss_weight != 0.0:
            errors.append(
                f"module.forward_loss_weight={module.forward_loss_weight!r} (E3B trains the "
                f"embedding with the inverse loss only: build the module with "
                f"forward_loss_weight=0.0)"
            )
        if errors:
            raise ValueError("bad E3bBonus settings: " + "; ".join(errors))
        # An explicit forward_loss_weight wins over any gin binding of the ICM.
        self.module = module or icm_lib.IntrinsicCuriosityModule(
            setup.observation_space, setup.action_space, forward_loss_weight=0.0, seed=setup.seed
        )
        self.ridge = float(ridge)
        self.normalize_bonus = bool(normalize_bonus)
        self._moments = {"count": 0.0, "mean": 0.0, "m2": 0.0}  # of the raw real-step bonuses
        self.num_epochs = int(num_epochs)
        self.num_minibatches = int(num_minibatches)
        self.feature_size = int(self.module.feature_size)
        self.trainings = 0
        self._rng = np.random.default_rng(setup.seed)
        self.last_losses = {"inverse_loss": math.nan}
        self.last_bonus = {"mean": math.nan, "std": math.nan}
        self._pending_bonus: list[np.ndarray] = []  # real steps' bonuses since the last update
        space = self.module.observation_space
        self._embed_fn = tf.function(
            lambda observations: self.module.encoder(observations, training=False),
            input_signature=[tf.TensorSpec([None, *space.shape], tf.as_dtype(space.dtype))],
        )
        self._cov_inverse = np.zeros((self.num_envs, self.feature_size, self.feature_size))
        self._fresh = np.ones(self.num_envs, bool)  # the env's next observations[0] starts an episode
        self.reset()

    # Episodic state --------------------------------------------------------------------------

    def reset(self) -> None:
        self._cov_inverse[:] = np.eye(self.feature_size) / self.ridge
        self._fresh[:] = True
        self._pending_bonus = []

    @property
    def inverse_covariances(self) -> np.ndarray:
        """A copy of the N matrices C^-1 [N, F, F] (float64)."""
        return self._cov_inverse.copy()

    def _start_episodes(self, envs: np.ndarray, embeddings: np.ndarray) -> None:
        """C^-1 of `envs` (bool [N]) <- (lambda I + phi phi^T)^-1 for their first embeddings [N, F]."""
        x = embeddings[envs]
        # Sherman-Morrison on I / lambda: (I - x x^T / (lambda + x^T x)) / lambda.
        scale = 1.0 / (self.ridge * (self.ridge + np.einsum("nf,nf->n", x, x)))
        self._cov_inverse[envs] = (
            np.eye(self.feature_size) / self.ridge - scale[:, None, None] * x[:, :, None] * x[:, None, :]
        )

    # The interface ---------------------------------------------------------------------------

    def embed(self, observations) -> np.ndarray:
        """phi of observations [B, ...] (the policy's observations) -> float64 [B, F]."""
        space = self.module.observation_space
        observations = np.asarray(observations).astype(space.dtype, copy=False)
        if tuple(observations.shape[1:]) != tuple(space.shape):
            raise ValueError(
                f"E3B observations must have shape [B, {', '.join(map(str, space.shape))}], "
                f"got {list(observations.shape)}"
            )
        return self._embed_fn(observations).numpy().astype(np.float64)

    def compute_bonus(self, rollout: base.Rollout) -> np.ndarray:
        steps, envs = rollout.num_steps, rollout.num_envs
        if envs != self.num_envs:
            raise ValueError(f"E3B was built for {self.num_envs} envs, the rollout has {envs}")
        observations = np.asarray(rollout.observations)
        if observations.shape[:2] != (steps + 1, envs):
            raise ValueError(
                f"E3B rollout observations must be [T + 1, N, ...] = [{steps + 1}, {envs}, ...], "
                f"got {list(observations.shape)}"
            )
        dones = np.asarray(rollout.dones, bool)
        fresh = self._fresh.any()
        batch = observations if fresh else observations[1:]
        embeddings = self.embed(batch.reshape(len(batch) * envs, *batch.shape[2:])).reshape(
            len(batch), envs, self.feature_size
        )
        if fresh:
            self._start_episodes(self._fresh, embeddings[0])
            self._fresh[:] = False
            embeddings = embeddings[1:]
        bonus = np.zeros((steps, envs))
        cov_inverse = self._cov_inverse
        for t in range(steps):
            x = embeddings[t]
            u = np.einsum("nij,nj->ni", cov_inverse, x)
            b = np.einsum("ni,ni->n", x, u)
            bonus[t] = np.where(dones[t], 0.0, b)
            # Rank-1 update for every env; the ended ones are overwritten just below.
            cov_inverse -= u[:, :, None] * (u / (1.0 + b)[:, None])[:, None, :]
            if dones[t].any():
                self._start_episodes(dones[t], x)
        real_bonus = bonus[~dones]
        self._pending_bonus.append(real_bonus)
        if self.normalize_bonus:
            self._add_moments(real_bonus)
            std = self.bonus_running_std()
            if std > 0:
                bonus /= std
        return bonus

    def _add_moments(self, values: np.ndarray) -> None:
        """Merges a batch into the running count, mean and sum of squared deviations (Chan et al.)."""
        if not len(values):
            return
        count, mean, m2 = self._moments["count"], self._moments["mean"], self._moments["m2"]
        batch_count, batch_mean = float(len(values)), float(values.mean())
        batch_m2 = float(((values - batch_mean) ** 2).sum())
        total = count + batch_count
        delta = batch_mean - mean
        self._moments = {
            "count": total,
            "mean": mean + delta * batch_count / total,
            "m2": m2 + batch_m2 + delta**2 * count * batch_count / total,
        }

    def bonus_running_std(self) -> float:
        """The running standard deviation of the raw bonus (nan before any real step)."""
        if not self._moments["count"]:
            return math.nan
        return math.sqrt(self._moments["m2"] / self._moments["count"])

    def update(self, rollout: base.Rollout) -> dict[str, float]:
        if self._pending_bonus:
            real_bonus = np.concatenate(self._pending_bonus)
            self._pending_bonus = []
            if len(real_bonus):
                self.last_bonus = {"mean": float(real_bonus.mean()), "std": float(real_bonus.std())}
        losses = icm_bonus.train_on_real_transitions(
            self.module, rollout, self._rng, self.num_epochs, self.num_minibatches
        )
        if losses is None:
            return dict(self.last_losses)
        self.last_losses = {"inverse_loss": losses["inverse_loss"]}
        self.trainings += 1
        return dict(self.last_losses)

    def inverse_loss(self, rollout: base.Rollout) -> float:
        """The inverse-dynamics loss on the rollout's real transitions, without training."""
        observations, actions, next_observations, real = icm_bonus.IcmBonus.transitions(rollout)
        return self.module.losses(observations[real], actions[real], next_observations[real])["inverse_loss"]

    def progress_columns(self) -> dict[str, float]:
        """The embedding's inverse loss and the last bonuses' mean and std (nan before training)."""
        return {
            "e3b_inverse_loss": self.last_losses["inverse_loss"],
            "e3b_bonus_mean": self.last_bonus["mean"],
            "e3b_bonus_std": self.last_bonus["std"],
        }

    def statistics(self) -> dict[str, float]:
        stats = {k: v for k, v in self.progress_columns().items() if not math.isnan(v)}
        stats["e3b_trainings"] = float(self.trainings)
        if self.normalize_bonus and self._moments["count"]:
            stats["e3b_bonus_running_std"] = self.bonus_running_std()
        return stats

    def variable_groups(self) -> dict[str, list]:
        return {"e3b": self.module.trainable_variables, "e3b_optimizer": self.module.optimizer.variables}

    def state_attributes(self) -> dict:
        return {
            "e3b_trainings": self.trainings,
            "e3b_rng_state": self._rng.bit_generator.state,
            "e3b_last_losses": self.last_losses,
            "e3b_last_bonus": self.last_bonus,
            "e3b_bonus_moments": self._moments,
        }

    def restore_state(self, attributes: dict) -> None:
        """Counters, shuffling state, bonus moments and last logs; the episodic matrices start
        afresh."""
        self.trainings = int(attributes["e3b_trainings"])
        self._rng.bit_generator.state = attributes["e3b_rng_state"]
        self.last_losses = {key: float(value) for key, value in attributes["e3b_last_losses"].items()}
        self.last_bonus = {key: float(value) for key, value in attributes["e3b_last_bonus"].items()}
        self._moments = {key: float(value) for key, value in attributes["e3b_bonus_moments"].items()}
        self.reset()
