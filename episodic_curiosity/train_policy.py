r"""Policy training: envs -> curiosity wrapper -> PPO (PPO2 semantics), with logs and resume.

Writes into `--workdir` (the original's names and columns, the original code):

  * `reward_train.csv`: every update, `step` = update x num_env x nsteps, value = mean raw task
    return of the last <= 100 finished training episodes (nan before the first);
  * `reward_valid.csv`, `reward_test.csv`: at the start of every `eval_every_rollouts`-th
    rollout (step 0 included), the mean return of one episode in each of `num_env` evaluation
    envs built with the validation / test seeds, stochastic policy, pure task reward;
  * `progress.csv` + `log.txt`: PPO2's keys (approxkl, clipfrac, eplenmean, eprewmean,
    explained_variance, fps, nupdates, policy_entropy, policy_loss, serial_timesteps,
    time_elapsed, total_timesteps, value_loss, curiosity_loss), plus the extra
    columns for the method (`IntrinsicReward.progress_columns`, e.g. PPO+ICM's ICM losses);
  * `diagnostics.csv` (beyond the original): per update the mean and standard deviation of
    the advantages and returns before normalisation, the mean value, the share of non-zero
    rewards, and for episodic curiosity the mean bonus per training episode and the memory
    fill;
  * `checkpoints/policy.NNNNN.h5`: policy + optimizer + counters, every `save_interval` updates
    and at the end (atomic; the newest two are kept); `train_policy.gin`, `flags.txt`, `tb/`.

Rerunning the same command after a kill resumes from the newest checkpoint: envs restart
with fresh episodes, counters, optimizer and policy continue, and no CSV row is written twice.

    python -m episodic_curiosity.train_policy --workdir=/tmp/run --env_name=vizdoom_sparse \
        --num_env=12 --num_timesteps=20000000 [--r_checkpoint=r_network_weights.00030.h5]
"""

from __future__ import annotations

if __name__ == "__main__":
    # `python -m episodic_curiosity.train_policy` runs the package's copy of this module, so that gin
    # sees one set of configurables (a second copy as __main__ would make every binding
    # ambiguous once another module imports this one).
    from episodic_curiosity.train_policy import run as _run

    _run()
    raise SystemExit(0)

import collections
import math
import os
import time
from typing import Any, Sequence

from absl import app
from absl import flags
from absl import logging
import gin
import numpy as np
import tensorflow as tf
import tqdm

from episodic_curiosity import atomic_files
from episodic_curiosity import checkpoint_io
from episodic_curiosity import cli
from episodic_curiosity import curiosity_env_wrapper
from episodic_curiosity import environments
from episodic_curiosity import intrinsic
from episodic_curiosity import metrics_csv
from episodic_curiosity import ppo
from episodic_curiosity import pretrained
from episodic_curiosity import process_control
from episodic_curiosity import progress_log
from episodic_curiosity import provenance
from episodic_curiosity import r_network
from episodic_curiosity import runtime
from episodic_curiosity import seeding


def split_base_seed(split: str, seed: int = 0) -> int:
    """Env seed of env 0 of a policy split of a non-DMLab scenario (see `seeding`)."""
    return seeding.mix(seeding.env_base_seed(seed), seeding.policy_split_name(split))


