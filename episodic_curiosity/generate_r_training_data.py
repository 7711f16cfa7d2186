r"""Offline R-network training data: random-policy episodes -> TFRecord pairs (the original code).

Each of `num_tasks` tasks builds one env of the scenario (env seed `mix_seed(base_seed + task,
MIXER_SEEDS[split])`, so the R_TRAINING split uses the original's 123 + task), acts uniformly at
random (`env.action_space.sample()`, seeded the same) and runs whole episodes until it has taken
at least ceil(total_env_steps / num_tasks) steps. Pairs are sampled per episode with
`r_training_data.sample_pairs` and written as the original's `tf.train.Example`s.

Episode buffer (the original code): the frames returned by each `step()` of the episode except
the step that ends it, never the `reset()` frame. The generator drives a plain Gymnasium env
and calls `reset()` itself after each ending step; in terms of the project's SAME_STEP vector
rule this is "drop the reset observation and drop `final_obs`". The frame is `info['frame']`
when the env provides one (MuJoCo Ant), else the observation.

Files, in `output_dir`:
  * `r_training_data_<task>_<shard>.tfrecords`: written as `tmp_r_training_data_...` and
    renamed when closed; a new shard starts, between episodes only, once the open one holds
    >= `num_examples_per_shard` examples.
  * `r_training_data_<task>.done.json`: the task's completion marker (its shards, example and
    step counts), written atomically after all its shards are renamed.
  * `generation_config.json`: the settings; a rerun with different settings is refused.
  * `tb/`: TensorBoard scalars (examples and env steps per task and in total, env steps/s).

Restartable (unlike the original, which deleted its output directory): a rerun skips the tasks
whose marker is valid and redoes the others, first removing their temp files and partial
shards. Finished output is never deleted. Tasks are deterministic, so a redone task writes
the same records. Do not run two generators on one directory at the same time.

Stopping (`process_control`): Ctrl-C or SIGTERM stops a run within seconds, without waiting
for running tasks: the pool's workers are terminated and their unfinished shards' temp files
removed. The workers also stop (writing nothing more) when the generator is killed outright.

    python -m episodic_curiosity.generate_r_training_data --output_dir=DIR \
        --scenario=vizdoom_sparse --total_env_steps=2500000 --num_tasks=160 --num_workers=30
"""

from __future__ import annotations

if __name__ == "__main__":
    # `python -m episodic_curiosity.generate_r_training_data` runs the package's copy of this module, so that gin
    # sees one set of configurables (a second copy as __main__ would make every binding
    # ambiguous once another module imports this one).
    from episodic_curiosity.generate_r_training_data import run as _run

    _run()
    raise SystemExit(0)

import concurrent.futures
import contextlib
import dataclasses
import functools
import json
import math
import multiprocessing
import os
import re
import time
from typing import Any, Mapping, Sequence

from absl import app
from absl import flags
from absl import logging
import gin
import numpy as np
import tqdm

from episodic_curiosity import atomic_files
from episodic_curiosity import cli
from episodic_curiosity import environments
from episodic_curiosity import process_control
from episodic_curiosity import provenance
from episodic_curiosity import r_training_data
from episodic_curiosity import seeding

CONFIG_NAME = "generation_config.json"
_SHARD_PATTERN = re.compile(r"^(tmp_)?r_training_data_(\d+)_(\d+)\.tfrecords$")
_MARKER_PATTERN = re.compile(r"^(tmp_)?r_training_data_(\d+)\.done\.json$")
_PAIR_RNG_STREAM = 1  # Pair sampling draws from its own stream of the task's seed.


class TaskFailedError(RuntimeError):
    """A generation task raised; finished tasks are kept, rerun to redo the rest."""


class IncompatibleOutputError(ValueError):
    """`output_dir` holds data written with other settings (or not by this generator)."""


@dataclasses.dataclass(frozen=True)
class TaskSummary:
    """What one finished task wrote (also the content of its completion marker).

    Attributes:
      task_id: int, the task index.
      seed: int, base_seed + task_id (the `seed` feature).
      env_seed: int, the seed given to the env and its action space.
      env_steps: int, agent steps taken.
      episodes: int, episodes run.
      num_examples: int, records written.
      files: list of str, shard file names (relative to the output directory).
      file_sizes: list of int, their sizes in bytes.
      skipped: bool, the task was already finished and not rerun.
    """

    task_id: int
    seed: int
    env_seed: int
    env_steps: int
    episodes: int
    num_examples: int
    files: list[str]
    file_sizes: list[int]
    skipped: bool = False


