r"""PPO update throughput: the learner's minibatch loop on random data, CNN and MLP policies.

Prints one JSON line per measurement:

  * `ppo_update`: one PPO update (noptepochs epochs over a batch of num_envs x nsteps samples
    in nminibatches minibatches; defaults 4 x 3,072 in minibatches of 768, as the original).
    `samples_per_s` counts samples through gradient steps (batch x epochs per second);
    `agent_steps_per_s` is the rollout rate the learner alone could keep up with (batch per
    second); `gflops_per_s` estimates the arithmetic rate (a training step = 3 x forward).
  * `policy_step`: milliseconds per `ActorCritic.step` at batch num_envs (one rollout step).

The CNN sees uint8 84x84x3 frames with 4 actions (VizDoom), the MLP 27-d float observations
with 8-d Gaussian actions (Ant).

End-to-end training throughput (envs + rollouts + updates, PPO and PPO+EC) is measured by
`benchmarks/end_to_end.py`.

    python benchmarks/ppo.py [--updates 2] [--architectures cnn,mlp]
"""

from __future__ import annotations

import json
import os
import time

from absl import app
from absl import flags
import gymnasium as gym
import keras
import numpy as np

from episodic_curiosity import ppo

_UPDATES = flags.DEFINE_integer("updates", 2, "Timed updates per architecture (after one untimed).")
_ARCHITECTURES = flags.DEFINE_list("architectures", ["cnn", "mlp"], "Policies to measure.")
_NUM_ENVS = flags.DEFINE_integer("num_envs", 12, "Envs per rollout (batch = num_envs x nsteps).")
_NSTEPS = flags.DEFINE_integer("nsteps", 256, "Steps per env per rollout.")
_NMINIBATCHES = flags.DEFINE_integer("nminibatches", 4, "Minibatches per epoch.")
_NOPTEPOCHS = flags.DEFINE_integer("noptepochs", 4, "Epochs per update.")
_STEP_REPEATS = flags.DEFINE_integer("step_repeats", 50, "Timed policy.step calls.")

_SPACES = {
    "cnn": (gym.spaces.Box(0, 255, (84, 84, 3), np.uint8), gym.spaces.Discrete(4)),
    "mlp": (gym.spaces.Box(-np.inf, np.inf, (27,), np.float64), gym.spaces.Box(-1, 1, (8,), np.float32)),
}


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _emit(record: dict) -> None:
    record["load_average_1min"] = _load()  # well above 0 before a run: the machine was busy
    record["cpu_count"] = os.cpu_count()
    print(json.dumps(record), flush=True)


def forward_flops(models: list[keras.Model]) -> float:
    """FLOPs (2 x multiply-adds) of one forward pass for a single example, conv and dense only."""
    total = 0.0
    for model in models:
        for layer in model.layers:
            if isinstance(layer, keras.layers.Conv2D):
                _, height, width, filters = layer.output.shape
                kernel_h, kernel_w = layer.kernel_size
                total += 2.0 * height * width * filters * kernel_h * kernel_w * layer.input.shape[-1]
            elif isinstance(layer, keras.layers.Dense):
                total += 2.0 * layer.input.shape[-1] * layer.units
    return total


def _models(policy: ppo.ActorCritic) -> list[keras.Model]:
    return [policy.model] if policy.architecture == "cnn" else [policy.policy_model, policy.value_model]


def _random_observations(space: gym.spaces.Box, size: int, rng: np.random.Generator) -> np.ndarray:
    if space.dtype == np.uint8:
        return rng.integers(0, 256, (size, *space.shape), dtype=np.uint8)
    return rng.normal(size=(size, *space.shape)).astype(space.dtype)


def measure(architecture: str) -> None:
    observation_space, action_space = _SPACES[architecture]
    config = ppo.PPOConfig(nsteps=_NSTEPS.value, nminibatches=_NMINIBATCHES.value, noptepochs=_NOPTEPOCHS.value)
    config.validate(num_envs=_NUM_ENVS.value)
    batch_size = _NUM_ENVS.value * config.nsteps
    rng = np.random.default_rng(0)
    policy = ppo.ActorCritic(architecture, observation_space, action_space, seed=0)
    learner = ppo.PPOLearner(policy, config, seed=0)

    step_observations = _random_observations(observation_space, _NUM_ENVS.value, rng)
    policy.step(step_observations)  # trace
    start = time.perf_counter()
    for _ in range(_STEP_REPEATS.value):
        policy.step(step_observations)
    step_seconds = (time.perf_counter() - start) / _STEP_REPEATS.value
    _emit(
        {
            "benchmark": "ppo",
            "measurement": "policy_step",
            "architecture": architecture,
            "batch": _NUM_ENVS.value,
            "ms_per_step": round(step_seconds * 1e3, 3),
        }
    )

    observations = _random_observations(observation_space, batch_size, rng)
    actions, values, neglogps = policy.step(observations)
    batch = {
        "observations": observations,
        "actions": actions,
        "values": values,
        "neglogps": neglogps,
        "returns": values + rng.normal(size=batch_size).astype(np.float32),
    }
    learner.train(batch, frac=1.0)  # trace + first Adam steps
    start = time.perf_counter()
    for update in range(1, _UPDATES.value + 1):
        learner.train(batch, frac=ppo.annealing_fraction(update, _UPDATES.value))
    seconds = (time.perf_counter() - start) / _UPDATES.value
    samples = batch_size * config.noptepochs
    flops = 3.0 * forward_flops(_models(policy)) * samples
    _emit(
        {
            "benchmark": "ppo",
            "measurement": "ppo_update",
            "architecture": architecture,
            "batch": batch_size,
            "minibatch": batch_size // config.nminibatches,
            "epochs": config.noptepochs,
            "updates_timed": _UPDATES.value,
            "seconds_per_update": round(seconds, 3),
            "samples_per_s": round(samples / seconds, 1),
            "agent_steps_per_s": round(batch_size / seconds, 1),
            "gflops_per_s": round(flops / seconds / 1e9, 2),
        }
    )


def main(argv):
    del argv
    for architecture in _ARCHITECTURES.value:
        if architecture not in _SPACES:
            raise app.UsageError(f"unknown architecture {architecture!r}; valid: {', '.join(_SPACES)}")
    for architecture in _ARCHITECTURES.value:
        measure(architecture)


if __name__ == "__main__":
    app.run(main)