def make_policy_envs(
    scenario: str,
    num_env: int,
    split: str,
    *,
    asynchronous: bool,
    env_kwargs: dict | None,
    seed: int = 0,
    scale_task_reward: float | None = None,
    target_image_shape: Sequence[int] | None = None,
    frame_stack: int | None = None,
) -> curiosity_env_wrapper.CuriosityEnvWrapper:
    """The vector env of one split behind its own `CuriosityEnvWrapper` (the policy's view; no
    bonus: the training envs' bonus is computed per rollout by the Runner).

    Split rule (`seeding`, the same for every family): 'train' / 'valid' / 'test' play the
    POLICY_TRAINING / VALIDATION / TEST mixer seeds, the R-network's data R_TRAINING and
    R_VALIDATION. DeepMind Lab envs get the mixer seed as `mixerSeed` and the env seeds
    `env_base_seed(seed) + i` (123 + i for seed 0, as the original); other simulators have no
    mixer, so the mixer seed is XORed into their env seeds.

    Args:
      scale_task_reward: float or None, the wrapper's reward is this x the env's reward
        (evaluation); None: the env's reward (training: the Runner scales it).
      target_image_shape: (h, w, c) of the policy's observations, or None for the gin-bound
        `CuriosityEnvWrapper.target_image_shape` (evaluation of a checkpoint passes its shape).
      frame_stack: int or None, frames per policy observation; None: the gin-bound
        `CuriosityEnvWrapper.frame_stack` (evaluation of a checkpoint passes its own).
    """
    split_name = seeding.policy_split_name(split)
    if environments.get_scenario(scenario).family == "dmlab":
        vec = environments.make_vector_env(
            scenario,
            num_env,
            base_seed=seeding.env_base_seed(seed),
            asynchronous=asynchronous,
            env_kwargs={"mixer_seed": split_name, **(env_kwargs or {})},
        )
    else:
        vec = environments.make_vector_env(
            scenario, num_env, base_seed=split_base_seed(split, seed), asynchronous=asynchronous, env_kwargs=env_kwargs
        )
    shape = {} if target_image_shape is None else {"target_image_shape": tuple(target_image_shape)}
    if frame_stack is not None:
        shape["frame_stack"] = int(frame_stack)
    scales = (
        None
        if scale_task_reward is None
        else intrinsic.RewardScales(
            scale_task_reward=scale_task_reward, scale_surrogate_reward=0.0, exploration_reward_min_step=0
        )
    )
    return curiosity_env_wrapper.CuriosityEnvWrapper(vec, None, scales, seed=seed, **shape)


def evaluate_episodes(env, policy: ppo.ActorCritic, seed: int | None = None) -> dict[str, float]:
    """Runs every env of `env` until it has finished one episode (the original's evaluation).

    Returns the mean episode return (of the wrapper's reward) and success rate.
    """
    observations, _ = env.reset(seed=seed)
    num = env.num_envs
    returns, finished, success = np.zeros(num), np.zeros(num, bool), np.zeros(num, bool)
    while not finished.all():
        actions, _, _ = policy.step(observations)
        observations, rewards, terminated, truncated, infos = env.step(actions)
        returns += np.where(finished, 0.0, rewards)
        done = np.logical_and(np.logical_or(terminated, truncated), ~finished)
        final_info = infos.get("final_info", {})
        if done.any() and "success" in final_info:
            success |= done & np.asarray(final_info["success"], bool)
        finished |= done
    return {"mean_return": float(returns.mean()), "success_rate": float(success.mean())}


def load_policy(path: str, observation_space, action_space, compute_dtype: str = "float32") -> ppo.ActorCritic:
    """Builds the policy a checkpoint was saved from and loads its weights (float32 weights;
    `compute_dtype` is the precision it computes in, see `ppo.ActorCritic`).

    Raises checkpoint_io.CheckpointError, naming both and what to pass, if the spaces differ
    from the observation shape / action space the checkpoint records (when it records them).
    """
    attributes = checkpoint_io.read_attributes(path)
    checkpoint_io.check_policy_spaces(path, attributes, observation_space, action_space)
    policy = ppo.ActorCritic(
        attributes["policy_architecture"], observation_space, action_space, compute_dtype=compute_dtype
    )
    checkpoint_io.load_variables(path, {"policy": policy.trainable_variables})
    return policy


def _check_finite_update(update: int, stats: dict, policy: ppo.ActorCritic) -> None:
    """Stops the run (before anything is saved) if an update produced non-finite values."""
    for key in ("policy_loss", "value_loss", "policy_entropy", "approxkl"):
        if key in stats and not math.isfinite(float(stats[key])):
            raise ppo.NonFiniteError(
                f"non-finite {key} ({stats[key]}) in PPO update {update}; no "
                "checkpoint was written from it (the previous ones are kept)"
            )
    for variable in policy.trainable_variables:
        if not np.all(np.isfinite(variable.numpy())):
            raise ppo.NonFiniteError(
                f"non-finite policy weights ({variable.name}) after PPO update "
                f"{update}; no checkpoint was written from them"
            )


def _mean_or_nan(values) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def method_name(intrinsic_reward) -> str:
    """A readable name of the `train_policy.intrinsic_reward` binding (None: plain PPO)."""
    return (
        "None (plain PPO)"
        if intrinsic_reward is None
        else getattr(intrinsic_reward, "__name__", repr(intrinsic_reward))
    )


