r"""End-to-end training throughput: env alone, PPO, PPO+EC (fixed R-network) and PPO+ECO, at a scale.

For each method: 12 subprocess envs of `--scenario` (default `vizdoom_sparse`) and

  * `--scale=paper` (default): PPO with nsteps 256, 4 minibatches, 4 epochs, the CNN policy on
    84x84x3 frames, and for `ppo_plus_ec` the paper-size R-network (ResNet-18 at 120x160,
    512-d embeddings, comparator 4 x 512) with episodic memories of 200 entries;
  * `--scale=laptop` (or `smoke`): every size from the launcher's gin files for that method,
    scenario and scale (`configs/scale_laptop.gin`: PPOConfig, the policy's input shape, the
    R-network's layers, the memory), plus `--gin_bindings`; the R-network is
    `--r_checkpoint`'s when given (its own architecture), else a random init of those layers.

`env_only` steps the same kind of vector env with uniformly random actions and no learner:
the simulator's ceiling on this machine, measured in the same process as the other methods.
One untimed update warms up (traces, worker start), then `--updates` updates (rollout + PPO
update) are timed. Prints one JSON line per method:

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
  * `peak_rss_mb`: peak resident memory of this process and the sum over the env workers
    with their child processes (VizDoom's engines);
  * `memory_size_mean`: mean memory fill at the end of each timed update;
  * `cpu_seconds_per_update`: processor time (user + system) per update of this process
    (all its threads: learner, TensorFlow's pools, the bonus worker) and of the env workers
    together (with their child processes: VizDoom's engine); `cpu_busy_fraction`: their sum
    over wall time x `cpu_count`. Near 1, every core was busy, so overlapping the parts
    cannot speed the run up, only doing less work can;
    `cpu_bound_env_steps_per_s` is the throughput that work would give with every core busy
    all the time (agent steps x `cpu_count` / processor seconds): the ceiling of this method
    at these sizes on this machine. `env_only` reports the same per `nsteps` vector steps.

`--memory=full` (default) adds every observation to memory (similarity threshold above 1),
so memories are at capacity for most of each episode: the worst case the paper's settings
allow. `--memory=natural` keeps the paper's threshold of 0.5, whose fill depends on the
R-network's weights (`--r_checkpoint`; a random init by default).

    python benchmarks/end_to_end.py [--scale laptop] [--methods env_only,ppo,ppo_plus_ec] \
        [--updates 2] [--inference_dtype float32] [--policy_compute_dtype float32] \
        [--scenario vizdoom_sparse]

`ppo_plus_eco` (opt-in: `--methods=...,ppo_plus_eco`) is PPO+EC with the online R-network
(`OnlineEpisodicCuriosity`, its frame history in a temporary folder): scoring and history
writes are timed; an online training falls into the timed updates only if the scale's
training interval is that short (laptop: every 5,000 vector steps, so none; the result says
`eco_trainings_timed`; at paper scale no gin is loaded, so the trainer keeps its class
defaults, which changes nothing timed). With `--nodeferred_bonus` it scores one vector step per R-network
call, as ECO did before its steps were scored in chunks.

Before each method (before its envs start) the record gets `machine_busy_before`: the share of
the cores' time spent busy over 2 s (/proc/stat, all processes: another job, or leftovers of
the previous method), where the load average, also printed, lags by minutes (it still reads ~3
right after a training run has ended).
`--wait_for_idle=0.1` first waits (up to `--idle_timeout_s`) until the machine is that idle,
for benchmarks scheduled to run after a training run; `waited_for_idle_s` and
`idle_wait_timed_out` say how it went.

With `env_only` and `ppo` measured, a last line gives `ppo_over_env_only` and
`ppo_plus_ec_over_ppo` (and `ppo_plus_eco_over_ppo`).

Each record says `machine_was_busy` (`machine_busy_before` above 0.1; the ratio line: any
method's) and logs a warning then, and names the processor (`cpu_model`). The load average
(`load_average_before`, read after the warm-up) includes this benchmark's own env workers and
lags by minutes: it is no busy signal. The probe is taken before each method only; a job that
starts during the timed updates is not seen.

What is timed is the training loop's rollout + update, as `train_policy`'s `fps` column;
evaluation, logging and checkpoints (~5-6 % of a laptop-scale `train_policy` run's time) are
not, and the timed steps end no episode (no env reset is timed).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import resource
import tempfile
import time

from absl import app
from absl import flags
from absl import logging
import gin
import numpy as np
import tensorflow as tf

from episodic_curiosity import cli
from episodic_curiosity import curiosity_env_wrapper
from episodic_curiosity import environments
from episodic_curiosity import intrinsic
from episodic_curiosity import launcher
from episodic_curiosity import ppo
from episodic_curiosity import process_control
from episodic_curiosity import provenance
from episodic_curiosity import r_network

_METHODS = flags.DEFINE_list("methods", ["env_only", "ppo", "ppo_plus_ec"], "Methods to measure (also: ppo_plus_eco).")
_SCALE = flags.DEFINE_enum(
    "scale",
    "paper",
    list(launcher.SCALES),
    "'paper': the fixed paper sizes above; other scales: the launcher's gin files.",
)
_GIN_BINDINGS = flags.DEFINE_multi_string("gin_bindings", [], "Extra gin bindings (non-paper scales).")
_SCENARIO = flags.DEFINE_string("scenario", "vizdoom_sparse", "Scenario (a DMLab one needs deepmind_lab).")
_NUM_ENVS = flags.DEFINE_integer("num_envs", 12, "Parallel envs.")
_NSTEPS = flags.DEFINE_integer(
    "nsteps",
    None,
    "Steps per env per rollout (default: 256 at paper scale, PPOConfig.nsteps from gin at other scales).",
)
_UPDATES = flags.DEFINE_integer("updates", 2, "Timed updates after one untimed.")
_INFERENCE_DTYPE = flags.DEFINE_enum(
    "inference_dtype",
    "float32",
    ["float32", "bfloat16", "auto"],
    "R-network inference precision ('float32': train_policy's default; 'auto': bf16 where the hardware has it).",
)
_POLICY_COMPUTE_DTYPE = flags.DEFINE_enum(
    "policy_compute_dtype",
    "float32",
    list(ppo.COMPUTE_DTYPES),
    "The policy's precision in inference and the PPO update ('float32': train_policy's default).",
)
_R_CHECKPOINT = flags.DEFINE_string("r_checkpoint", None, "R-network weights (default: random init).")
_MEMORY = flags.DEFINE_enum("memory", "full", ["full", "natural"], "Memory fill policy (see above).")
_ASYNCHRONOUS = flags.DEFINE_bool("asynchronous", True, "Subprocess envs (False: in-process).")
_WAIT_FOR_IDLE = flags.DEFINE_float(
    "wait_for_idle",
    -1.0,
    "Before each method, wait until the machine's cores are at most this busy (fraction, e.g. 0.1, over 2 s "
    "of /proc/stat), for up to --idle_timeout_s; -1: measure without waiting.",
)
_IDLE_TIMEOUT = flags.DEFINE_integer("idle_timeout_s", 600, "The longest --wait_for_idle waits before each method.")
_DEFERRED = flags.DEFINE_bool(
    "deferred_bonus",
    True,
    "Embed a rollout's frames in batches of 128 (what train_policy does); False: one embedding call per vector step.",
)
_BACKGROUND = flags.DEFINE_bool(
    "background_bonus",
    True,
    "Embed the rollout's chunks in a worker thread while the envs step "
    "(EpisodicCuriosity.background, on in the ppo_plus_ec .gin).",
)


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


def _process_tree(pids: list[int]) -> list[int]:
    """`pids` and all their live descendants (Linux /proc; a VizDoom worker runs its engine as
    a child process, which does most of the stepping)."""
    found, queue = [], list(pids)
    while queue:
        pid = queue.pop()
        found.append(pid)
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    queue.extend(int(child) for child in children.read().split())
            except OSError:
                continue
    return found


def _cpu_seconds(pids: list[int]) -> dict[str, float]:
    """User + system processor seconds so far: this process (all threads), and `pids` with
    their descendants summed (/proc/<pid>/stat fields 14-15, clock ticks; a process that
    has gone counts 0)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    ticks = os.sysconf("SC_CLK_TCK")
    workers = 0.0
    for pid in _process_tree(pids):
        fields = process_control.stat_fields(pid)  # from field 3 on
        if fields is not None:
            workers += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime: fields 14, 15
    return {"main": usage.ru_utime + usage.ru_stime, "env_workers": workers}


