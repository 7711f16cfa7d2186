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

Stopping (`process_control`): each worker runs `process_control.die_with_parent` before it
builds its env, so it ignores Ctrl-C (the parent closes it) and exits, closing its env, when
the process that built the vector env is gone, even after a kill -9 of that process. Closing
the vector env while the process is stopping (a stop signal, or an exception such as
KeyboardInterrupt on its way out) terminates the workers instead of waiting on them.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import sys
import types
from typing import Any

import gymnasium as gym
from gymnasium.vector import AutoresetMode

from episodic_curiosity import process_control
from episodic_curiosity.environments import registry

DEFAULT_BASE_SEED = 123
AUTORESET_MODE = AutoresetMode.SAME_STEP


def require_same_step_autoreset(env: gym.vector.VectorEnv, user: str) -> None:
    """Raises ValueError if `env` declares an auto-reset mode other than SAME_STEP.

    With Gymnasium's default (NEXT_STEP) the step after an ending step returns the reset
    observation for an ignored action, so a bonus would score that observation against the
    ended episode's memory and the memory would restart one step late. Envs that declare no
    mode (wrappers of other libraries) are taken as SAME_STEP.
    """
    mode = env.metadata.get("autoreset_mode")
    if mode is not None and mode != AUTORESET_MODE:
        raise ValueError(
            f"{user} needs a vector env with SAME_STEP auto-reset, got {mode}; build it with "
            f"autoreset_mode=gymnasium.vector.AutoresetMode.SAME_STEP "
            f"(episodic_curiosity.environments.make_vector_env does)"
        )


def _make_env_in_worker(parent: process_control.ProcessIdentity, scenario: str, **kwargs) -> gym.Env:
    """An env worker's constructor: ties the worker to `parent`, then builds the env.

    AsyncVectorEnv also calls it once in the parent itself (a throw-away env for the spaces);
    there it only builds the env.
    """
    if os.getpid() != parent.pid:
        process_control.die_with_parent(parent)
    return registry.make_env(scenario, **kwargs)


class _AsyncVectorEnv(gym.vector.AsyncVectorEnv):
    """AsyncVectorEnv that terminates its workers when closed while the process is stopping."""

    def close_extras(self, timeout: float | None = None, terminate: bool = False) -> None:
        super().close_extras(timeout=timeout, terminate=terminate or process_control.stopping())


@contextlib.contextmanager
def workers_skip_main_module():
    """Starts worker processes without re-importing the caller's `__main__` in each.

    forkserver and spawn children normally import the parent's main module (as
    `__mp_main__`): for `python -m episodic_curiosity.train_policy` that is TensorFlow, ~3 s
    and ~0.5 GB per env worker that never use it. The workers only need the pickled env
    constructors (`registry.make_env`), so the main module is hidden while they start.
    """
    main_module = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main_module


def make_vector_env(
    scenario: str,
    num_envs: int,
    base_seed: int = DEFAULT_BASE_SEED,
    asynchronous: bool = True,
    context: str = "forkserver",
    env_kwargs: dict[str, Any] | None = None,
) -> gym.vector.VectorEnv:
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
        parent = process_control.ProcessIdentity.of()
        env_fns = [functools.partial(_make_env_in_worker, parent, *fn.args, **fn.keywords) for fn in env_fns]
        if context == "forkserver":
            # The fork server preloads the registry and this module (cheap: the workers'
            # constructors) instead of the caller's __main__.
            multiprocessing.get_context("forkserver").set_forkserver_preload([registry.__name__, __name__])
        with workers_skip_main_module():
            return _AsyncVectorEnv(env_fns, context=context, autoreset_mode=AUTORESET_MODE)
    return gym.vector.SyncVectorEnv(env_fns, autoreset_mode=AUTORESET_MODE)