def argument_problems(
    scenario: str,
    config: ppo.PPOConfig,
    *,
    num_env: int,
    num_timesteps: int,
    timesteps_multiplier: float,
    r_checkpoint: str | None,
    policy_architecture: str,
    intrinsic_reward,
    eval_every_rollouts: int,
    eval_splits: Sequence[str],
    save_interval: int,
    keep_checkpoints: int,
    seed: int,
    r_network_inference_dtype: str,
    log_interval: int,
    check_files: bool = True,
    policy_compute_dtype: str = "float32",
) -> list[str]:
    """Every problem of a train_policy call (and of the gin settings it will use), as text."""
    problems = []
    try:
        environments.get_scenario(scenario).constructor()  # unknown, unavailable or not installed
    except (
        environments.UnknownScenarioError,
        environments.ScenarioNotAvailableError,
        environments.MissingDependencyError,
    ) as error:
        problems.append(str(error))
    try:
        config.validate(num_envs=num_env if isinstance(num_env, int) and num_env >= 1 else None)
    except ValueError as error:
        problems.append(str(error))

    def check(condition: bool, message: str) -> None:
        if not condition:
            problems.append(message)

    check(isinstance(num_env, int) and num_env >= 1, f"num_env must be >= 1, got {num_env!r}")
    batch = num_env * config.nsteps if isinstance(num_env, int) and isinstance(config.nsteps, int) else 0
    check(
        isinstance(num_timesteps, int) and batch > 0 and int(timesteps_multiplier * num_timesteps) >= batch,
        f"num_timesteps={num_timesteps!r} is less than one batch of {batch} steps "
        f"(num_env x PPOConfig.nsteps; num_timesteps x {timesteps_multiplier} is what runs)",
    )
    check(
        policy_architecture in ppo.ARCHITECTURES,
        f"policy_architecture must be one of {', '.join(ppo.ARCHITECTURES)}, got {policy_architecture!r}",
    )
    name = method_name(intrinsic_reward)
    if intrinsic_reward is not None and not (
        isinstance(intrinsic_reward, type) and issubclass(intrinsic_reward, intrinsic.IntrinsicReward)
    ):
        problems.append(
            f"train_policy.intrinsic_reward must be an intrinsic.IntrinsicReward class (e.g. "
            f"@EpisodicCuriosity) or None, got {intrinsic_reward!r}"
        )
        intrinsic_reward = None
    if intrinsic_reward is not None and intrinsic_reward.requires_r_network and not r_checkpoint:
        problems.append(
            f"{name} needs an R-network: pass r_checkpoint (--r_checkpoint, the launcher's "
            "--r_networks_path) or train it online (method ppo_plus_eco)"
        )
    if intrinsic_reward is None and r_checkpoint:
        problems.append(
            f"r_checkpoint {r_checkpoint!r} given, but train_policy.intrinsic_reward is None "
            "(plain PPO) and would not use it: bind train_policy.intrinsic_reward = "
            "@EpisodicCuriosity (the ppo_plus_ec .gin does) or drop r_checkpoint"
        )
    if check_files and r_checkpoint and not os.path.isfile(r_checkpoint):
        problems.append(f"r_checkpoint {r_checkpoint!r} does not exist")
    check(
        policy_compute_dtype in ppo.COMPUTE_DTYPES,
        f"policy_compute_dtype must be one of {', '.join(ppo.COMPUTE_DTYPES)}, got {policy_compute_dtype!r}",
    )
    check(
        r_network_inference_dtype in r_network.INFERENCE_DTYPES,
        f"r_network_inference_dtype must be one of {', '.join(r_network.INFERENCE_DTYPES)}, "
        f"got {r_network_inference_dtype!r}",
    )
    check(
        isinstance(eval_every_rollouts, int) and eval_every_rollouts >= 0,
        f"eval_every_rollouts must be >= 0 (0: never), got {eval_every_rollouts!r}",
    )
    bad_splits = [s for s in eval_splits if s not in ("valid", "test")]
    check(not bad_splits, f"eval_splits may hold 'valid' and 'test', got {list(eval_splits)!r}")
    for key, value in (
        ("save_interval", save_interval),
        ("keep_checkpoints", keep_checkpoints),
        ("log_interval", log_interval),
    ):
        check(isinstance(value, int) and value >= 1, f"{key} must be >= 1, got {value!r}")
    try:
        seeding.check_seed(seed)
    except ValueError as error:
        problems.append(str(error))
    if intrinsic_reward is not None:
        # A bonus that can never reach the reward is a silent PPO run: refuse it.
        scales = intrinsic.RewardScales()
        if not scales.scale_surrogate_reward:
            problems.append(
                f"{name} with RewardScales.scale_surrogate_reward = "
                f"{scales.scale_surrogate_reward!r}: the bonus never reaches the reward. Bind "
                "it (the method's .gin does) or use method 'ppo'"
            )
        if batch > 0 and isinstance(num_timesteps, int) and int(timesteps_multiplier * num_timesteps) >= batch:
            vector_steps = (
                ppo.num_updates(int(timesteps_multiplier * num_timesteps), num_env, config.nsteps) * config.nsteps
            )
            if scales.exploration_reward_min_step >= vector_steps > 0:
                problems.append(
                    f"RewardScales.exploration_reward_min_step = {scales.exploration_reward_min_step} "
                    f"vector steps, but the run takes only {vector_steps}: the bonus would never "
                    "be on. Lower it or train longer"
                )
    return problems


