"""Vectorized environments (Gymnasium's vector API) with the project's auto-reset rule.

Auto-reset rule, used by the curiosity wrapper, the ECO history and the R-net data generator:

  **SAME_STEP.** When env i ends an episode (terminated or truncated) in a `step()`, that same
  call has already reset it: `obs[i]` is the *first observation of the next episode*, the
  ended episode's last observation is `info['final_obs'][i]` and its last info
  `info['final_info']` (a vector info dict, masked by `info['final_info']['_<key>']`).
  `reward[i]`, `terminated[i]` and `truncated[i]` still belong to the ended episode.

This is what the original's baselines vector envs did (reset inside the ending step), and
Gymnasium >= 1.1 provides it as `AutoresetMode.SAME_STEP`. Gymnasium's default (NEXT_STEP)
would instead return the reset observation one call later, with an ignored action.

Seeds: env i is seeded `base_seed + i` (base 123, as the original) on its first reset.
Subprocess workers are started with `forkserver` (never `fork`: forking a process that has
initialised TensorFlow can hang).
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym
from gymnasium.vector import AutoresetMode

from episodic_curiosity.environments import registry

DEFAULT_BASE_SEED = 123
AUTORESET_MODE = AutoresetMode.SAME_STEP


def make_vector_env(scenario: str,
                    num_envs: int,
                    base_seed: int = DEFAULT_BASE_SEED,
                    asynchronous: bool = True,
                    context: str = "forkserver",
                    env_kwargs: dict[str, Any] | None = None) -> gym.vector.VectorEnv:
    """Builds `num_envs` envs of `scenario` behind Gymnasium's vector API.

    Args:
      scenario: str, a registered scenario name.
      num_envs: int, number of parallel envs.
      base_seed: int, env i is seeded `base_seed + i`.
      asynchronous: bool, one subprocess per env (AsyncVectorEnv) if True, else all envs
        in this process (SyncVectorEnv; for tests and tiny envs).
      context: str, multiprocessing start method for asynchronous workers.
      env_kwargs: dict or None, overrides of the scenario's constructor arguments.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    spec = registry.get_scenario(scenario)
    spec.constructor()  # Fails here, in the parent, on unavailable scenarios or missing packages.
    env_fns = [
        functools.partial(registry.make_env, scenario, seed=base_seed + i, **(env_kwargs or {}))
        for i in range(num_envs)
    ]
    if asynchronous:
        return gym.vector.AsyncVectorEnv(env_fns, context=context, autoreset_mode=AUTORESET_MODE)
    return gym.vector.SyncVectorEnv(env_fns, autoreset_mode=AUTORESET_MODE)