@dataclasses.dataclass(frozen=True)
class GenerationSummary:
    """Result of `generate_r_training_data`.

    Attributes:
      output_dir: str, where the files are.
      files: list of str, all shard paths, sorted.
      num_examples: int, records in all shards.
      env_steps: int, agent steps of all tasks.
      tasks: list of TaskSummary, by task id.
    """

    output_dir: str
    files: list[str]
    num_examples: int
    env_steps: int
    tasks: list[TaskSummary]


@dataclasses.dataclass(frozen=True)
class _TaskConfig:
    """Everything a worker needs for one task (picklable)."""

    task_id: int
    output_dir: str
    scenario: str
    env_kwargs: dict
    steps_per_task: int
    num_tasks: int
    mixer_seed: int
    base_seed: int
    num_examples_per_shard: int
    max_action_distance: int
    sampling_mode: str
    random_action_hold: int = 1


# --- Names and seeds ------------------------------------------------------------------------


def mix_seed(seed: int, mixer_seed: int) -> int:
    """The env seed of a task: its seed XOR the split's mixer seed (0 leaves it unchanged).

    Plays the role of DeepMind Lab's `mixerSeed`, so that splits get disjoint episodes.
    """
    return int(seed) ^ int(mixer_seed)


def shard_name(task_id: int, shard: int) -> str:
    """File name of a finished shard (the original's naming)."""
    return f"r_training_data_{task_id}_{shard}.tfrecords"


def marker_name(task_id: int) -> str:
    """File name of a task's completion marker."""
    return f"r_training_data_{task_id}.done.json"


# --- One task -------------------------------------------------------------------------------


def collect_episode(env, random_action_hold: int = 1) -> tuple[list[np.ndarray], list[dict], int]:
    """Resets `env` and runs one episode with uniformly random actions.

    Args:
      env: gymnasium.Env, whose action space has been seeded.
      random_action_hold: int, agent steps each drawn action is kept for (1: a new draw every
        step, the original's random policy; more: a random walk that travels further per step).

    Returns:
      (frames, infos, steps): the episode buffer (the frame and info of every step except the
      one that ends the episode; the reset frame excluded) and the number of steps taken
      (including the ending one).
    """
    env.reset()
    frames, infos, steps = [], [], 0
    action = None
    while True:
        if steps % random_action_hold == 0:
            action = env.action_space.sample()
        observation, _, terminated, truncated, info = env.step(action)
        steps += 1
        if terminated or truncated:
            return frames, infos, steps
        frame = np.array(info["frame"] if "frame" in info else observation, copy=True)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frames must be uint8 (H, W, 3) images, got {frame.dtype} {frame.shape}")
        frames.append(frame)
        infos.append(info)


def pair_sampling_seed(env_seed: int) -> np.random.SeedSequence:
    """Seed of a task's pair-sampling generator (a stream of its own, derived from env_seed)."""
    return np.random.SeedSequence([env_seed, _PAIR_RNG_STREAM])


