r"""End-to-end training throughput: PPO and PPO+EC (fixed R-network) with the paper's sizes.

For each method: 12 subprocess envs of `--scenario` (default `vizdoom_sparse`), PPO with
nsteps 256, 4 minibatches, 4 epochs, the CNN policy on 84x84x3 frames, and for `ppo_plus_ec`
the paper-size R-network (ResNet-18 at 120x160, 512-d embeddings, comparator 4 x 512) with
episodic memories of 200 entries. One untimed update warms up (traces, worker start), then
`--updates` updates (rollout + PPO update) are timed. Prints one JSON line per method:

  * `env_steps_per_s`: agent steps (all envs) per second over whole updates;
  * `seconds_per_update`: the time split per update: `env` (waiting for the vector env's
    step), `policy_inference` (`ActorCritic.step` / `value`), `curiosity_embedding`
    (R-network embedding calls), `memory_comparison` (comparator keys + comparator calls),
    `ppo_update` (`PPOLearner.train`), `other` (the rest: memory bookkeeping, frame
    resizing, GAE, Python). With the background bonus (default) the R-network's calls run on
    the wrapper's worker thread while the envs step: they are reported apart in
    `background_seconds_per_update`, and `curiosity_wait` is the time the learner waited for
    them at the end of the rollout;
  * `curiosity_ms_per_vector_step`: R-network embedding + comparison time per vector step
    (busy time, whether or not it overlapped with the rest);
  * `peak_rss_mb`: peak resident memory of this process and the sum over the env workers;
  * `memory_size_mean`: mean memory fill over the timed steps.

`--memory=full` (default) adds every observation to memory (similarity threshold above 1),
so memories are at capacity for most of each episode: the worst case the paper's settings
allow. `--memory=natural` keeps the paper's threshold of 0.5, whose fill depends on the
R-network's weights (`--r_checkpoint`; a random init by default).

    python benchmarks/end_to_end.py [--methods ppo,ppo_plus_ec] [--updates 2] \
        [--inference_dtype float32] [--scenario vizdoom_sparse]

The load average before each measurement is printed: above ~0.5 the machine was busy and
the figures are pessimistic.
"""

from __future__ import annotations

import collections
import json
import os
import resource
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from episodic_curiosity import curiosity_env_wrapper
from episodic_curiosity import environments
from episodic_curiosity import ppo
from episodic_curiosity import r_network

_METHODS = flags.DEFINE_list("methods", ["ppo", "ppo_plus_ec"], "Methods to measure.")
_SCENARIO = flags.DEFINE_string("scenario", "vizdoom_sparse", "Scenario (a DMLab one needs deepmind_lab).")
_NUM_ENVS = flags.DEFINE_integer("num_envs", 12, "Parallel envs.")
_NSTEPS = flags.DEFINE_integer("nsteps", 256, "Steps per env per rollout (paper: 256).")
_UPDATES = flags.DEFINE_integer("updates", 2, "Timed updates after one untimed.")
_INFERENCE_DTYPE = flags.DEFINE_enum("inference_dtype", "float32", ["float32", "bfloat16", "auto"],
                                     "R-network inference precision ('float32': train_policy's "
                                     "default; 'auto': bf16 where the hardware has it).")
_R_CHECKPOINT = flags.DEFINE_string("r_checkpoint", None, "R-network weights (default: random init).")
_MEMORY = flags.DEFINE_enum("memory", "full", ["full", "natural"], "Memory fill policy (see above).")
_ASYNCHRONOUS = flags.DEFINE_bool("asynchronous", True, "Subprocess envs (False: in-process).")
_DEFERRED = flags.DEFINE_bool("deferred_bonus", True, "Batch the bonus per rollout (train_policy's default).")
_BACKGROUND = flags.DEFINE_bool("background_bonus", True,
                                "Deferred bonus computed in a background thread while the envs step "
                                "(train_policy.background_curiosity_bonus's default).")


class _Clock:
    """Accumulates wall seconds per bucket for functions it wraps."""

    def __init__(self):
        self.seconds = collections.defaultdict(float)

    def wrap(self, function, bucket: str):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[bucket] += time.perf_counter() - start
        return timed