@gin.configurable(denylist=["workdir", "scenario"])
def train_policy(
    workdir: str,
    scenario: str,
    num_env: int = 12,
    num_timesteps: int = 20_000_000,
    timesteps_multiplier: float = 1.1,
    r_checkpoint: str | None = None,
    policy_architecture: str = "cnn",
    intrinsic_reward: type[intrinsic.IntrinsicReward] | None = None,
    scale_task_reward_for_eval: float = 1.0,
    eval_every_rollouts: int = 25,
    eval_splits: Sequence[str] = ("valid", "test"),
    save_interval: int = 10,
    keep_checkpoints: int = 2,
    seed: int = 0,
    asynchronous: bool = True,
    env_kwargs: dict | None = None,
    show_progress: bool = True,
    r_network_inference_dtype: str = "float32",
    policy_compute_dtype: str = "float32",
    log_interval: int = 10,
    position_log_stride: int = 0,
    validate_only: bool = False,
) -> dict[str, Any]:
    """Trains a PPO policy on `scenario`; resumes from `workdir/checkpoints` if present.

    The loop: build the envs -> build the method's intrinsic reward -> per update: collect a
    rollout (`ppo.Runner`: bonus, s_task x r + alpha x bonus, GAE) -> PPO update -> logs,
    evaluation, checkpoint.

    Args:
      workdir: str, output folder.
      scenario: str, registered scenario name.
      num_env: int, parallel training envs (also the number of evaluation envs).
      num_timesteps: int, agent steps asked for; PPO runs whole batches of
        int(timesteps_multiplier * num_timesteps) // (num_env * nsteps) updates, as the original.
      timesteps_multiplier: float, the original's 1.1.
      r_checkpoint: str or None, R-network weights (`.h5`, the original's or ours, or
        'pretrained:vizdoom') for episodic curiosity.
      policy_architecture: str, 'cnn' or 'cnn_small' (images; see `ppo.policies`) or 'mlp'
        (state vectors).
      intrinsic_reward: an `intrinsic.IntrinsicReward` class, the method's bonus (gin:
        `train_policy.intrinsic_reward = @EpisodicCuriosity`, `@OnlineEpisodicCuriosity`,
        `@GridOracleBonus`, `@IcmBonus`, `@RndBonus`, `@E3bBonus`), built with an
        `intrinsic.Setup`; None: plain PPO. Its weights, optimizer and counters go into the
        policy checkpoints; its `progress_columns` are extra `progress.csv` columns.
        The reward is `intrinsic.RewardScales` (s_task, alpha, warm-up; gin-bound).
      scale_task_reward_for_eval: float, task-reward factor in evaluation.
      eval_every_rollouts: int, evaluate at the start of every this-many-th rollout (0: never).
      eval_splits: sequence of 'valid' / 'test', the evaluated splits (the original's Ant runs
        had no validation).
      save_interval: int, updates between checkpoints.
      keep_checkpoints: int, newest checkpoints kept.
      seed: int, the run's seed (`seeding`): the policy, the learner's shuffling, TF, the env
        seeds of every split, the method's initialisation and sampling (memories' random
        replacement, ECO's pairs, the ICM).
      asynchronous: bool, subprocess vector envs (False: in-process, for tests).
      env_kwargs: dict or None, scenario constructor overrides.
      show_progress: bool, a tqdm progress bar.
      r_network_inference_dtype: str, precision of the curiosity bonus's R-network inference:
        'float32' (default: the original's numbers), 'bfloat16' (opt-in, faster; changes
        bonuses, see `r_network.RNetwork`) or 'auto' (bf16 on GPUs and CPUs with native bf16).
        Weights and R-network training stay fp32.
      policy_compute_dtype: str, precision of the policy's hidden layers in inference and in
        the PPO update: 'float32' (default: the original's numbers) or the opt-in 'bfloat16' /
        'auto' (Keras mixed_bfloat16: float32 weights and heads, bf16 products; about half
        the PPO update's time on CPUs with AMX / AVX512-BF16; changes the numbers, see
        `ppo.policies`). Checkpoints are the same float32 weights either way.
      log_interval: int, print PPO2's key/value table every this-many updates (and the first
        and last); `progress.csv` and `log.txt` get every update.
      position_log_stride: int, every this-many-th vector step of training, append every env's
        (x, y) position (`info['position']`, where the envs give it) to `positions.csv`
        (total_timesteps, vector_step, env, x, y): the data of coverage maps; 0: off.
      validate_only: bool, only check the arguments and the gin-bound settings (raising one
        ConfigError that lists every problem) and return {}: what the launcher does for every
        stage before running the first. Files (`r_checkpoint`) are not checked then.

    Returns:
      dict with 'updates', 'total_timesteps', 'last_reward_train' and 'checkpoint'.
    """
    config = ppo.PPOConfig()
    r_checkpoint = pretrained.resolve(r_checkpoint)
    cli.raise_if_problems(
        argument_problems(
            scenario,
            config,
            num_env=num_env,
            num_timesteps=num_timesteps,
            timesteps_multiplier=timesteps_multiplier,
            r_checkpoint=r_checkpoint,
            policy_architecture=policy_architecture,
            intrinsic_reward=intrinsic_reward,
            eval_every_rollouts=eval_every_rollouts,
            eval_splits=eval_splits,
            save_interval=save_interval,
            keep_checkpoints=keep_checkpoints,
            seed=seed,
            r_network_inference_dtype=r_network_inference_dtype,
            log_interval=log_interval,
            check_files=not validate_only,
            policy_compute_dtype=policy_compute_dtype,
        ),
        "train_policy arguments",
    )
    if validate_only:
        return {}
    os.makedirs(workdir, exist_ok=True)
    checkpoint_dir = os.path.join(workdir, "checkpoints")
    os.makedirs(checkpoint_dir, exist_ok=True)
    tf.keras.utils.set_random_seed(seed)
    provenance.record(workdir, "train_policy", seed=seed, r_network_path=r_checkpoint)

    make = lambda split, **kwargs: make_policy_envs(
        scenario, num_env, split, asynchronous=asynchronous, env_kwargs=env_kwargs, seed=seed, **kwargs
    )
    train_env = make("train")
    eval_envs = {}
    method = None
    try:
        for split in eval_splits if eval_every_rollouts > 0 else ():
            eval_envs[split] = make(split, scale_task_reward=scale_task_reward_for_eval)
        if intrinsic_reward is not None:
            method = intrinsic_reward(
                intrinsic.Setup(
                    num_envs=num_env,
                    observation_space=train_env.single_observation_space,
                    action_space=train_env.single_action_space,
                    nsteps=config.nsteps,
                    seed=seed,
                    workdir=workdir,
                    r_checkpoint=r_checkpoint,
                    r_network_inference_dtype=r_network_inference_dtype,
                )
            )
        scales = intrinsic.RewardScales()
        policy = ppo.ActorCritic(
            policy_architecture,
            train_env.single_observation_space,
            train_env.single_action_space,
            seed=seed,
            compute_dtype=policy_compute_dtype,
        )
        learner = ppo.PPOLearner(policy, config, seed=seed)
        batch_size = num_env * config.nsteps
        total_updates = ppo.num_updates(int(timesteps_multiplier * num_timesteps), num_env, config.nsteps)
        checkpoint_groups = lambda: {
            "policy": policy.trainable_variables,
            "optimizer": learner.optimizer.variables,
            **(method.variable_groups() if method else {}),
        }

        episode_returns = collections.deque(maxlen=100)
        episode_lengths = collections.deque(maxlen=100)
        start_update, elapsed_before = 0, 0.0
        newest = checkpoint_io.newest_checkpoint(checkpoint_dir)
        if newest:
            attributes = checkpoint_io.read_attributes(newest)
            if attributes.get("policy_architecture") != policy_architecture:
                raise checkpoint_io.CheckpointError(
                    f"checkpoint {newest!r} holds a {attributes.get('policy_architecture')!r} policy, "
                    f"this run builds {policy_architecture!r}"
                )
            checkpoint_io.check_policy_spaces(
                newest, attributes, train_env.single_observation_space, train_env.single_action_space
            )
            learner.optimizer.build(policy.trainable_variables)
            attributes = checkpoint_io.load_variables(newest, checkpoint_groups())
            if method is not None:
                method.restore_state(attributes)
            # The bonus's warm-up continues where it was (ECO).
            scales.step_count = int(attributes.get("curiosity_step_count", int(attributes["update"]) * config.nsteps))
            start_update = int(attributes["update"])
            elapsed_before = float(attributes.get("time_elapsed", 0.0))
            episode_returns.extend(attributes.get("episode_returns", []))
            episode_lengths.extend(attributes.get("episode_lengths", []))
            logging.info("Resuming from %s (update %d of %d).", newest, start_update, total_updates)

        csv_paths = {name: os.path.join(workdir, f"reward_{name}.csv") for name in ("train", "valid", "test")}
        logged_steps = {name: metrics_csv.last_step(path) for name, path in csv_paths.items()}
        progress = progress_log.ProgressLog(workdir)
        diagnostics = progress_log.ProgressLog(workdir, "diagnostics.csv", None)
        last_progress_update = progress.last_logged() or 0

        def log_reward(name: str, step: int, value: float) -> bool:
            """Appends a row unless this step was logged before a resume; True if written."""
            last = logged_steps[name]
            if last is None or step > last:  # updates redone after a resume are not logged twice
                metrics_csv.append_scalar(csv_paths[name], f"reward_{name}", step, value)
                logged_steps[name] = step
                return True
            return False

        summary_writer = tf.summary.create_file_writer(os.path.join(workdir, "tb"))
        runner = ppo.Runner(
            train_env,
            policy,
            config.nsteps,
            config.gamma,
            config.lam,
            intrinsic_reward=method,
            scales=scales,
            position_stride=position_log_stride,
        )
        positions_log = progress_log.ProgressLog(workdir, "positions.csv", None) if position_log_stride else None
        runner.reset(seed=None)
        runner.vector_steps = start_update * config.nsteps  # counted from the start of the run
        for split_env in eval_envs.values():
            split_env.reset()
        start_time = time.time()
        bar = tqdm.tqdm(
            total=total_updates * batch_size,
            initial=start_update * batch_size,
            unit="step",
            desc="train_policy",
            disable=not show_progress,
            dynamic_ncols=True,
        )
        checkpoint = newest
        for update in range(start_update + 1, total_updates + 1):
            rollout_index = update - 1
            if eval_envs and rollout_index % eval_every_rollouts == 0:
                for split, split_env in eval_envs.items():
                    result = evaluate_episodes(split_env, policy)
                    if log_reward(split, rollout_index * batch_size, result["mean_return"]):
                        with summary_writer.as_default(step=rollout_index * batch_size):
                            tf.summary.scalar(f"eval/{split}_return", result["mean_return"])
                            tf.summary.scalar(f"eval/{split}_success_rate", result["success_rate"])
            update_start = time.time()
            batch, rollout = runner.run()
            episode_returns.extend(rollout["episode_returns"])
            episode_lengths.extend(rollout["episode_lengths"])
            stats = learner.train(batch, ppo.annealing_fraction(update, total_updates))
            _check_finite_update(update, stats, policy)
            step = update * batch_size
            fps = int(batch_size / max(time.time() - update_start, 1e-9))
            elapsed = elapsed_before + time.time() - start_time
            reward_train = _mean_or_nan(episode_returns)
            log_reward("train", step, reward_train)
            record = {
                "approxkl": stats["approxkl"],
                "clipfrac": stats["clipfrac"],
                "curiosity_loss": 0.0,
                "eplenmean": _mean_or_nan(episode_lengths),
                "eprewmean": reward_train,
                "explained_variance": ppo.explained_variance(batch["values"], batch["returns"]),
                "fps": fps,
                "nupdates": update,
                "policy_entropy": stats["policy_entropy"],
                "policy_loss": stats["policy_loss"],
                "serial_timesteps": update * config.nsteps,
                "time_elapsed": elapsed,
                "total_timesteps": step,
                "value_loss": stats["value_loss"],
            }
            diagnostics_record = _diagnostics(update, step, batch)
            method_stats = {}
            if method is not None:
                record.update(method.progress_columns())
                method_stats = {**runner.bonus_tracker.means(), **method.statistics(), "step_count": scales.step_count}
                diagnostics_record["curiosity_episode_bonus"] = runner.bonus_tracker.episode_bonus()
                if "memory_size_mean" in method_stats:
                    diagnostics_record["curiosity_memory_size_mean"] = method_stats["memory_size_mean"]
            if update > last_progress_update:  # else redone after a resume: logged before
                table = progress.write(record)
                diagnostics.write(diagnostics_record)
                for vector_step, positions in runner.logged_positions:
                    for env, (x, y) in enumerate(positions):
                        positions_log.write(
                            {"total_timesteps": step, "vector_step": vector_step, "env": env, "x": x, "y": y}
                        )
                if update % log_interval == 0 or update in (1, total_updates):
                    logging.info("\n%s", table)
                    if method_stats.get("episode_bonus") is not None:
                        logging.info(
                            "%s: episode task reward %.3f, episode bonus %.3f (means of the last "
                            "<= 100 episodes), alpha %g",
                            method.name,
                            method_stats["episode_task_reward"],
                            method_stats["episode_bonus"],
                            scales.scale_surrogate_reward,
                        )
                with summary_writer.as_default(step=step):
                    tf.summary.scalar("charts/reward_train", 0.0 if math.isnan(reward_train) else reward_train)
                    tf.summary.scalar("time/fps", fps)
                    for key in (
                        "policy_loss",
                        "value_loss",
                        "policy_entropy",
                        "approxkl",
                        "clipfrac",
                        "learning_rate",
                        "cliprange",
                    ):
                        tf.summary.scalar(f"losses/{key}", stats[key])
                    for key, value in method_stats.items():
                        tf.summary.scalar(f"curiosity/{key}", value)
            runner.logged_positions.clear()
            # After the logs: a kill between the two redoes this update and skips its rows.
            if update % save_interval == 0 or update == total_updates or update == 1:
                checkpoint = os.path.join(checkpoint_dir, f"policy.{update:05d}.h5")
                checkpoint_io.save_variables(
                    checkpoint,
                    checkpoint_groups(),
                    {
                        "update": update,
                        "policy_architecture": policy_architecture,
                        "scenario": scenario,
                        "time_elapsed": elapsed,
                        "seed": seed,
                        "observation_shape": [int(d) for d in train_env.single_observation_space.shape],
                        "frame_stack": int(train_env.frame_stack),
                        "action_space": checkpoint_io.describe_space(train_env.single_action_space),
                        "curiosity_step_count": int(scales.step_count),
                        "episode_returns": [float(r) for r in episode_returns],
                        "episode_lengths": [int(length) for length in episode_lengths],
                        **(method.state_attributes() if method else {}),
                    },
                )
                checkpoint_io.remove_old_checkpoints(checkpoint_dir, keep_checkpoints)
            bar.update(batch_size)
            bar.set_postfix(steps_per_s=fps, reward=f"{reward_train:.3f}")
        bar.close()
        summary_writer.flush()
        return {
            "updates": total_updates,
            "total_timesteps": total_updates * batch_size,
            "last_reward_train": _mean_or_nan(episode_returns),
            "checkpoint": checkpoint,
        }
    finally:
        # Every resource is released even if releasing another one fails (workers, threads, files).
        closers = [train_env.close, *(split_env.close for split_env in eval_envs.values())]
        for close in closers + ([method.close] if method is not None else []):
            try:
                close()
            except Exception:  # pylint: disable=broad-except
                logging.exception("train_policy: error while closing %s", close)


