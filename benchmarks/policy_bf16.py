r"""bf16 vs fp32 policy (the opt-in `policy_compute_dtype`): output error on a trained policy's
own frames, and the speed of inference and of one PPO update.

The fp32 policy of `--checkpoint` (default: the shipped `pretrained:vizdoom_sparse_ppo_plus_ec`)
plays `--vector_steps` steps of `--num_env` envs of `--scenario` on the validation seeds
(sampled actions); the same weights loaded with `compute_dtype='bfloat16'` then score every
frame it saw. Reported (one JSON line each):

  * `fidelity`: over the frames, the largest and mean |p_bf16 - p_fp32| of an action's
    probability, the mean and max KL(p_fp32 || p_bf16), the fraction of frames whose most
    likely action differs, and |v_bf16 - v_fp32| (max, mean) next to the fp32 values' spread;
  * `speed`, per precision: milliseconds per `ActorCritic.step` at batch `--num_env` (one
    rollout step) and seconds per PPO update (`PPOConfig` from `--nsteps`, 4 minibatches,
    4 epochs: the laptop scale's) on `--num_env` x `--nsteps` of those frames. The load
    average before timing is printed: above ~0.5 the machine was busy and the figures are
    pessimistic.

    python benchmarks/policy_bf16.py [--checkpoint=pretrained:vizdoom_sparse_ppo_plus_ec] \
        [--vector_steps=256] [--updates=3]
"""

from __future__ import annotations

import json
import os
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from episodic_curiosity import checkpoint_io
from episodic_curiosity import ppo
from episodic_curiosity import pretrained
from episodic_curiosity import train_policy

_CHECKPOINT = flags.DEFINE_string("checkpoint", "pretrained:vizdoom_sparse_ppo_plus_ec", "Policy weights.")
_SCENARIO = flags.DEFINE_string("scenario", "vizdoom_sparse", "Scenario of the frames.")
_NUM_ENV = flags.DEFINE_integer("num_env", 12, "Envs (the batch of one inference step).")
_VECTOR_STEPS = flags.DEFINE_integer("vector_steps", 256, "Vector steps of frames to compare on.")
_NSTEPS = flags.DEFINE_integer("nsteps", 128, "PPOConfig.nsteps of the timed update (laptop: 128).")
_UPDATES = flags.DEFINE_integer("updates", 3, "Timed PPO updates per precision (after one untimed).")
_STEP_REPEATS = flags.DEFINE_integer("step_repeats", 100, "Timed inference steps per precision.")
_ASYNCHRONOUS = flags.DEFINE_bool("asynchronous", True, "Subprocess envs (False: in-process).")
_ENV_KWARGS = flags.DEFINE_string("env_kwargs", None, "Scenario constructor overrides (a JSON object; tests).")


def _emit(record: dict) -> None:
    record["load_average_1min"] = round(os.getloadavg()[0], 2)
    print(json.dumps(record), flush=True)


def collect_frames(policy: ppo.ActorCritic, env, vector_steps: int) -> np.ndarray:
    """The observations `policy` sees while it plays `vector_steps` steps of `env` (all envs)."""
    observations, _ = env.reset()
    frames = []
    for _ in range(vector_steps):
        frames.append(observations)
        actions, _, _ = policy.step(observations)
        observations, _, _, _, _ = env.step(actions)
    return np.concatenate(frames)