def _cpu_fields(before: dict, after: dict, wall: float, agent_steps: int, periods: float) -> dict:
    """The `cpu_*` fields of a result from two `_cpu_seconds` readings around a timed span.

    Args:
      before, after: `_cpu_seconds` readings.
      wall: float, wall seconds of the span.
      agent_steps: int, agent steps (all envs) in the span.
      periods: float, how many updates (or 128-vector-step blocks) the span holds.
    """
    used = {name: after[name] - before[name] for name in after}
    total = sum(used.values())
    cores = os.cpu_count() or 1
    return {
        "cpu_seconds_per_update": {name: round(value / periods, 3) for name, value in used.items()},
        "cpu_busy_fraction": round(total / (wall * cores), 3),
        "cpu_bound_env_steps_per_s": round(agent_steps * cores / total, 1) if total > 0 else None,
    }


def _cpu_jiffies(stat_path: str = "/proc/stat") -> tuple[float, float] | None:
    """(busy, total) processor time of all cores so far, from /proc/stat's first line (None
    where there is no such file): busy is everything but idle and I/O wait."""
    try:
        with open(stat_path) as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    if len(fields) < 5 or fields[0] != "cpu":
        return None
    values = [float(value) for value in fields[1:9]]  # user nice system idle iowait irq softirq steal
    total = sum(values)
    return total - values[3] - values[4], total