def _vm_hwm_mb(pid: int) -> float:
    """Peak resident set of a live process (Linux /proc), in MB; 0 if unreadable."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _record(**fields) -> None:
    fields["load_average_1min"] = round(os.getloadavg()[0], 2)
    fields["cpu_count"] = os.cpu_count()
    print(json.dumps(fields), flush=True)


def measure(method: str) -> dict:
    clock = _Clock()
    config = ppo.PPOConfig(nsteps=_NSTEPS.value, nminibatches=4, noptepochs=4)
    vec = environments.make_vector_env(_SCENARIO.value, _NUM_ENVS.value, asynchronous=_ASYNCHRONOUS.value)
    vec.step = clock.wrap(vec.step, "env")
    r_net = None
    # With the background bonus the R-network runs on the wrapper's worker thread, overlapping
    # the other buckets: its seconds are counted apart, and the main thread's share is the time
    # `rollout_rewards` waits for it (`curiosity_wait`).
    background = method == "ppo_plus_ec" and _DEFERRED.value and _BACKGROUND.value
    r_clock = _Clock() if background else clock
    if method == "ppo_plus_ec":
        r_net = r_network.RNetwork(weights_path=_R_CHECKPOINT.value, inference_dtype=_INFERENCE_DTYPE.value)
        r_net.embed = r_clock.wrap(r_net.embed, "curiosity_embedding")
        for name in ("similarity", "query_keys", "memory_keys", "similarity_from_keys", "memory_similarities"):
            setattr(r_net, name, r_clock.wrap(getattr(r_net, name), "memory_comparison"))
        env = curiosity_env_wrapper.CuriosityEnvWrapper(
            vec, r_net, exploration_reward="episodic_curiosity", scale_surrogate_reward=0.03,
            similarity_threshold=1.01 if _MEMORY.value == "full" else 0.5, deferred_bonus=_DEFERRED.value,
            background_bonus=_BACKGROUND.value)
        if background:
            env.rollout_rewards = clock.wrap(env.rollout_rewards, "curiosity_wait")
    elif method == "ppo":
        env = curiosity_env_wrapper.CuriosityEnvWrapper(vec, exploration_reward="none")
    else:
        raise app.UsageError(f"unknown method {method!r}; valid: ppo, ppo_plus_ec")
    try:
        policy = ppo.ActorCritic("cnn", env.single_observation_space, env.single_action_space)
        policy.step = clock.wrap(policy.step, "policy_inference")
        policy.value = clock.wrap(policy.value, "policy_inference")
        learner = ppo.PPOLearner(policy, config)
        train = clock.wrap(learner.train, "ppo_update")
        runner = ppo.Runner(env, policy, config.nsteps, config.gamma, config.lam)
        runner.reset()
        train(runner.run()[0], 1.0)  # warm-up
        clock.seconds.clear()
        r_clock.seconds.clear()
        memory_sizes = []
        load_before = round(os.getloadavg()[0], 2)
        start = time.perf_counter()
        for _ in range(_UPDATES.value):
            batch, _ = runner.run()
            train(batch, 1.0)
            if env.memory is not None:
                memory_sizes.append(float(env.memory.sizes.mean()))
        total = time.perf_counter() - start
        steps = _UPDATES.value * _NUM_ENVS.value * config.nsteps
        per_update = {k: round(v / _UPDATES.value, 3) for k, v in sorted(clock.seconds.items())}
        per_update["other"] = round((total - sum(clock.seconds.values())) / _UPDATES.value, 3)
        workers = [p.pid for p in getattr(vec, "processes", [])]
        result = {
            "benchmark": "end_to_end", "method": method, "scenario": _SCENARIO.value,
            "num_envs": _NUM_ENVS.value, "nsteps": config.nsteps, "updates_timed": _UPDATES.value,
            "env_steps_per_s": round(steps / total, 1),
            "ms_per_vector_step": round(total / (_UPDATES.value * config.nsteps) * 1e3, 2),
            "seconds_per_update": per_update,
            "peak_rss_mb": {"main": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                            "env_workers_sum": round(sum(_vm_hwm_mb(pid) for pid in workers), 1)},
            "load_average_before": load_before,
        }
        if r_net is not None:
            curiosity = r_clock.seconds["curiosity_embedding"] + r_clock.seconds["memory_comparison"]
            if background:
                result["background_seconds_per_update"] = {
                    k: round(v / _UPDATES.value, 3) for k, v in sorted(r_clock.seconds.items())}
            result.update(curiosity_ms_per_vector_step=round(curiosity / (_UPDATES.value * config.nsteps) * 1e3, 2),
                          deferred_bonus=_DEFERRED.value, background_bonus=background,
                          inference_dtype=r_net.inference_dtype, memory=_MEMORY.value,
                          memory_size_mean=round(float(np.mean(memory_sizes)), 1),
                          intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads())
        return result
    finally:
        env.close()


def main(argv):
    del argv
    family = environments.get_scenario(_SCENARIO.value).family
    if family == "dmlab":
        try:
            import deepmind_lab  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
        except ImportError:
            _record(benchmark="end_to_end", scenario=_SCENARIO.value, skipped="deepmind_lab is not importable")
            return
    results = {}
    for method in _METHODS.value:
        results[method] = measure(method)
        _record(**results[method])
    if "ppo" in results and "ppo_plus_ec" in results:
        _record(benchmark="end_to_end", measurement="ratio", scenario=_SCENARIO.value,
                ppo_plus_ec_over_ppo=round(results["ppo_plus_ec"]["env_steps_per_s"]
                                           / results["ppo"]["env_steps_per_s"], 3))


if __name__ == "__main__":
    app.run(main)