def outputs(policy: ppo.ActorCritic, frames: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(action probabilities [N, A], values [N]) as float64."""
    probabilities, values = [], []
    for start in range(0, len(frames), batch):
        logits, value = policy.model(frames[start : start + batch])
        probabilities.append(tf.nn.softmax(logits).numpy().astype(np.float64))
        values.append(value.numpy()[:, 0].astype(np.float64))
    return np.concatenate(probabilities), np.concatenate(values)


def fidelity(exact: ppo.ActorCritic, low: ppo.ActorCritic, frames: np.ndarray) -> dict:
    p_exact, v_exact = outputs(exact, frames)
    p_low, v_low = outputs(low, frames)
    kl = np.sum(p_exact * (np.log(np.maximum(p_exact, 1e-12)) - np.log(np.maximum(p_low, 1e-12))), axis=-1)
    probability_error = np.abs(p_low - p_exact)
    value_error = np.abs(v_low - v_exact)
    return {
        "frames": len(frames),
        "action_probability_abs_diff": {"max": float(probability_error.max()), "mean": float(probability_error.mean())},
        "kl_fp32_bf16": {"max": float(kl.max()), "mean": float(kl.mean())},
        "most_likely_action_differs": float(np.mean(p_low.argmax(-1) != p_exact.argmax(-1))),
        "value_abs_diff": {"max": float(value_error.max()), "mean": float(value_error.mean())},
        "fp32_value_std": float(v_exact.std()),
        "fp32_policy_entropy_mean": float(np.mean(-np.sum(p_exact * np.log(np.maximum(p_exact, 1e-12)), -1))),
    }


def speed(policy: ppo.ActorCritic, frames: np.ndarray, num_env: int, nsteps: int) -> dict:
    step_batch = frames[:num_env]
    policy.step(step_batch)  # trace
    start = time.perf_counter()
    for _ in range(_STEP_REPEATS.value):
        policy.step(step_batch)
    step_ms = (time.perf_counter() - start) / _STEP_REPEATS.value * 1e3
    config = ppo.PPOConfig(nsteps=nsteps)
    size = num_env * nsteps
    observations = np.resize(frames, (size, *frames.shape[1:]))
    actions, values, neglogps = policy.step(observations)
    rng = np.random.default_rng(0)
    batch = {
        "observations": observations,
        "actions": actions,
        "values": values,
        "neglogps": neglogps,
        "returns": values + 0.1 * rng.normal(size=size).astype(np.float32),
    }
    learner = ppo.PPOLearner(policy, config, seed=0)
    learner.train(batch, frac=1.0)  # trace
    start = time.perf_counter()
    for _ in range(_UPDATES.value):
        learner.train(batch, frac=1.0)
    return {
        "compute_dtype": policy.compute_dtype,
        "step_ms_at_batch": round(step_ms, 3),
        "step_batch": num_env,
        "ppo_update_s": round((time.perf_counter() - start) / _UPDATES.value, 3),
        "ppo_update_batch": size,
        "minibatches": config.nminibatches,
        "epochs": config.noptepochs,
    }


def main(argv) -> None:
    del argv
    checkpoint = pretrained.resolve(_CHECKPOINT.value)
    env = train_policy.make_policy_envs(
        _SCENARIO.value,
        _NUM_ENV.value,
        "valid",
        asynchronous=_ASYNCHRONOUS.value,
        env_kwargs=json.loads(_ENV_KWARGS.value) if _ENV_KWARGS.value else None,
        scale_task_reward=1.0,
        **checkpoint_io.policy_input_settings(checkpoint),
    )
    try:
        space, actions = env.single_observation_space, env.single_action_space
        exact = train_policy.load_policy(checkpoint, space, actions)
        frames = collect_frames(exact, env, _VECTOR_STEPS.value)
    finally:
        env.close()
    low = train_policy.load_policy(checkpoint, space, actions, compute_dtype="bfloat16")
    _emit(
        {
            "benchmark": "policy_bf16",
            "measurement": "fidelity",
            "checkpoint": _CHECKPOINT.value,
            **fidelity(exact, low, frames),
        }
    )
    for policy in (exact, low):  # the update changes the weights: each policy is timed once
        _emit(
            {"benchmark": "policy_bf16", "measurement": "speed", **speed(policy, frames, _NUM_ENV.value, _NSTEPS.value)}
        )


if __name__ == "__main__":
    app.run(main)