class _ShardWriter:
    """Writes one task's records into shards: temp name while open, renamed when closed."""

    def __init__(self, output_dir: str, task_id: int):
        self._output_dir = output_dir
        self._task_id = task_id
        self._writer = None
        self._tmp_path = ""
        self.count = 0  # records in the open shard
        self.closed: list[tuple[str, int]] = []  # (name, size) of renamed shards

    def write(self, record: bytes) -> None:
        if self._writer is None:
            import tensorflow as tf  # pylint: disable=g-import-not-at-top

            name = shard_name(self._task_id, len(self.closed))
            self._tmp_path = os.path.join(self._output_dir, "tmp_" + name)
            self._writer = tf.io.TFRecordWriter(self._tmp_path)
            self.count = 0
        self._writer.write(record)
        self.count += 1

    def close(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        name = shard_name(self._task_id, len(self.closed))
        path = os.path.join(self._output_dir, name)
        os.replace(self._tmp_path, path)
        self.closed.append((name, os.path.getsize(path)))

    def discard(self) -> None:
        """Closes and removes the open shard, if any (the task was interrupted)."""
        if self._writer is None:
            return
        try:
            self._writer.close()
        finally:
            self._writer = None
            if os.path.exists(self._tmp_path):
                os.remove(self._tmp_path)


def _episode_records(frames, infos, pairs, metadata: r_training_data.PairMetadata):
    """Serialized records of one episode's pairs (each frame PNG-encoded once)."""
    start = infos[0].get("position") if infos else None
    pngs: dict[int, bytes] = {}
    frame_metadata: dict[int, r_training_data.FrameMetadata] = {}
    for index in sorted({i for pair in pairs for i in pair[:2]}):
        pngs[index] = r_training_data.encode_png(frames[index])
        frame_metadata[index] = r_training_data.frame_metadata_from_info(infos[index], start)
    for n, (first, second, label) in enumerate(pairs):
        example = r_training_data.encode_pair_example(
            pngs[first],
            pngs[second],
            label,
            dataclasses.replace(metadata, example_index_in_episode=n, example_index=metadata.example_index + n),
            frame_metadata[first],
            frame_metadata[second],
        )
        yield example.SerializeToString(deterministic=True)


def _run_task(task: _TaskConfig) -> TaskSummary:
    """Runs one task to completion and writes its completion marker."""
    try:
        return _run_task_unguarded(task)
    except Exception as e:  # Re-raised with the task named; the pool may not keep the cause.
        raise TaskFailedError(
            f"task {task.task_id} (scenario {task.scenario!r}) failed: {type(e).__name__}: {e}"
        ) from e


def _run_task_unguarded(task: _TaskConfig) -> TaskSummary:
    """Episodes until the step budget is reached; shards, then the marker."""
    seed = task.base_seed + task.task_id
    if environments.get_scenario(task.scenario).family == "dmlab":
        # DeepMind Lab mixes the split in itself (`mixerSeed`), as the original: seed 123 + task.
        env_seed = seed
        env = environments.make_env(task.scenario, seed=env_seed, **{"mixer_seed": task.mixer_seed, **task.env_kwargs})
    else:
        env_seed = mix_seed(seed, task.mixer_seed)
        env = environments.make_env(task.scenario, seed=env_seed, **task.env_kwargs)
    env.action_space.seed(env_seed)
    rng = np.random.default_rng(pair_sampling_seed(env_seed))
    writer = _ShardWriter(task.output_dir, task.task_id)
    steps = episodes = examples = 0
    try:
        while steps < task.steps_per_task:
            frames, infos, episode_steps = collect_episode(env, task.random_action_hold)
            pairs = r_training_data.sample_pairs(len(frames), rng, task.max_action_distance, mode=task.sampling_mode)
            metadata = r_training_data.PairMetadata(
                seed=seed,
                mixer_seed=task.mixer_seed,
                fully_qualified_level=task.scenario,
                episode=episodes,
                example_index=examples,
                env_steps_at_episode=steps,
                global_env_steps_at_episode=steps * task.num_tasks,
                max_action_distance=task.max_action_distance,
            )
            for record in _episode_records(frames, infos, pairs, metadata):
                writer.write(record)
            examples += len(pairs)
            steps += episode_steps
            episodes += 1
            if writer.count >= task.num_examples_per_shard:
                writer.close()
        writer.close()
    except BaseException:  # e.g. stopped: leave no temp file behind
        writer.discard()
        raise
    finally:
        env.close()
    summary = TaskSummary(
        task_id=task.task_id,
        seed=seed,
        env_seed=env_seed,
        env_steps=steps,
        episodes=episodes,
        num_examples=examples,
        files=[name for name, _ in writer.closed],
        file_sizes=[size for _, size in writer.closed],
    )
    atomic_files.write_json(os.path.join(task.output_dir, marker_name(task.task_id)), dataclasses.asdict(summary))
    return summary


# --- Resuming -------------------------------------------------------------------------------


def _normalized(value: Any) -> Any:
    """`value` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value, sort_keys=True, default=repr))


def _check_config(output_dir: str, config: Mapping[str, Any]) -> None:
    """Writes the settings, or checks them against those of an earlier run in `output_dir`."""
    path = os.path.join(output_dir, CONFIG_NAME)
    if os.path.exists(path):
        with open(path) as f:
            previous = json.load(f)
        current = _normalized(config)
        differences = [
            f"{key}: {previous.get(key)!r} before, {current.get(key)!r} now"
            for key in {**current, **previous}  # the keys of either run, each once
            if previous.get(key) != current.get(key)
        ]
        if differences:
            raise IncompatibleOutputError(
                f"{output_dir!r} holds data generated with other settings ({'; '.join(differences)}); "
                "use another output_dir or the same settings"
            )
        return
    strays = [n for n in os.listdir(output_dir) if _SHARD_PATTERN.match(n) or _MARKER_PATTERN.match(n)]
    if strays:
        raise IncompatibleOutputError(
            f"{output_dir!r} holds R-network data files ({strays[0]!r}, ...) but no {CONFIG_NAME}; "
            "they were not written by this generator, so nothing there is touched: use an empty "
            "output_dir"
        )
    atomic_files.write_json(path, _normalized(config))


def _finished_task(output_dir: str, task_id: int) -> TaskSummary | None:
    """The task's summary if its marker is valid (all its shards present, same sizes)."""
    path = os.path.join(output_dir, marker_name(task_id))
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            summary = TaskSummary(**{**json.load(f), "skipped": True})
    except (ValueError, TypeError) as e:
        logging.warning("Ignoring unreadable completion marker %s (%s); task %d is redone.", path, e, task_id)
        return None
    for name, size in zip(summary.files, summary.file_sizes):
        shard = os.path.join(output_dir, name)
        if not os.path.exists(shard) or os.path.getsize(shard) != size:
            logging.warning("Shard %s of finished task %d is missing or changed; the task is redone.", shard, task_id)
            return None
    return summary


def _clean_unfinished(output_dir: str, unfinished: set[int]) -> None:
    """Removes the markers, temp files and partial shards of tasks that will be redone.

    Args:
      output_dir: str, the output folder.
      unfinished: set of int, ids of the tasks to redo.
    """
    for name in os.listdir(output_dir):
        shard = _SHARD_PATTERN.match(name)
        marker = _MARKER_PATTERN.match(name)
        task_id = int(shard.group(2)) if shard else int(marker.group(2)) if marker else None
        if task_id in unfinished:
            logging.info("Removing %s of unfinished task %d.", name, task_id)
            os.remove(os.path.join(output_dir, name))


# --- Running all tasks ----------------------------------------------------------------------


def _run_tasks(tasks: Sequence[_TaskConfig], num_workers: int, progress: tqdm.tqdm) -> list[TaskSummary]:
    """Runs `tasks` in this process (1 worker) or in a forkserver process pool."""
    results = []
    if num_workers == 1 or len(tasks) <= 1:
        for task in tasks:
            results.append(_run_task(task))
            progress.update(1)
        return results
    # Workers die with this process (even after a kill -9 of it) and ignore Ctrl-C. When this
    # process is stopped (Ctrl-C, SIGTERM) the running tasks are not waited for: the workers
    # are terminated and the temp files of their unfinished shards removed. After a failed
    # task the running ones still finish (their output is kept), as before.
    context = multiprocessing.get_context("forkserver")
    pool = concurrent.futures.ProcessPoolExecutor(
        min(num_workers, len(tasks)),
        mp_context=context,
        initializer=process_control.init_tensorflow_worker,
        initargs=(process_control.ProcessIdentity.of(),),
    )
    try:
        task_function = functools.partial(process_control.call_in_pool_worker, _run_task)
        # Workers start (at submit) without re-importing this program's __main__ module:
        # that would load TensorFlow, with its start-up lines, before the initializer runs.
        with environments.vector.workers_skip_main_module():
            futures = [pool.submit(task_function, task) for task in tasks]
        for future in concurrent.futures.as_completed(futures):
            results.append(future.result())
            progress.update(1)
    except Exception:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    except BaseException:
        process_control.shutdown_pool_now(pool)
        _remove_temp_files(tasks[0].output_dir)
        raise
    pool.shutdown(wait=True)
    return results


def _remove_temp_files(output_dir: str) -> None:
    """Removes the `tmp_*` files that stopped workers may have left (no writer is running)."""
    for name in os.listdir(output_dir):
        if name.startswith("tmp_"):
            logging.info("Removing %s of an interrupted task.", name)
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(output_dir, name))


