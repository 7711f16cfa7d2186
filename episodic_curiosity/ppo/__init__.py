"""PPO (PPO2 semantics) in TF2 / Keras 3: policies, GAE, losses, learner and rollout runner.

from episodic_curiosity import ppo

policy = ppo.ActorCritic("cnn", envs.single_observation_space, envs.single_action_space)
config = ppo.PPOConfig()
runner = ppo.Runner(envs, policy, config.nsteps, config.gamma, config.lam)
learner = ppo.PPOLearner(policy, config)
runner.reset()
total = ppo.num_updates(total_timesteps, envs.num_envs, config.nsteps)
for update in range(1, total + 1):
    batch, stats = runner.run()
    losses = learner.train(batch, ppo.annealing_fraction(update, total))
"""

from episodic_curiosity.ppo.gae import compute_gae
from episodic_curiosity.ppo.learner import annealing_fraction
from episodic_curiosity.ppo.learner import explained_variance
from episodic_curiosity.ppo.learner import minibatch_indices
from episodic_curiosity.ppo.learner import num_updates
from episodic_curiosity.ppo.learner import PPOConfig
from episodic_curiosity.ppo.learner import PPOLearner
from episodic_curiosity.ppo.losses import approx_kl
from episodic_curiosity.ppo.losses import clip_fraction
from episodic_curiosity.ppo.losses import normalize_advantages
from episodic_curiosity.ppo.losses import policy_loss
from episodic_curiosity.ppo.losses import value_loss
from episodic_curiosity.ppo.policies import ActorCritic
from episodic_curiosity.ppo.policies import ARCHITECTURES
from episodic_curiosity.ppo.policies import COMPUTE_DTYPES
from episodic_curiosity.ppo.runner import check_step_data
from episodic_curiosity.ppo.runner import NonFiniteError
from episodic_curiosity.ppo.runner import Runner
from episodic_curiosity.ppo.runner import swap_and_flatten

__all__ = [
    "ARCHITECTURES",
    "COMPUTE_DTYPES",
    "ActorCritic",
    "PPOConfig",
    "PPOLearner",
    "Runner",
    "annealing_fraction",
    "approx_kl",
    "clip_fraction",
    "compute_gae",
    "explained_variance",
    "NonFiniteError",
    "check_step_data",
    "minibatch_indices",
    "normalize_advantages",
    "num_updates",
    "policy_loss",
    "swap_and_flatten",
    "value_loss",
]