def _diagnostics(update: int, step: int, batch: dict) -> dict[str, float]:
    """What PPO learns from, before the advantages are normalised (`diagnostics.csv`, beyond the
    original's columns)."""
    return {
        "nupdates": update,
        "total_timesteps": step,
        "advantage_mean": float(np.mean(batch["advantages"])),
        "advantage_std": float(np.std(batch["advantages"])),
        "return_mean": float(np.mean(batch["returns"])),
        "return_std": float(np.std(batch["returns"])),
        "value_mean": float(np.mean(batch["values"])),
        "reward_nonzero_fraction": float(np.mean(np.asarray(batch["rewards"]) != 0)),
    }


def _define_flags() -> None:
    """Flags of the entry point (defined only when run as a program)."""
    flags.DEFINE_string("workdir", None, "Output folder.")
    flags.DEFINE_enum("env_name", "vizdoom_sparse", environments.scenario_names(), "Scenario name.")
    flags.DEFINE_integer("num_env", None, "Parallel envs (default: gin's train_policy.num_env, else 12).")
    flags.DEFINE_integer(
        "num_timesteps",
        None,
        "Agent steps, x1.1 and rounded down to whole batches "
        "(default: gin's train_policy.num_timesteps, else 20,000,000).",
    )
    flags.DEFINE_string(
        "r_checkpoint", None, "R-network weights (.h5) for episodic curiosity, or a shipped model (pretrained:vizdoom)."
    )
    flags.DEFINE_enum(
        "policy_architecture",
        None,
        list(ppo.ARCHITECTURES),
        "Policy network (default: gin's train_policy.policy_architecture, else 'cnn').",
    )
    flags.DEFINE_integer(
        "seed",
        None,
        "The run's seed (policy, learner, TF, env seeds, memories); default: gin's train_policy.seed, else 0.",
    )
    flags.DEFINE_multi_string("gin_config", [], "Gin config files.")
    flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings, e.g. 'PPOConfig.nsteps=16'.")
    flags.DEFINE_bool("asynchronous", True, "Subprocess vector envs (given: overrides gin).")
    flags.DEFINE_bool("show_progress", True, "Progress bar (given: overrides gin).")
    flags.DEFINE_integer("intra_op_threads", 0, "TensorFlow threads per op (0: one per core).")
    flags.DEFINE_integer("inter_op_threads", 0, "Concurrent TensorFlow ops (0: TensorFlow's default).")