def argument_problems(
    total_env_steps,
    num_tasks,
    num_workers,
    split,
    num_examples_per_shard,
    max_action_distance,
    sampling_mode,
    base_seed=environments.DEFAULT_BASE_SEED,
    random_action_hold=1,
) -> list[str]:
    """Every bad argument, as text."""
    problems = []
    for name, value in (
        ("total_env_steps", total_env_steps),
        ("num_tasks", num_tasks),
        ("num_workers", num_workers),
        ("num_examples_per_shard", num_examples_per_shard),
        ("max_action_distance", max_action_distance),
        ("base_seed", base_seed),
        ("random_action_hold", random_action_hold),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{name} must be an int, got {value!r}")
    if problems:
        return problems
    if total_env_steps < 1:
        problems.append(f"total_env_steps must be >= 1, got {total_env_steps}")
    if num_tasks < 1:
        problems.append(f"num_tasks must be >= 1, got {num_tasks}")
    if num_workers < 1:
        problems.append(f"num_workers must be >= 1, got {num_workers}")
    if split not in r_training_data.MIXER_SEEDS:
        problems.append(f"unknown split {split!r}; valid: {', '.join(r_training_data.MIXER_SEEDS)}")
    if num_examples_per_shard < 1:
        problems.append(f"num_examples_per_shard must be >= 1, got {num_examples_per_shard}")
    if max_action_distance < 1:
        problems.append(f"max_action_distance must be >= 1, got {max_action_distance}")
    if sampling_mode not in r_training_data.SAMPLING_MODES:
        problems.append(f"unknown sampling_mode {sampling_mode!r}; valid: {', '.join(r_training_data.SAMPLING_MODES)}")
    if random_action_hold < 1:
        problems.append(f"random_action_hold must be >= 1 (1: a new action every step), got {random_action_hold}")
    return problems


@gin.configurable(denylist=["output_dir"])
def generate_r_training_data(
    output_dir: str,
    scenario: str,
    total_env_steps: int,
    num_tasks: int,
    num_workers: int,
    split: str = "R_TRAINING",
    num_examples_per_shard: int = 4000,
    max_action_distance: int = r_training_data.MAX_ACTION_DISTANCE,
    sampling_mode: str = r_training_data.V1_AFFECT_NUM_TRAINING_EXAMPLES,
    base_seed: int = environments.DEFAULT_BASE_SEED,
    env_kwargs: Mapping[str, Any] | None = None,
    show_progress: bool = True,
    seed: int | None = None,
    validate_only: bool = False,
    random_action_hold: int = 1,
) -> GenerationSummary | None:
    """Generates (or completes) a split of R-network training pairs in `output_dir`.

    Args:
      output_dir: str, output folder (created; an earlier run's finished tasks are kept).
      scenario: str, registered scenario name.
      total_env_steps: int, agent steps over all tasks (each takes >= ceil(total / num_tasks),
        finishing its last episode).
      num_tasks: int, independent tasks, task t seeded base_seed + t.
      num_workers: int, parallel worker processes (1: run in this process).
      split: str, a key of `MIXER_SEEDS` ('R_TRAINING', 'VALIDATION', ...).
      num_examples_per_shard: int, a shard is closed after the episode that brings it to this.
      max_action_distance: int, k: positives are 1..k steps apart.
      sampling_mode: str, one of `r_training_data.SAMPLING_MODES`.
      base_seed: int, seed of task 0.
      env_kwargs: mapping or None, overrides of the scenario's constructor arguments.
      show_progress: bool, show a progress bar over tasks.
      seed: int or None, the run's seed (`seeding`): if given, base_seed becomes
        `seeding.env_base_seed(seed)` (seed 0: the original's 123).
      validate_only: bool, only check the arguments (one ConfigError listing every problem)
        and the scenario, and return None.
      random_action_hold: int, agent steps each uniformly drawn action is kept for. 1 (default)
        is the original's random policy. Opt-in, not the paper's: a larger value makes the
        random walk travel further in k steps, so "reachable within k steps" covers more
        ground (a search setting for policies that move faster than a uniform random walk).

    Returns:
      GenerationSummary of all tasks (finished earlier ones marked `skipped`).
    """
    if seed is not None:
        base_seed = seeding.env_base_seed(seed)
    cli.raise_if_problems(
        argument_problems(
            total_env_steps,
            num_tasks,
            num_workers,
            split,
            num_examples_per_shard,
            max_action_distance,
            sampling_mode,
            base_seed,
            random_action_hold,
        ),
        "generate_r_training_data arguments",
    )
    environments.get_scenario(scenario).constructor()  # Unknown/unavailable: fail before any work.
    if validate_only:
        return None
    env_kwargs = dict(env_kwargs or {})
    output_dir = os.path.abspath(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    mixer_seed = r_training_data.MIXER_SEEDS[split]
    # Recorded only when not the original's 1, so that folders written before the setting
    # existed still resume.
    hold_setting = {} if random_action_hold == 1 else {"random_action_hold": random_action_hold}
    _check_config(
        output_dir,
        {
            **hold_setting,
            "scenario": scenario,
            "total_env_steps": total_env_steps,
            "num_tasks": num_tasks,
            "split": split,
            "mixer_seed": mixer_seed,
            "num_examples_per_shard": num_examples_per_shard,
            "max_action_distance": max_action_distance,
            "sampling_mode": sampling_mode,
            "base_seed": base_seed,
            "env_kwargs": env_kwargs,
        },
    )
    provenance.record(
        output_dir,
        "generate_r_training_data",
        seed=seed,
        extra={"scenario": scenario, "split": split, "base_seed": base_seed},
    )

    finished = {t: s for t in range(num_tasks) if (s := _finished_task(output_dir, t)) is not None}
    pending = [t for t in range(num_tasks) if t not in finished]
    _clean_unfinished(output_dir, set(pending))
    if finished:
        logging.info(
            "%d of %d tasks already finished in %s; running the other %d.",
            len(finished),
            num_tasks,
            output_dir,
            len(pending),
        )
    steps_per_task = math.ceil(total_env_steps / num_tasks)
    tasks = [
        _TaskConfig(
            task_id=t,
            output_dir=output_dir,
            scenario=scenario,
            env_kwargs=env_kwargs,
            steps_per_task=steps_per_task,
            num_tasks=num_tasks,
            mixer_seed=mixer_seed,
            base_seed=base_seed,
            num_examples_per_shard=num_examples_per_shard,
            max_action_distance=max_action_distance,
            sampling_mode=sampling_mode,
            random_action_hold=random_action_hold,
        )
        for t in pending
    ]
    start_time = time.time()
    with tqdm.tqdm(
        total=num_tasks, initial=len(finished), unit="task", desc=f"{split} pairs", disable=not show_progress
    ) as progress:
        for summary in _run_tasks(tasks, num_workers, progress):
            finished[summary.task_id] = summary
    summaries = [finished[t] for t in range(num_tasks)]
    _write_tensorboard(os.path.join(output_dir, "tb"), summaries, time.time() - start_time)
    files = sorted(os.path.join(output_dir, name) for s in summaries for name in s.files)
    return GenerationSummary(
        output_dir=output_dir,
        files=files,
        num_examples=sum(s.num_examples for s in summaries),
        env_steps=sum(s.env_steps for s in summaries),
        tasks=summaries,
    )


def _write_tensorboard(tb_dir: str, summaries: Sequence[TaskSummary], seconds: float) -> None:
    """TensorBoard scalars: per task (step = task id) its examples and env steps; for the whole
    split (step = number of tasks) the totals and the env steps/s of the tasks run this time."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    ran = [s for s in summaries if not s.skipped]
    writer = tf.summary.create_file_writer(tb_dir)
    with writer.as_default():
        for task in ran:
            tf.summary.scalar("r_training_data/task_examples", task.num_examples, step=task.task_id)
            tf.summary.scalar("r_training_data/task_env_steps", task.env_steps, step=task.task_id)
        step = len(summaries)
        tf.summary.scalar("r_training_data/examples", sum(s.num_examples for s in summaries), step=step)
        tf.summary.scalar("r_training_data/env_steps", sum(s.env_steps for s in summaries), step=step)
        if ran and seconds > 0:
            tf.summary.scalar("r_training_data/env_steps_per_s", sum(s.env_steps for s in ran) / seconds, step=step)
    writer.close()


# --- Entry point ----------------------------------------------------------------------------

# Flags are defined only when this module runs as a program (`_define_flags` below), so that
# importing it next to another entry point (train_r, the launcher) cannot clash on flag names.
_OPTIONAL_FLAGS = (
    "total_env_steps",
    "num_tasks",
    "num_workers",
    "split",
    "num_examples_per_shard",
    "max_action_distance",
    "sampling_mode",
    "base_seed",
    "seed",
    "random_action_hold",
)
_REQUIRED = ("total_env_steps", "num_tasks", "num_workers")


def _define_flags() -> None:
    """Defines the command-line flags; unset optional ones fall back to gin, then defaults."""
    flags.DEFINE_string("output_dir", None, "Folder for the TFRecord shards.")
    flags.DEFINE_string("scenario", None, "Registered scenario name, e.g. vizdoom_sparse.")
    flags.DEFINE_integer("total_env_steps", None, "Agent steps over all tasks (2,500,000).")
    flags.DEFINE_integer("num_tasks", None, "Independent tasks, seeded base_seed + task (160).")
    flags.DEFINE_integer("num_workers", None, "Parallel worker processes (30).")
    flags.DEFINE_enum("split", None, list(r_training_data.MIXER_SEEDS), "Data split (mixer seed).")
    flags.DEFINE_integer("num_examples_per_shard", None, "Examples per shard (4000).")
    flags.DEFINE_integer("max_action_distance", None, "k: largest positive gap in steps (5).")
    flags.DEFINE_enum("sampling_mode", None, list(r_training_data.SAMPLING_MODES), "Pair sampling mode.")
    flags.DEFINE_integer("base_seed", None, "Seed of task 0 (123).")
    flags.DEFINE_integer(
        "seed", None, f"The run's seed: task 0 is seeded 123 + seed x {seeding.SEEDS_PER_RUN} (overrides --base_seed)."
    )
    flags.DEFINE_integer("random_action_hold", None, "Agent steps each random action is kept for (1: the original).")
    flags.DEFINE_string("env_kwargs", None, "JSON object of scenario constructor overrides.")
    flags.DEFINE_multi_string("gin_config", [], "Gin config files.")
    flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings, e.g. 'generate_r_training_data.num_tasks=4'.")


def _gin_bound(parameter: str) -> bool:
    """Whether gin binds `generate_r_training_data.<parameter>`."""
    try:
        gin.query_parameter(f"generate_r_training_data.{parameter}")
    except ValueError:
        return False
    return True


def main(argv):
    del argv
    flag_values = flags.FLAGS
    if not flag_values.output_dir or not flag_values.scenario:
        raise app.UsageError("--output_dir and --scenario are required")
    process_control.install_stop_handlers()
    from episodic_curiosity import configurables  # noqa: F401 pylint: disable=g-import-not-at-top,unused-import

    cli.parse_gin(flag_values.gin_config, flag_values.gin_bindings)
    kwargs = {name: flag_values[name].value for name in _OPTIONAL_FLAGS if flag_values[name].value is not None}
    if flag_values.env_kwargs:
        kwargs["env_kwargs"] = json.loads(flag_values.env_kwargs)
    missing = [f"--{name}" for name in _REQUIRED if name not in kwargs and not _gin_bound(name)]
    if missing:
        raise app.UsageError(f"missing {', '.join(missing)} (as flags or gin bindings)")
    logging.info("Gin config:\n%s", gin.config_str())
    summary = generate_r_training_data(flag_values.output_dir, scenario=flag_values.scenario, **kwargs)
    print(
        f"{summary.num_examples} examples from {summary.env_steps} env steps in "
        f"{len(summary.files)} files under {summary.output_dir}"
    )


def run() -> None:
    """Console script `ec-generate-r-training-data`."""
    cli.run(main, define_flags=_define_flags)


if __name__ == "__main__":
    run()