# Above this share of busy core time before a method, its record says `machine_was_busy`: true
# (another job was running, so its figures are pessimistic and not comparable).
BUSY_THRESHOLD = 0.1


def machine_busy_fraction(interval_s: float = 2.0, read=_cpu_jiffies, sleep=time.sleep) -> float | None:
    """The share of all cores' time spent busy over the next `interval_s` seconds (None where
    /proc/stat is missing). Unlike the load average, which decays over minutes, it says at once
    whether another job is running: right after a training run ends the load average still
    reads ~3 on two idle cores."""
    before = read()
    sleep(interval_s)
    after = read()
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def wait_for_idle(max_busy: float, timeout_s: float, probe=machine_busy_fraction, clock=time.monotonic) -> dict:
    """Probes the machine until its cores are at most `max_busy` busy or `timeout_s` has passed
    (checked between probes, so it may run one probe past it; `max_busy` < 0: one probe, no
    waiting). Returns the record's fields: `machine_busy_before`
    (the last probe; None: unknown), `waited_for_idle_s`, `idle_wait_timed_out`."""
    start = clock()
    busy = probe()
    while max_busy >= 0 and busy is not None and busy > max_busy and clock() - start < timeout_s:
        busy = probe()
    return {
        "machine_busy_before": None if busy is None else round(busy, 3),
        "machine_was_busy": None if busy is None else bool(busy > BUSY_THRESHOLD),
        "waited_for_idle_s": round(clock() - start, 1),
        "idle_wait_timed_out": bool(max_busy >= 0 and busy is not None and busy > max_busy),
    }


def _record(**fields) -> None:
    fields["load_average_1min"] = round(os.getloadavg()[0], 2)
    fields["cpu_count"] = os.cpu_count()
    print(json.dumps(fields), flush=True)


def _configure(method: str) -> None:
    """Loads the gin configuration of `method` at a non-paper scale (nothing at paper scale)."""
    gin.clear_config()
    if _SCALE.value == "paper":
        return
    gin_method = "ppo" if method == "env_only" else method
    cli.parse_gin(launcher.config_files(gin_method, _SCENARIO.value, _SCALE.value), _GIN_BINDINGS.value)


def _ppo_config() -> ppo.PPOConfig:
    if _SCALE.value == "paper":
        return ppo.PPOConfig(nsteps=_NSTEPS.value or 256, nminibatches=4, noptepochs=4)
    config = ppo.PPOConfig()
    return config if _NSTEPS.value is None else dataclasses.replace(config, nsteps=_NSTEPS.value)


def _r_network():
    # Without a checkpoint the layers are the gin-bound ones: the paper's at paper scale (no
    # bindings), the scale's otherwise.
    return r_network.RNetwork(weights_path=_R_CHECKPOINT.value, inference_dtype=_INFERENCE_DTYPE.value)


def _wrapper(vec):
    """The training env's view (resizing; the bonus is the Runner's, per rollout)."""
    return curiosity_env_wrapper.CuriosityEnvWrapper(vec)


def _bonus(env, r_net, method_name: str = "ppo_plus_ec", workdir: str | None = None):
    """PPO+EC's (or PPO+ECO's) bonus and reward scales: fixed settings at paper scale, gin's otherwise."""
    settings = {} if _DEFERRED.value else {"embedding_batch_size": _NUM_ENVS.value}  # one step per call
    if _MEMORY.value == "full":  # else the paper's tau (default) or gin's
        settings["similarity_threshold"] = 1.01
    setup = intrinsic.Setup(
        num_envs=_NUM_ENVS.value,
        observation_space=env.single_observation_space,
        action_space=env.single_action_space,
        workdir=workdir,
    )
    if method_name == "ppo_plus_eco":
        method = intrinsic.OnlineEpisodicCuriosity(setup, network=r_net, **settings)
    else:
        method = intrinsic.EpisodicCuriosity(
            setup, network=r_net, background=_DEFERRED.value and _BACKGROUND.value, **settings
        )
    scales = (
        intrinsic.RewardScales(scale_surrogate_reward=0.03) if _SCALE.value == "paper" else intrinsic.RewardScales()
    )
    return method, scales


