"""Generalised advantage estimation with PPO2's "done-before-step" flags (the original code).

`dones[t, i]` is 1 when observation t of env i is the first of a new episode, i.e. the step
t - 1 ended an episode. So the value of observation t + 1 is used (and the advantage chain
continues) only when `dones[t + 1] == 0`; after the rollout, `last_values` / `last_dones`
play the part of row T. A truncated episode is treated like a terminated one (no bootstrap
from the next episode's first value), as PPO2 did.
"""

from __future__ import annotations

import numpy as np


def compute_gae(
    rewards, values, dones, last_values, last_dones, gamma: float, lam: float
) -> tuple[np.ndarray, np.ndarray]:
    """Advantages and returns of a rollout.

    delta_t = r_t + gamma * V_{t+1} * (1 - done_{t+1}) - V_t
    A_t = delta_t + gamma * lam * (1 - done_{t+1}) * A_{t+1}
    returns = A + V, with V_T = last_values and done_T = last_dones.

    Args:
      rewards: array [T, N], reward of step t.
      values: array [T, N], V(observation t).
      dones: array [T, N], 1 if observation t starts a new episode.
      last_values: array [N], V(observation after the rollout).
      last_dones: array [N], 1 if that observation starts a new episode.
      gamma: float, discount.
      lam: float, GAE lambda.
    Returns: (advantages [T, N] float32, returns [T, N] float32).
    """
    rewards = np.asarray(rewards, np.float64)
    values = np.asarray(values, np.float64)
    dones = np.asarray(dones, np.float64)
    last_values = np.asarray(last_values, np.float64)
    last_dones = np.asarray(last_dones, np.float64)
    if rewards.ndim != 2 or values.shape != rewards.shape or dones.shape != rewards.shape:
        raise ValueError(
            f"rewards, values and dones must share one [T, N] shape, got {rewards.shape}, {values.shape}, {dones.shape}"
        )
    num_envs = rewards.shape[1]
    if last_values.shape != (num_envs,) or last_dones.shape != (num_envs,):
        raise ValueError(
            f"last_values and last_dones must have shape [{num_envs}], got {last_values.shape}, {last_dones.shape}"
        )
    # Row t + 1 of these is what step t bootstraps from.
    next_values = np.concatenate([values[1:], last_values[None]], axis=0)
    next_nonterminal = 1.0 - np.concatenate([dones[1:], last_dones[None]], axis=0)
    deltas = rewards + gamma * next_values * next_nonterminal - values
    advantages = np.zeros_like(rewards)
    running = np.zeros(num_envs)
    for t in reversed(range(rewards.shape[0])):
        running = deltas[t] + gamma * lam * next_nonterminal[t] * running
        advantages[t] = running
    return advantages.astype(np.float32), (advantages + values).astype(np.float32)
