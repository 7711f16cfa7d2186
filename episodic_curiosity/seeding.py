"""One seed per run, and the seeds every part of the run derives from it.

A run's seed (`--seed`; by default `seed_for_run(run_number)` = run number - 1, so run 1 keeps
the original's seeds) seeds:

  * the policy's initial weights, the PPO learner's minibatch shuffling and TensorFlow's
    global generators (`seed` itself, as `train_policy(seed=...)` always did);
  * the policy env seed streams: env i of a policy split is seeded `env_base_seed(seed) + i`
    with the split's mixer seed (DeepMind Lab), or `mix(env_base_seed(seed), split) + i`
    (the other simulators: the mixed base, then + i); seed 0 gives the original's 123 + i;
  * the R-network data tasks: task t is seeded `env_base_seed(seed) + t` with the mixer seed
    (DeepMind Lab), or `mix(env_base_seed(seed) + t, split)` (the others: + t, then mixed)
    (`generate_r_training_data(base_seed=...)`). `split_env_seeds` gives both rules;
  * the R-network's initial weights and its input shuffling (`train_r(seed=...)`);
  * the episodic memories' random replacement, ECO's pair sampling and the ICM's weights.

Splits (one rule for every simulator family). Each use of an environment has its own mixer
seed, so that no two uses replay the same episodes:

  | use                              | split name        |
  | -------------------------------- | ----------------- |
  | R-network training data          | `R_TRAINING`      |
  | R-network held-out data          | `R_VALIDATION`    |
  | policy training envs             | `POLICY_TRAINING` |
  | policy validation envs           | `VALIDATION`      |
  | policy test envs                 | `TEST`            |

DeepMind Lab takes the split's mixer seed as its `mixerSeed` setting (the env seed stays
`base + i`); the other simulators have no such setting, so the mixer seed is XORed into the env
seed. (The original used the DeepMind Lab VALIDATION mixer for both the R-network's second
data split and the policy's validation envs; here they are kept apart.)
"""

from __future__ import annotations

from episodic_curiosity.environments import dmlab as _dmlab_constants
from episodic_curiosity.environments import vector as _vector

# Env seeds of one run are base + i for i below this; runs' seed ranges never overlap.
SEEDS_PER_RUN = 10_000
MAX_SEED = 100_000  # keeps every derived env seed far below the mixer seeds' high bits

# Policy splits -> mixer-seed split names (`SPLIT_MIXER_SEEDS`).
POLICY_SPLITS = {"train": "POLICY_TRAINING", "valid": "VALIDATION", "test": "TEST"}
# The launcher's two R-network data splits.
R_NETWORK_DATA_SPLITS = ("R_TRAINING", "R_VALIDATION")


def seed_for_run(run_number: int) -> int:
    """The default seed of a run number (run 1 -> 0, the original's seeds)."""
    if run_number < 1:
        raise ValueError(f"run_number must be >= 1, got {run_number}")
    return int(run_number) - 1


def check_seed(seed: int) -> int:
    """`seed` as an int, or a ValueError naming the valid range."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < MAX_SEED:
        raise ValueError(f"seed must be an int in [0, {MAX_SEED}), got {seed!r}")
    return seed


def env_base_seed(seed: int) -> int:
    """Seed of env 0 (and of data task 0) of a run, before the split's mixer."""
    return _vector.DEFAULT_BASE_SEED + check_seed(seed) * SEEDS_PER_RUN


def mixer_seed(split_name: str) -> int:
    """The mixer seed of a split name (`SPLIT_MIXER_SEEDS` key)."""
    try:
        return _dmlab_constants.SPLIT_MIXER_SEEDS[split_name]
    except KeyError:
        raise ValueError(
            f"unknown split {split_name!r}; valid: {', '.join(_dmlab_constants.SPLIT_MIXER_SEEDS)}"
        ) from None


def policy_split_name(split: str) -> str:
    """'train' / 'valid' / 'test' -> the split name of its mixer seed."""
    if split not in POLICY_SPLITS:
        raise ValueError(f"split must be 'train', 'valid' or 'test', got {split!r}")
    return POLICY_SPLITS[split]


def mix(seed: int, split_name: str) -> int:
    """An env seed of a non-DMLab simulator: `seed` XOR the split's mixer seed."""
    return int(seed) ^ mixer_seed(split_name)


def split_env_seeds(family: str, split_name: str, seed: int, count: int) -> list[tuple[int, int | None]]:
    """(env seed, DMLab mixer seed or None) of the first `count` envs (policy splits) or data
    tasks (R-network splits) of a split: the pairs that decide which episodes a split plays.
    Outside DeepMind Lab the two uses combine base, index and mixer in another order (module
    docstring): a policy env adds its index to the mixed base, a data task mixes base + index."""
    base = env_base_seed(seed)
    if family == "dmlab":
        return [(base + i, mixer_seed(split_name)) for i in range(count)]
    if split_name in R_NETWORK_DATA_SPLITS:
        return [(mix(base + i, split_name), None) for i in range(count)]
    return [(mix(base, split_name) + i, None) for i in range(count)]