def measure_env_only(config: ppo.PPOConfig) -> dict:
    """Random actions on the vector env (behind the resizing wrapper): the simulator's ceiling."""
    vec = environments.make_vector_env(_SCENARIO.value, _NUM_ENVS.value, asynchronous=_ASYNCHRONOUS.value)
    env = _wrapper(vec)
    try:
        rng = np.random.default_rng(0)
        num_actions = int(env.single_action_space.n)
        env.reset(seed=0)
        vector_steps = config.nsteps * _UPDATES.value
        for _ in range(config.nsteps):  # warm-up, as one untimed update
            env.step(rng.integers(num_actions, size=_NUM_ENVS.value))
        workers = [p.pid for p in getattr(vec, "processes", [])]
        load_before = round(os.getloadavg()[0], 2)
        cpu_before = _cpu_seconds(workers)
        start = time.perf_counter()
        for _ in range(vector_steps):
            env.step(rng.integers(num_actions, size=_NUM_ENVS.value))
        total = time.perf_counter() - start
        cpu = _cpu_fields(cpu_before, _cpu_seconds(workers), total, vector_steps * _NUM_ENVS.value, _UPDATES.value)
        return {
            "benchmark": "end_to_end",
            "method": "env_only",
            "scale": _SCALE.value,
            "scenario": _SCENARIO.value,
            "num_envs": _NUM_ENVS.value,
            "vector_steps_timed": vector_steps,
            "observation_shape": list(env.single_observation_space.shape),
            "env_steps_per_s": round(vector_steps * _NUM_ENVS.value / total, 1),
            "ms_per_vector_step": round(total / vector_steps * 1e3, 2),
            "load_average_before": load_before,
            **cpu,
        }
    finally:
        env.close()


