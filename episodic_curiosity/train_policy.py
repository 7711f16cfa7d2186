r"""Policy training: envs -> curiosity wrapper -> PPO (PPO2 semantics), with logs and resume.

Writes into `--workdir` (the original's names and columns, the original code):

  * `reward_train.csv`: every update, `step` = update x num_env x nsteps, value = mean raw task
    return of the last <= 100 finished training episodes (nan before the first);
  * `reward_valid.csv`, `reward_test.csv`: at the start of every `eval_every_rollouts`-th
    rollout (step 0 included), the mean return of one episode in each of `num_env` evaluation
    envs built with the validation / test seeds, stochastic policy, pure task reward;
  * `progress.csv` + `log.txt`: PPO2's keys (approxkl, clipfrac, eplenmean, eprewmean,
    explained_variance, fps, nupdates, policy_entropy, policy_loss, serial_timesteps,
    time_elapsed, total_timesteps, value_loss, curiosity_loss), plus `icm_*` loss and bonus
    columns for PPO+ICM (`intrinsic_model='icm'`);
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
import re
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
from episodic_curiosity import icm_env_wrapper
from episodic_curiosity import metrics_csv
from episodic_curiosity import online_r_training as online_r_training_lib
from episodic_curiosity import ppo
from episodic_curiosity import pretrained
from episodic_curiosity import process_control
from episodic_curiosity import progress_log
from episodic_curiosity import provenance
from episodic_curiosity import r_network
from episodic_curiosity import runtime
from episodic_curiosity import seeding

_CHECKPOINT_PATTERN = re.compile(r"^policy\.(\d{5})\.h5$")


def split_base_seed(split: str, seed: int = 0) -> int:
    """Env seed of env 0 of a policy split of a non-DMLab scenario (see `seeding`)."""
    return seeding.mix(seeding.env_base_seed(seed), seeding.policy_split_name(split))


def make_policy_envs(scenario: str, num_env: int, split: str, r_net, *, asynchronous: bool,
                     env_kwargs: dict | None, training: bool, exploration_reward: str,
                     scale_task_reward: float = 1.0,
                     scale_surrogate_reward: float = 0.0,
                     deferred_bonus: bool = False,
                     background_bonus: bool = False,
                     seed: int = 0,
                     target_image_shape: Sequence[int] | None = None,
                     frame_stack: int | None = None) -> curiosity_env_wrapper.CuriosityEnvWrapper:
    """The vector env of one split behind its own curiosity wrapper.

    Split rule (`seeding`, the same for every family): 'train' / 'valid' / 'test' play the
    POLICY_TRAINING / VALIDATION / TEST mixer seeds, the R-network's data R_TRAINING and
    R_VALIDATION. DeepMind Lab envs get the mixer seed as `mixerSeed` and the env seeds
    `env_base_seed(seed) + i` (123 + i for seed 0, as the original); other simulators have no
    mixer, so the mixer seed is XORed into their env seeds.

    Args:
      target_image_shape: (h, w, c) of the policy's observations, or None for the gin-bound
        `CuriosityEnvWrapper.target_image_shape` (evaluation of a checkpoint passes its shape).
      frame_stack: int or None, frames per policy observation; None: the gin-bound
        `CuriosityEnvWrapper.frame_stack` (evaluation of a checkpoint passes its own).
    """
    split_name = seeding.policy_split_name(split)
    if environments.get_scenario(scenario).family == "dmlab":
        vec = environments.make_vector_env(scenario, num_env, base_seed=seeding.env_base_seed(seed),
                                           asynchronous=asynchronous,
                                           env_kwargs={"mixer_seed": split_name, **(env_kwargs or {})})
    else:
        vec = environments.make_vector_env(scenario, num_env, base_seed=split_base_seed(split, seed),
                                           asynchronous=asynchronous, env_kwargs=env_kwargs)
    shape = {} if target_image_shape is None else {"target_image_shape": tuple(target_image_shape)}
    if frame_stack is not None:
        shape["frame_stack"] = int(frame_stack)
    if training:  # settings come from gin (the method's configuration)
        return curiosity_env_wrapper.CuriosityEnvWrapper(vec, r_net, exploration_reward=exploration_reward,
                                                         deferred_bonus=deferred_bonus,
                                                         background_bonus=background_bonus,
                                                         memory_seed=seed, **shape)
    # Evaluation: the task reward alone unless configured otherwise, never the training bindings.
    return curiosity_env_wrapper.CuriosityEnvWrapper(
        vec, r_net, exploration_reward=exploration_reward, scale_task_reward=scale_task_reward,
        scale_surrogate_reward=scale_surrogate_reward, exploration_reward_min_step=0,
        bonus_reward_additive_term=0.0, similarity_threshold=0.5, log_statistics=False,
        memory_seed=seed, **shape)


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


def newest_checkpoint(directory: str) -> str | None:
    if not os.path.isdir(directory):
        return None
    found = sorted(n for n in os.listdir(directory) if _CHECKPOINT_PATTERN.match(n))
    return os.path.join(directory, found[-1]) if found else None


def _checkpoint_groups(policy, learner, *side_models):
    """Policy and optimizer variables, plus those of side models (ECO trainer, ICM) that are not None."""
    groups = {"policy": policy.trainable_variables, "optimizer": learner.optimizer.variables}
    for model in side_models:
        if model is not None:
            groups.update(model.variable_groups())
    return groups


def load_policy(path: str, observation_space, action_space) -> ppo.ActorCritic:
    """Builds the policy a checkpoint was saved from and loads its weights.

    Raises checkpoint_io.CheckpointError, naming both and what to pass, if the spaces differ
    from the observation shape / action space the checkpoint records (when it records them).
    """
    attributes = checkpoint_io.read_attributes(path)
    checkpoint_io.check_policy_spaces(path, attributes, observation_space, action_space)
    policy = ppo.ActorCritic(attributes["policy_architecture"], observation_space, action_space)
    checkpoint_io.load_variables(path, {"policy": policy.trainable_variables})
    return policy


def _check_finite_update(update: int, stats: dict, policy: ppo.ActorCritic) -> None:
    """Stops the run (before anything is saved) if an update produced non-finite values."""
    for key in ("policy_loss", "value_loss", "policy_entropy", "approxkl"):
        if key in stats and not math.isfinite(float(stats[key])):
            raise ppo.NonFiniteError(f"non-finite {key} ({stats[key]}) in PPO update {update}; no "
                                     "checkpoint was written from it (the previous ones are kept)")
    for variable in policy.trainable_variables:
        if not np.all(np.isfinite(variable.numpy())):
            raise ppo.NonFiniteError(f"non-finite policy weights ({variable.name}) after PPO update "
                                     f"{update}; no checkpoint was written from them")


def _mean_or_nan(values) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def _gin_value(name: str, default):
    """The gin binding of `name` (e.g. 'CuriosityEnvWrapper.scale_surrogate_reward'), else `default`."""
    try:
        return gin.query_parameter(name)
    except ValueError:
        return default


def argument_problems(scenario: str, config: ppo.PPOConfig, *, num_env: int, num_timesteps: int,
                      timesteps_multiplier: float, r_checkpoint: str | None, policy_architecture: str,
                      exploration_reward: str, eval_exploration_reward: str, eval_every_rollouts: int,
                      eval_splits: Sequence[str], save_interval: int, keep_checkpoints: int, seed: int,
                      online_r_training: bool, intrinsic_model: str, r_network_inference_dtype: str,
                      log_interval: int, check_files: bool = True) -> list[str]:
    """Every problem of a train_policy call (and of the gin settings it will use), as text."""
    problems = []
    try:
        environments.get_scenario(scenario).constructor()  # unknown, unavailable or not installed
    except (environments.UnknownScenarioError, environments.ScenarioNotAvailableError,
            environments.MissingDependencyError) as error:
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
    check(isinstance(num_timesteps, int) and batch > 0
          and int(timesteps_multiplier * num_timesteps) >= batch,
          f"num_timesteps={num_timesteps!r} is less than one batch of {batch} steps "
          f"(num_env x PPOConfig.nsteps; num_timesteps x {timesteps_multiplier} is what runs)")
    check(policy_architecture in ppo.ARCHITECTURES,
          f"policy_architecture must be one of {', '.join(ppo.ARCHITECTURES)}, got {policy_architecture!r}")
    for name, mode in (("exploration_reward", exploration_reward),
                       ("eval_exploration_reward", eval_exploration_reward)):
        check(mode in curiosity_env_wrapper.EXPLORATION_REWARDS,
              f"train_policy.{name} must be one of {', '.join(curiosity_env_wrapper.EXPLORATION_REWARDS)}, "
              f"got {mode!r}")
    check(intrinsic_model in ("none", "icm"), f"unknown intrinsic_model {intrinsic_model!r}; valid: none, icm")
    if intrinsic_model == "icm" and (exploration_reward != "none" or online_r_training):
        problems.append(f"intrinsic_model='icm' needs exploration_reward='none' and no online R-network "
                        f"training, got exploration_reward={exploration_reward!r}, "
                        f"online_r_training={online_r_training}")
    if exploration_reward == "episodic_curiosity" and not r_checkpoint and not online_r_training:
        problems.append("exploration_reward='episodic_curiosity' needs an R-network: pass r_checkpoint "
                        "(--r_checkpoint) or train it online (method ppo_plus_eco)")
    if check_files and r_checkpoint and not os.path.isfile(r_checkpoint):
        problems.append(f"r_checkpoint {r_checkpoint!r} does not exist")
    check(r_network_inference_dtype in r_network.INFERENCE_DTYPES,
          f"r_network_inference_dtype must be one of {', '.join(r_network.INFERENCE_DTYPES)}, "
          f"got {r_network_inference_dtype!r}")
    check(isinstance(eval_every_rollouts, int) and eval_every_rollouts >= 0,
          f"eval_every_rollouts must be >= 0 (0: never), got {eval_every_rollouts!r}")
    bad_splits = [s for s in eval_splits if s not in ("valid", "test")]
    check(not bad_splits, f"eval_splits may hold 'valid' and 'test', got {list(eval_splits)!r}")
    for name, value in (("save_interval", save_interval), ("keep_checkpoints", keep_checkpoints),
                        ("log_interval", log_interval)):
        check(isinstance(value, int) and value >= 1, f"{name} must be >= 1, got {value!r}")
    try:
        seeding.check_seed(seed)
    except ValueError as error:
        problems.append(str(error))
    if exploration_reward != "none":
        # A bonus that can never reach the reward is a silent PPO run: refuse it.
        alpha = _gin_value("CuriosityEnvWrapper.scale_surrogate_reward", 0.0)
        warm_up = _gin_value("CuriosityEnvWrapper.exploration_reward_min_step", 0)
        if not alpha:
            problems.append(f"exploration_reward={exploration_reward!r} with "
                            f"CuriosityEnvWrapper.scale_surrogate_reward = {alpha!r}: the bonus never "
                            "reaches the reward. Bind it (the method's .gin does) or use method 'ppo'")
        if batch > 0 and isinstance(num_timesteps, int) and int(timesteps_multiplier * num_timesteps) >= batch:
            vector_steps = ppo.num_updates(int(timesteps_multiplier * num_timesteps), num_env,
                                           config.nsteps) * config.nsteps
            if warm_up >= vector_steps > 0:
                problems.append(f"CuriosityEnvWrapper.exploration_reward_min_step = {warm_up} vector steps, "
                                f"but the run takes only {vector_steps}: the bonus would never be on. "
                                "Lower it or train longer")
    return problems


@gin.configurable(denylist=["workdir", "scenario"])
def train_policy(workdir: str,
                 scenario: str,
                 num_env: int = 12,
                 num_timesteps: int = 20_000_000,
                 timesteps_multiplier: float = 1.1,
                 r_checkpoint: str | None = None,
                 policy_architecture: str = "cnn",
                 exploration_reward: str | None = None,
                 eval_exploration_reward: str = "none",
                 scale_task_reward_for_eval: float = 1.0,
                 scale_surrogate_reward_for_eval: float = 0.0,
                 eval_every_rollouts: int = 25,
                 eval_splits: Sequence[str] = ("valid", "test"),
                 save_interval: int = 10,
                 keep_checkpoints: int = 2,
                 seed: int = 0,
                 asynchronous: bool = True,
                 env_kwargs: dict | None = None,
                 show_progress: bool = True,
                 online_r_training: bool = False,
                 intrinsic_model: str = "none",
                 r_network_inference_dtype: str = "float32",
                 log_interval: int = 10,
                 deferred_curiosity_bonus: bool = True,
                 background_curiosity_bonus: bool = True,
                 validate_only: bool = False) -> dict[str, Any]:
    """Trains a PPO policy on `scenario`; resumes from `workdir/checkpoints` if present.

    Args:
      workdir: str, output folder.
      scenario: str, registered scenario name.
      num_env: int, parallel training envs (also the number of evaluation envs).
      num_timesteps: int, agent steps asked for; PPO runs whole batches of
        int(timesteps_multiplier * num_timesteps) // (num_env * nsteps) updates, as the original.
      timesteps_multiplier: float, the original's 1.1.
      r_checkpoint: str or None, R-network weights (`.h5`, the original's or ours).
      policy_architecture: str, 'cnn' or 'cnn_small' (images; see `ppo.policies`) or 'mlp'
        (state vectors).
      exploration_reward: str or None, the training wrapper's mode; None = 'episodic_curiosity'
        with an R-network, else 'none'.
      eval_exploration_reward: str, mode of the evaluation wrappers ('oracle' for the
        no-reward scenarios, whose evaluation score is the oracle's).
      scale_task_reward_for_eval: float, task-reward factor in evaluation.
      scale_surrogate_reward_for_eval: float, bonus factor in evaluation.
      eval_every_rollouts: int, evaluate at the start of every this-many-th rollout (0: never).
      eval_splits: sequence of 'valid' / 'test', the evaluated splits (the original's Ant runs
        had no validation).
      save_interval: int, updates between checkpoints.
      keep_checkpoints: int, newest checkpoints kept.
      seed: int, the run's seed (`seeding`): the policy, the learner's shuffling, TF, the env
        seeds of every split, the memories' random replacement, ECO's sampling, the ICM.
      asynchronous: bool, subprocess vector envs (False: in-process, for tests).
      env_kwargs: dict or None, scenario constructor overrides.
      show_progress: bool, a tqdm progress bar.
      online_r_training: bool, PPO+ECO: train the R-network online (`OnlineRNetworkTrainer`,
        starting from `r_checkpoint` or a random init); its weights, optimizer and counters are
        stored in the policy checkpoints and its frame history in `workdir/eco_history/`.
      intrinsic_model: str, 'none' or 'icm' (PPO+ICM: the training env is wrapped in an
        `icm_env_wrapper.IcmEnvWrapper`, trained once per rollout and checkpointed with the
        policy; needs exploration_reward 'none'; its losses are extra `progress.csv` columns
        and `curiosity_loss` is the ICM's loss, as in PPO2).
      r_network_inference_dtype: str, precision of the curiosity bonus's R-network inference:
        'float32' (default: the original's numbers), 'bfloat16' (opt-in, faster; changes
        bonuses, see `r_network.RNetwork`) or 'auto' (bf16 on GPUs and CPUs with native bf16).
        Weights and R-network training stay fp32.
      log_interval: int, print PPO2's key/value table every this-many updates (and the first
        and last); `progress.csv` and `log.txt` get every update.
      deferred_curiosity_bonus: bool, compute the training env's episodic-curiosity bonus once
        per rollout with batched embeddings (`CuriosityEnvWrapper.deferred_bonus`; same
        rewards, faster); not used with `online_r_training`.
      background_curiosity_bonus: bool, with the deferred bonus: embed and compare each chunk
        of the rollout's frames in a background thread while the envs step
        (`CuriosityEnvWrapper.background_bonus`; identical rewards). +2 to +4 % end to end on
        a saturated 2-core CPU (README "Performance"); more where the CPU idles during env
        steps (an R-network on a GPU, many cores).
      validate_only: bool, only check the arguments and the gin-bound settings (raising one
        ConfigError that lists every problem) and return {}: what the launcher does for every
        stage before running the first. Files (`r_checkpoint`) are not checked then.

    Returns:
      dict with 'updates', 'total_timesteps', 'last_reward_train' and 'checkpoint'.
    """
    config = ppo.PPOConfig()
    r_checkpoint = pretrained.resolve(r_checkpoint)
    if exploration_reward is None:
        exploration_reward = ("episodic_curiosity" if r_checkpoint or online_r_training else "none")
    cli.raise_if_problems(argument_problems(
        scenario, config, num_env=num_env, num_timesteps=num_timesteps,
        timesteps_multiplier=timesteps_multiplier, r_checkpoint=r_checkpoint,
        policy_architecture=policy_architecture, exploration_reward=exploration_reward,
        eval_exploration_reward=eval_exploration_reward, eval_every_rollouts=eval_every_rollouts,
        eval_splits=eval_splits, save_interval=save_interval, keep_checkpoints=keep_checkpoints,
        seed=seed, online_r_training=online_r_training, intrinsic_model=intrinsic_model,
        r_network_inference_dtype=r_network_inference_dtype, log_interval=log_interval,
        check_files=not validate_only), "train_policy arguments")
    if validate_only:
        return {}
    os.makedirs(workdir, exist_ok=True)
    checkpoint_dir = os.path.join(workdir, "checkpoints")
    os.makedirs(checkpoint_dir, exist_ok=True)
    tf.keras.utils.set_random_seed(seed)
    r_net = (r_network.RNetwork(weights_path=r_checkpoint, inference_dtype=r_network_inference_dtype)
             if r_checkpoint else None)
    if online_r_training and r_net is None:  # random init, as the original's ECO
        r_net = r_network.RNetwork(inference_dtype=r_network_inference_dtype)
    provenance.record(workdir, "train_policy", seed=seed, r_network_path=r_checkpoint)

    make = lambda split, training, mode, **scales: make_policy_envs(
        scenario, num_env, split, r_net, asynchronous=asynchronous, env_kwargs=env_kwargs,
        training=training, exploration_reward=mode, seed=seed, **scales)
    train_env = make("train", True, exploration_reward,
                     deferred_bonus=deferred_curiosity_bonus and not online_r_training,
                     background_bonus=background_curiosity_bonus)
    curiosity_env = train_env  # its step counter gates the bonus; checkpointed with the policy
    icm_wrapper = None
    if intrinsic_model == "icm":
        train_env = icm_wrapper = icm_env_wrapper.IcmEnvWrapper(train_env, config.nsteps, seed=seed)
    eval_envs = {}
    if eval_every_rollouts > 0:
        for split in eval_splits:
            if split not in ("valid", "test"):
                raise ValueError(f"eval_splits may hold 'valid' and 'test', got {split!r}")
            eval_envs[split] = make(split, False, eval_exploration_reward,
                                    scale_task_reward=scale_task_reward_for_eval,
                                    scale_surrogate_reward=scale_surrogate_reward_for_eval)
    online_trainer = None
    if online_r_training:
        online_trainer = online_r_training_lib.OnlineRNetworkTrainer(
            r_net, num_env, r_net.input_shape, os.path.join(workdir, "eco_history", "frames.u8"), seed=seed)
        train_env.add_observer(online_trainer)
        online_trainer.add_weights_listener(train_env.refresh_memory_keys)
        # The original's online weight files: r_network_weights.00011.h5, .00021, ... (10 epochs).
        online_trainer.add_weights_listener(lambda: r_net.save_weights(os.path.join(
            workdir, f"r_network_weights.{online_trainer.trainings * online_trainer.num_epochs + 1:05d}.h5")))
    try:
        policy = ppo.ActorCritic(policy_architecture, train_env.single_observation_space,
                                 train_env.single_action_space, seed=seed)
        learner = ppo.PPOLearner(policy, config, seed=seed)
        batch_size = num_env * config.nsteps
        total_updates = ppo.num_updates(int(timesteps_multiplier * num_timesteps), num_env, config.nsteps)
        if total_updates < 1:
            raise ValueError(f"num_timesteps={num_timesteps} is less than one batch of "
                             f"{batch_size} steps (num_env x nsteps)")

        episode_returns = collections.deque(maxlen=100)
        episode_lengths = collections.deque(maxlen=100)
        start_update, elapsed_before = 0, 0.0
        newest = newest_checkpoint(checkpoint_dir)
        if newest:
            attributes = checkpoint_io.read_attributes(newest)
            if attributes.get("policy_architecture") != policy_architecture:
                raise checkpoint_io.CheckpointError(
                    f"checkpoint {newest!r} holds a {attributes.get('policy_architecture')!r} policy, "
                    f"this run builds {policy_architecture!r}")
            checkpoint_io.check_policy_spaces(newest, attributes, train_env.single_observation_space,
                                              train_env.single_action_space)
            learner.optimizer.build(policy.trainable_variables)
            attributes = checkpoint_io.load_variables(
                newest, _checkpoint_groups(policy, learner, online_trainer, icm_wrapper))
            for side_model in (online_trainer, icm_wrapper):
                if side_model is not None:
                    side_model.restore_attributes(attributes)
            # Counters that gate behaviour continue where they were (the ECO warm-up).
            curiosity_env.step_count = int(attributes.get("curiosity_step_count",
                                                          int(attributes["update"]) * config.nsteps))
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
        runner = ppo.Runner(train_env, policy, config.nsteps, config.gamma, config.lam)
        runner.reset(seed=None)
        for split_env in eval_envs.values():
            split_env.reset()
        start_time = time.time()
        bar = tqdm.tqdm(total=total_updates * batch_size, initial=start_update * batch_size, unit="step",
                        desc="train_policy", disable=not show_progress, dynamic_ncols=True)
        checkpoint = newest
        stats = {}
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
            frac = ppo.annealing_fraction(update, total_updates)
            stats = learner.train(batch, frac)
            _check_finite_update(update, stats, policy)
            step = update * batch_size
            fps = int(batch_size / max(time.time() - update_start, 1e-9))
            elapsed = elapsed_before + time.time() - start_time
            reward_train = _mean_or_nan(episode_returns)
            log_reward("train", step, reward_train)
            record = {
                "approxkl": stats["approxkl"], "clipfrac": stats["clipfrac"], "curiosity_loss": 0.0,
                "eplenmean": _mean_or_nan(episode_lengths), "eprewmean": reward_train,
                "explained_variance": ppo.explained_variance(batch["values"], batch["returns"]),
                "fps": fps, "nupdates": update, "policy_entropy": stats["policy_entropy"],
                "policy_loss": stats["policy_loss"], "serial_timesteps": update * config.nsteps,
                "time_elapsed": elapsed, "total_timesteps": step, "value_loss": stats["value_loss"],
            }
            # Beyond the original's columns (diagnostics.csv): what PPO learns from, before the
            # advantages are normalised, and for episodic curiosity what the bonus does.
            diagnostics_record = {
                "nupdates": update, "total_timesteps": step,
                "advantage_mean": float(np.mean(batch["advantages"])),
                "advantage_std": float(np.std(batch["advantages"])),
                "return_mean": float(np.mean(batch["returns"])), "return_std": float(np.std(batch["returns"])),
                "value_mean": float(np.mean(batch["values"])),
                "reward_nonzero_fraction": float(np.mean(np.asarray(batch["rewards"]) != 0)),
            }
            if icm_wrapper is not None:
                record.update(icm_wrapper.progress_record(), curiosity_loss=icm_wrapper.last_losses["loss"])
            if curiosity_env.memory is not None:
                curiosity_stats = curiosity_env.statistics()
                diagnostics_record.update(
                    curiosity_episode_bonus=curiosity_stats.get("episode_bonus", math.nan),
                    curiosity_memory_size_mean=curiosity_stats["memory_size_mean"])
            if update > last_progress_update:  # else redone after a resume: logged before
                table = progress.write(record)
                diagnostics.write(diagnostics_record)
                if update % log_interval == 0 or update in (1, total_updates):
                    logging.info("\n%s", table)
                with summary_writer.as_default(step=step):
                    tf.summary.scalar("charts/reward_train", 0.0 if math.isnan(reward_train) else reward_train)
                    tf.summary.scalar("time/fps", fps)
                    for key in ("policy_loss", "value_loss", "policy_entropy", "approxkl", "clipfrac",
                                "learning_rate", "cliprange"):
                        tf.summary.scalar(f"losses/{key}", stats[key])
                    for key, value in train_env.statistics().items():
                        tf.summary.scalar(f"curiosity/{key}", value)
            # After the logs: a kill between the two redoes this update and skips its rows.
            if update % save_interval == 0 or update == total_updates or update == 1:
                checkpoint = os.path.join(checkpoint_dir, f"policy.{update:05d}.h5")
                groups = _checkpoint_groups(policy, learner, online_trainer, icm_wrapper)
                checkpoint_io.save_variables(checkpoint, groups, {
                    "update": update, "policy_architecture": policy_architecture,
                    "scenario": scenario, "time_elapsed": elapsed, "seed": seed,
                    "observation_shape": [int(d) for d in train_env.single_observation_space.shape],
                    "frame_stack": int(curiosity_env.frame_stack),
                    "action_space": checkpoint_io.describe_space(train_env.single_action_space),
                    "curiosity_step_count": int(curiosity_env.step_count),
                    "episode_returns": [float(r) for r in episode_returns],
                    "episode_lengths": [int(l) for l in episode_lengths],
                    **(online_trainer.state_attributes() if online_trainer else {}),
                    **(icm_wrapper.state_attributes() if icm_wrapper else {})})
                for old in sorted(n for n in os.listdir(checkpoint_dir) if _CHECKPOINT_PATTERN.match(n))[:-keep_checkpoints]:
                    os.remove(os.path.join(checkpoint_dir, old))
            bar.update(batch_size)
            bar.set_postfix(steps_per_s=fps, reward=f"{reward_train:.3f}")
        bar.close()
        summary_writer.flush()
        return {"updates": total_updates, "total_timesteps": total_updates * batch_size,
                "last_reward_train": _mean_or_nan(episode_returns), "checkpoint": checkpoint}
    finally:
        train_env.close()
        for split_env in eval_envs.values():
            split_env.close()
        if online_trainer is not None:
            online_trainer.history.close()


def _define_flags() -> None:
    """Flags of the entry point (defined only when run as a program)."""
    flags.DEFINE_string("workdir", None, "Output folder.")
    flags.DEFINE_enum("env_name", "vizdoom_sparse", environments.scenario_names(), "Scenario name.")
    flags.DEFINE_integer("num_env", 12, "Parallel envs.")
    flags.DEFINE_integer("num_timesteps", 20_000_000, "Agent steps (x1.1, rounded down to whole batches).")
    flags.DEFINE_string("r_checkpoint", None, "R-network weights (.h5) for episodic curiosity, or a shipped "
                        "model (pretrained:vizdoom).")
    flags.DEFINE_enum("policy_architecture", None, list(ppo.ARCHITECTURES),
                      "Policy network (default: gin's train_policy.policy_architecture, else 'cnn').")
    flags.DEFINE_integer("seed", None, "The run's seed (policy, learner, TF, env seeds, memories); "
                         "default: gin's train_policy.seed, else 0.")
    flags.DEFINE_multi_string("gin_config", [], "Gin config files.")
    flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings, e.g. 'PPOConfig.nsteps=16'.")
    flags.DEFINE_bool("asynchronous", True, "Subprocess vector envs.")
    flags.DEFINE_bool("show_progress", True, "Progress bar.")
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
    optional = {name: getattr(config, name) for name in ("seed", "policy_architecture")
                if getattr(config, name) is not None}
    arguments = dict(num_env=config.num_env, num_timesteps=config.num_timesteps,
                     r_checkpoint=config.r_checkpoint, asynchronous=config.asynchronous,
                     show_progress=config.show_progress, **optional)
    train_policy(config.workdir, config.env_name, validate_only=True, **arguments)  # before any file
    os.makedirs(config.workdir, exist_ok=True)
    atomic_files.write_text(os.path.join(config.workdir, "flags.txt"), config.flags_into_string())
    logging.info("Gin config:\n%s", gin.config_str())
    atomic_files.write_text(os.path.join(config.workdir, "train_policy.gin"), gin.config_str())
    result = train_policy(config.workdir, config.env_name, **arguments)
    atomic_files.write_text(os.path.join(config.workdir, "train_policy.gin"), gin.operative_config_str())
    print(f"updates: {result['updates']}; steps: {result['total_timesteps']}; "
          f"reward_train: {result['last_reward_train']}; checkpoint: {result['checkpoint']}")


def run() -> None:
    """Console script `ec-train-policy`."""
    cli.run(main, define_flags=_define_flags)


if __name__ == "__main__":
    run()