def main(argv: Sequence[str]) -> None:
    del argv
    config = flags.FLAGS
    if not config.workdir:
        raise app.UsageError("--workdir is required")
    process_control.install_stop_handlers()
    runtime.configure_threads(config.intra_op_threads, config.inter_op_threads)
    from episodic_curiosity import configurables  # noqa: F401 pylint: disable=g-import-not-at-top,unused-import

    cli.parse_gin(config.gin_config, config.gin_bindings)
    # A flag overrides gin only when given (cli.given_flags).
    arguments = cli.given_flags(
        config,
        ("num_env", "num_timesteps", "r_checkpoint", "seed", "policy_architecture", "asynchronous", "show_progress"),
    )
    train_policy(config.workdir, config.env_name, validate_only=True, **arguments)  # before any file
    os.makedirs(config.workdir, exist_ok=True)
    atomic_files.write_text(os.path.join(config.workdir, "flags.txt"), config.flags_into_string())
    logging.info("Gin config:\n%s", gin.config_str())
    atomic_files.write_text(os.path.join(config.workdir, "train_policy.gin"), gin.config_str())
    result = train_policy(config.workdir, config.env_name, **arguments)
    atomic_files.write_text(os.path.join(config.workdir, "train_policy.gin"), gin.operative_config_str())
    print(
        f"updates: {result['updates']}; steps: {result['total_timesteps']}; "
        f"reward_train: {result['last_reward_train']}; checkpoint: {result['checkpoint']}"
    )


def run() -> None:
    """Console script `ec-train-policy`."""
    cli.run(main, define_flags=_define_flags)


if __name__ == "__main__":
    run()