def measure(method: str) -> dict:
    _configure(method)
    config = _ppo_config()
    if method == "env_only":
        return measure_env_only(config)
    if method not in ("ppo", "ppo_plus_ec", "ppo_plus_eco"):
        raise app.UsageError(f"unknown method {method!r}; valid: env_only, ppo, ppo_plus_ec, ppo_plus_eco")
    curious = method in ("ppo_plus_ec", "ppo_plus_eco")
    clock = _Clock()
    vec = environments.make_vector_env(_SCENARIO.value, _NUM_ENVS.value, asynchronous=_ASYNCHRONOUS.value)
    vec.step = clock.wrap(vec.step, "env")
    r_net = None
    # With the background bonus the R-network runs on the wrapper's worker thread, overlapping
    # the other buckets: its seconds are counted apart, and the main thread's share is the time
    # `compute_bonus` waits for it (`curiosity_wait`).
    background = method == "ppo_plus_ec" and _DEFERRED.value and _BACKGROUND.value
    r_clock = _Clock() if background else clock
    if curious:
        r_net = _r_network()
        r_net.embed = r_clock.wrap(r_net.embed, "curiosity_embedding")
        for name in ("similarity", "query_keys", "memory_keys", "similarity_from_keys", "memory_similarities"):
            setattr(r_net, name, r_clock.wrap(getattr(r_net, name), "memory_comparison"))
    env = _wrapper(vec)
    history_dir = tempfile.mkdtemp(prefix="end_to_end_eco_") if method == "ppo_plus_eco" else None
    bonus = None
    try:
        bonus, scales = _bonus(env, r_net, method, history_dir) if r_net is not None else (None, None)
        if background:
            bonus.compute_bonus = clock.wrap(bonus.compute_bonus, "curiosity_wait")
        try:
            architecture = gin.query_parameter("train_policy.policy_architecture")
        except ValueError:
            architecture = "cnn"
        policy = ppo.ActorCritic(
            architecture,
            env.single_observation_space,
            env.single_action_space,
            compute_dtype=_POLICY_COMPUTE_DTYPE.value,
        )
        policy.step = clock.wrap(policy.step, "policy_inference")
        policy.value = clock.wrap(policy.value, "policy_inference")
        learner = ppo.PPOLearner(policy, config)
        train = clock.wrap(learner.train, "ppo_update")
        runner = ppo.Runner(env, policy, config.nsteps, config.gamma, config.lam, intrinsic_reward=bonus, scales=scales)
        runner.reset()
        train(runner.run()[0], 1.0)  # warm-up
        trainings_before = bonus.trainer.trainings if method == "ppo_plus_eco" else 0
        clock.seconds.clear()
        r_clock.seconds.clear()
        memory_sizes = []
        workers = [p.pid for p in getattr(vec, "processes", [])]
        load_before = round(os.getloadavg()[0], 2)
        cpu_before = _cpu_seconds(workers)
        start = time.perf_counter()
        for _ in range(_UPDATES.value):
            batch, _ = runner.run()
            train(batch, 1.0)
            if bonus is not None:
                memory_sizes.append(float(bonus.memory.sizes.mean()))
        total = time.perf_counter() - start
        steps = _UPDATES.value * _NUM_ENVS.value * config.nsteps
        cpu = _cpu_fields(cpu_before, _cpu_seconds(workers), total, steps, _UPDATES.value)
        per_update = {k: round(v / _UPDATES.value, 3) for k, v in sorted(clock.seconds.items())}
        per_update["other"] = round((total - sum(clock.seconds.values())) / _UPDATES.value, 3)
        result = {
            "benchmark": "end_to_end",
            "method": method,
            "scale": _SCALE.value,
            "scenario": _SCENARIO.value,
            "num_envs": _NUM_ENVS.value,
            "nsteps": config.nsteps,
            "noptepochs": config.noptepochs,
            "nminibatches": config.nminibatches,
            "updates_timed": _UPDATES.value,
            "policy_input": list(env.single_observation_space.shape),
            "policy_architecture": architecture,
            "policy_compute_dtype": policy.compute_dtype,
            "env_steps_per_s": round(steps / total, 1),
            "ms_per_vector_step": round(total / (_UPDATES.value * config.nsteps) * 1e3, 2),
            "seconds_per_update": per_update,
            "peak_rss_mb": {
                "main": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "env_workers_sum": round(sum(_vm_hwm_mb(pid) for pid in _process_tree(workers)), 1),
            },
            "load_average_before": load_before,
            **cpu,
        }
        if r_net is not None:
            curiosity = r_clock.seconds["curiosity_embedding"] + r_clock.seconds["memory_comparison"]
            if background:
                result["background_seconds_per_update"] = {
                    k: round(v / _UPDATES.value, 3) for k, v in sorted(r_clock.seconds.items())
                }
            result.update(
                curiosity_ms_per_vector_step=round(curiosity / (_UPDATES.value * config.nsteps) * 1e3, 2),
                r_network=r_network.describe_architecture(r_net.architecture),
                deferred_bonus=_DEFERRED.value,
                background_bonus=background,
                inference_dtype=r_net.inference_dtype,
                memory=_MEMORY.value,
                memory_capacity=int(bonus.memory.capacity),
                memory_size_mean=round(float(np.mean(memory_sizes)), 1),
                intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads(),
            )
            if method == "ppo_plus_eco":
                result["eco_trainings_timed"] = bonus.trainer.trainings - trainings_before
        return result
    finally:
        env.close()
        if bonus is not None:
            bonus.close()
        if history_dir:
            import shutil  # pylint: disable=g-import-not-at-top

            shutil.rmtree(history_dir, ignore_errors=True)


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
    cpu_model = provenance.cpu_description().get("model")
    for method in _METHODS.value:
        idle = wait_for_idle(_WAIT_FOR_IDLE.value, _IDLE_TIMEOUT.value)
        results[method] = {**measure(method), **idle, "cpu_model": cpu_model}
        _record(**results[method])
        if idle["machine_was_busy"]:
            logging.warning(
                "%s: the machine was busy before it (%.0f %% of core time): its figures are pessimistic",
                method,
                100 * idle["machine_busy_before"],
            )
    ratios = {}
    for name, (top, bottom) in {
        "ppo_over_env_only": ("ppo", "env_only"),
        "ppo_plus_ec_over_env_only": ("ppo_plus_ec", "env_only"),
        "ppo_plus_ec_over_ppo": ("ppo_plus_ec", "ppo"),
        "ppo_plus_eco_over_ppo": ("ppo_plus_eco", "ppo"),
    }.items():
        if top in results and bottom in results:
            ratios[name] = round(results[top]["env_steps_per_s"] / results[bottom]["env_steps_per_s"], 3)
    if ratios:
        busy = [results[m]["machine_was_busy"] for m in results]
        _record(
            benchmark="end_to_end",
            measurement="ratio",
            scale=_SCALE.value,
            scenario=_SCENARIO.value,
            **ratios,
            machine_was_busy=None if None in busy else any(busy),
            cpu_model=cpu_model,
        )


if __name__ == "__main__":
    app.run(main)
