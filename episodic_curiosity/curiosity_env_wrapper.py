"""The curiosity vector-env wrapper: turns "similarity to episodic memory" into a reward.

Per vector step, in the original's order (the original code):

  1. step the envs; observers (e.g. the online R-net trainer) get the untouched data;
  2. count the step;
  3. bonus, by `exploration_reward`:
     * `episodic_curiosity`: embed the curiosity input (`info['frame']` if the envs provide
       it, else the observation) of all envs in one call, compare with all memory entries in
       one comparator call, aggregate; bonus = beta - aggregate with beta = 0.5 +
       `bonus_reward_additive_term`, and 0 on an episode's last step; then update memories:
       an env whose episode ended is emptied and gets the current embedding, any other env
       adds it iff aggregate < `similarity_threshold`;
     * `oracle`: the grid oracle's reward of the step's position, then the oracles of ended
       episodes are cleared;
     * `none`: 0;
  4. reward = `scale_task_reward` * r_env + alpha * bonus, alpha = `scale_surrogate_reward`,
     forced to 0 while fewer than `exploration_reward_min_step` vector steps were taken;
  5. images are resized to `target_image_shape` (84x84x3) with area interpolation for the
     policy, and so is `info['final_obs']`; with `frame_stack` k > 1 the policy sees the last
     k resized frames of the episode stacked on the channel axis (an episode's first
     observation repeated k times; the original fed one frame); `info['task_reward']` and
     `info['curiosity_bonus']` carry the parts. The bonus always uses the single current
     frame.

Auto-reset (see `environments/vector.py`): SAME_STEP. On an ending step env i's observation is
the next episode's first one, so that is what the emptied memory starts with, exactly as in
the original (whose vector envs also reset within the ending step). Position-based oracles use
the ended episode's last info (`info['final_info']`), which is what the original's done-step
info held.

Each wrapper owns its memories and oracles; `reset()` empties them (the original shared the
memory objects between the training and evaluation wrappers, so every evaluation wiped the
training memories).
"""

from __future__ import annotations

import collections
import concurrent.futures
from typing import Any, Protocol, Sequence

from absl import logging
import cv2
import gin
import gymnasium as gym
import numpy as np

from episodic_curiosity import episodic_memory
from episodic_curiosity import oracle

EXPLORATION_REWARDS = ("episodic_curiosity", "oracle", "none")
_LOG_EVERY_STEPS = 1000


class ReachabilityNetwork(Protocol):
    """What the wrapper needs of an R-network (`r_network.RNetwork` provides it)."""

    input_shape: tuple[int, ...]

    def embed(self, frames: np.ndarray) -> np.ndarray: ...

    def similarity(self, embeddings_a: np.ndarray, embeddings_b: np.ndarray) -> np.ndarray: ...


def resize_frames(frames: np.ndarray, target_shape: Sequence[int]) -> np.ndarray:
    """Resizes uint8 frames [N, H, W, C] to [N, h, w, c] with area interpolation.

    c = 1 converts RGB to grey first, as the original did for 1-channel targets. (OpenCV's
    area resize takes at most 4 channels, so frames are resized one by one: ~0.1 ms each.)
    """
    frames = np.asarray(frames)
    height, width, target_channels = target_shape
    channels = frames.shape[-1]
    if target_channels not in (channels, 1):
        raise ValueError(f"cannot resize {channels}-channel frames to {target_channels} channels")
    out = np.empty((len(frames), height, width, target_channels), np.uint8)
    for i, frame in enumerate(frames):
        if target_channels == 1 and channels == 3:
            frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        out[i] = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA).reshape(height, width, -1)
    return out


def with_info(infos: dict, key: str, values: np.ndarray) -> None:
    """Sets a per-env info entry the way Gymnasium's vector envs do (value + `_key` mask)."""
    infos[key] = values
    infos[f"_{key}"] = np.ones(len(values), bool)


@gin.configurable(denylist=["env", "r_network"])
class CuriosityEnvWrapper(gym.vector.VectorWrapper):
    """Adds the episodic-curiosity (or oracle) bonus to a vector env's reward."""

    def __init__(self,
                 env: gym.vector.VectorEnv,
                 r_network: ReachabilityNetwork | None = None,
                 exploration_reward: str = "episodic_curiosity",
                 scale_task_reward: float = 1.0,
                 scale_surrogate_reward: float = 0.0,
                 exploration_reward_min_step: int = 0,
                 bonus_reward_additive_term: float = 0.0,
                 similarity_threshold: float = 0.5,
                 target_image_shape: Sequence[int] | None = (84, 84, 3),
                 memory_seed: int = 0,
                 log_statistics: bool = True,
                 deferred_bonus: bool = False,
                 embedding_batch_size: int = 128,
                 background_bonus: bool = False,
                 frame_stack: int = 1):
        """Args:
          env: the vector env (SAME_STEP auto-reset).
          r_network: the R-network (needed for `episodic_curiosity`).
          exploration_reward: str, 'episodic_curiosity', 'oracle' or 'none'.
          scale_task_reward: float, s_task, factor of the env reward.
          scale_surrogate_reward: float, alpha, factor of the bonus.
          exploration_reward_min_step: int, vector steps before the bonus counts.
          bonus_reward_additive_term: float, beta = 0.5 + this.
          similarity_threshold: float, tau: add to memory iff aggregate < tau.
          target_image_shape: (h, w, c) of the policy's image input, or None to keep frames.
          memory_seed: int, seeds `random` memory replacement.
          log_statistics: bool, log episode reward/bonus averages every 1,000 vector steps.
          deferred_bonus: bool, `episodic_curiosity` only: `step` returns the scaled task
            reward and keeps the curiosity frames; `rollout_rewards` (called by the PPO
            Runner at the end of a rollout, before GAE) embeds all of them in large batches
            and then runs the memory comparisons and updates step by step, in the same order
            as the per-step computation, so the rewards are the same (up to float rounding of
            batch composition). Faster on CPUs (batch-128 convolutions run ~1.4x faster per
            frame than batch-12 ones). Not for ECO, whose R-network changes during a rollout.
          embedding_batch_size: int, deferred bonus: frames per embedding call, rounded up to
            whole vector steps (the comparisons of a step need all of its envs' embeddings).
          background_bonus: bool, deferred bonus only: process each chunk of
            `embedding_batch_size` frames in a background thread as soon as the steps are
            taken, so the embedding overlaps with env stepping and policy inference;
            `rollout_rewards` then only waits for the last chunk. Chunks run one at a time, in
            order, with the same arithmetic as without it: the rewards are identical.
          frame_stack: int, resized frames per policy observation (1: the original's single
            frame; the laptop scale stacks 4 grey 42x42 frames, as the ICM paper did for
            VizDoom). Needs image observations and a `target_image_shape`.
        """
        super().__init__(env)
        if exploration_reward not in EXPLORATION_REWARDS:
            raise ValueError(f"unknown exploration_reward {exploration_reward!r}; "
                             f"valid: {', '.join(EXPLORATION_REWARDS)}")
        if exploration_reward == "episodic_curiosity" and r_network is None:
            raise ValueError("exploration_reward='episodic_curiosity' needs an r_network")
        if exploration_reward != "none" and not scale_surrogate_reward:
            logging.warning("CuriosityEnvWrapper: exploration_reward=%r with scale_surrogate_reward "
                            "(alpha, gin: CuriosityEnvWrapper.scale_surrogate_reward) = %r: the bonus is "
                            "computed but never added to the reward.", exploration_reward,
                            scale_surrogate_reward)
        self.exploration_reward = exploration_reward
        self.r_network = r_network
        self.scale_task_reward = scale_task_reward
        self.scale_surrogate_reward = scale_surrogate_reward
        self.exploration_reward_min_step = exploration_reward_min_step
        self.bonus_offset = 0.5 + bonus_reward_additive_term
        self.similarity_threshold = similarity_threshold
        self.step_count = 0
        self.log_statistics = log_statistics
        self._observers = []
        single_space = env.single_observation_space
        self._resize_to = None
        self.frame_stack = frame_stack
        if isinstance(frame_stack, bool) or not isinstance(frame_stack, (int, np.integer)) or frame_stack < 1:
            raise ValueError(f"frame_stack must be an int >= 1, got {frame_stack!r}")
        if target_image_shape is not None and len(single_space.shape) >= 3:
            self._resize_to = tuple(int(d) for d in target_image_shape)
            height, width, channels = self._resize_to
            self.single_observation_space = gym.spaces.Box(0, 255, (height, width, channels * frame_stack), np.uint8)
            self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        elif frame_stack > 1:
            raise ValueError(f"frame_stack={frame_stack} needs image observations resized by the wrapper "
                             f"(target_image_shape), got observations of shape {single_space.shape} and "
                             f"target_image_shape={target_image_shape}")
        self._stack = None  # [N, h, w, c * k], the policy's last observation (frame_stack > 1)
        self.memory = None
        # R-networks with comparator keys (r_network.RNetwork) are compared through them.
        self._use_keys = all(hasattr(r_network, name) for name in
                             ("query_keys", "memory_keys", "similarity_from_keys"))
        self._dense_similarity_fn = getattr(r_network, "memory_similarities", None) if self._use_keys else None
        if exploration_reward == "episodic_curiosity":
            probe = r_network.embed(np.zeros((1, *r_network.input_shape), np.uint8))
            key_size = r_network.memory_keys(probe).shape[1] if self._use_keys else None
            self.memory = episodic_memory.EpisodicMemory(self.num_envs, embedding_size=probe.shape[1],
                                                         seed=memory_seed, key_size=key_size)
        self.oracle = oracle.GridOracle(self.num_envs) if exploration_reward == "oracle" else None
        self.deferred_bonus = bool(deferred_bonus) and exploration_reward == "episodic_curiosity"
        self.embedding_batch_size = int(embedding_batch_size)
        if self.embedding_batch_size < 1:
            raise ValueError(f"embedding_batch_size must be >= 1, got {embedding_batch_size}")
        self._steps_per_chunk = -(-self.embedding_batch_size // self.num_envs)
        self._pending = []  # deferred steps: (frames, dones, task rewards, alpha, memory infos)
        # Background processing of the deferred bonus: one worker thread, so chunks (and their
        # memory updates) run in submission order; `_futures` hold each chunk's bonuses.
        self._executor = (concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="curiosity_bonus")
                          if self.deferred_bonus and background_bonus else None)
        self._futures = []
        self._submitted_steps = 0
        self._episode_task_reward = np.zeros(self.num_envs)
        self._episode_bonus = np.zeros(self.num_envs)
        self.task_reward_history = collections.deque(maxlen=100)
        self.bonus_history = collections.deque(maxlen=100)

    def add_observer(self, observer) -> None:
        """`observer.on_new_observation(observations=, rewards=, dones=, infos=)` is called
        with the untouched vector-env data after every step."""
        self._observers.append(observer)

    def refresh_memory_keys(self) -> None:
        """Recomputes stored comparison keys after the R-network changed (ECO); the stored
        embeddings stay as they are, as in the original."""
        if self.memory is None or self.memory.keys is None:
            return
        envs, slots = np.nonzero(self.memory.valid_mask())
        if envs.size:
            self.memory.keys[envs, slots] = self.r_network.memory_keys(self.memory.embeddings[envs, slots])

    def reset(self, *, seed=None, options=None):
        self._discard_pending()
        observations, infos = self.env.reset(seed=seed, options=options)
        if self.memory is not None:
            self.memory.reset()
        if self.oracle is not None:
            self.oracle.reset()
        self._episode_task_reward[:] = 0
        self._episode_bonus[:] = 0
        return self._policy_observation(observations, np.ones(self.num_envs, bool)), infos

    def step(self, actions):
        observations, rewards, terminated, truncated, infos = self.env.step(actions)
        dones = np.logical_or(terminated, truncated)
        for observer in self._observers:
            observer.on_new_observation(observations=observations, rewards=rewards, dones=dones, infos=infos)
        self.step_count += 1
        alpha = self.current_alpha()
        rewards = np.asarray(rewards, np.float64)
        infos = self._resize_final_observations(dict(infos))
        with_info(infos, "task_reward", rewards)
        if self.deferred_bonus:
            # The bonus is added by `rollout_rewards`; frames are copied (workers reuse buffers).
            entry_infos = self._per_env_infos(infos) if self.memory.infos is not None else None
            self._pending.append((np.array(self._curiosity_input(observations, infos)), dones,
                                  rewards, alpha, entry_infos))
            if self._executor is not None:
                self._submit_chunks(final=False)
            return (self._policy_observation(observations, dones), self.scale_task_reward * rewards,
                    terminated, truncated, infos)
        if self.exploration_reward == "episodic_curiosity":
            bonus = self._curiosity_bonus(observations, infos, dones)
        elif self.exploration_reward == "oracle":
            bonus = self._oracle_bonus(infos, dones)
        else:
            bonus = np.zeros(self.num_envs)
        combined = self.scale_task_reward * rewards + alpha * bonus
        with_info(infos, "curiosity_bonus", bonus)
        self._track_episodes(rewards, bonus, dones)
        return self._policy_observation(observations, dones), combined, terminated, truncated, infos

    def current_alpha(self) -> float:
        """The bonus factor of the step just counted: 0 during the warm-up
        (`exploration_reward_min_step` vector steps, counted across resumes), then alpha."""
        return 0.0 if self.step_count < self.exploration_reward_min_step else self.scale_surrogate_reward

    def rollout_rewards(self, rewards: np.ndarray) -> np.ndarray:
        """Adds the deferred bonus to the rewards `step` returned since the last call.

        Args:
          rewards: float [T, N], the rewards of the last T steps, in order (what `step`
            returned: the scaled task reward).

        Returns:
          float [T, N], rewards + alpha x bonus (unchanged when the bonus is not deferred).
        """
        rewards = np.asarray(rewards)
        if not self.deferred_bonus:
            return rewards
        if rewards.shape != (len(self._pending), self.num_envs):
            raise ValueError(f"rollout_rewards got rewards of shape {list(rewards.shape)}, but "
                             f"{len(self._pending)} steps of {self.num_envs} envs are pending")
        if not self._pending:
            return rewards
        if self._executor is not None:
            self._submit_chunks(final=True)
            try:
                bonuses = [bonus for future in self._futures for bonus in future.result()]
            except BaseException:
                self._discard_pending()  # waits for the other chunks; memories need a reset
                raise
            self._futures = []
            self._submitted_steps = 0
        else:
            bonuses = [bonus for start in range(0, len(self._pending), self._steps_per_chunk)
                       for bonus in self._chunk_bonuses(self._pending[start:start + self._steps_per_chunk])]
        out = np.array(rewards, np.float64)
        for t, ((_, dones, task_rewards, alpha, _), bonus) in enumerate(zip(self._pending, bonuses)):
            out[t] += alpha * bonus
            self._track_episodes(task_rewards, bonus, dones)
        self._pending = []
        return out.astype(rewards.dtype, copy=False)

    def close(self, **kwargs):
        self._discard_pending()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        return super().close(**kwargs)

    def _submit_chunks(self, final: bool) -> None:
        """Hands every complete chunk of pending steps (and, if `final`, the rest) to the
        background worker."""
        while True:
            ready = len(self._pending) - self._submitted_steps
            if ready == 0 or (ready < self._steps_per_chunk and not final):
                return
            chunk = self._pending[self._submitted_steps:self._submitted_steps + self._steps_per_chunk]
            self._futures.append(self._executor.submit(self._chunk_bonuses, chunk))
            self._submitted_steps += len(chunk)

    def _discard_pending(self) -> None:
        """Drops deferred steps (and waits for background work on them) before a reset."""
        for future in self._futures:
            future.cancel()
        if self._futures:
            concurrent.futures.wait(self._futures)
        self._futures = []
        self._submitted_steps = 0
        self._pending = []

    def _chunk_bonuses(self, steps) -> list[np.ndarray]:
        """Bonuses of consecutive deferred steps: one embedding call for all their frames,
        then the comparisons and memory updates step by step, in order."""
        embeddings = self.r_network.embed(np.concatenate([step[0] for step in steps]))
        queries, keys = self._comparison_keys(embeddings)
        if self._dense_similarity_fn is not None and len(steps) > 1:
            return self._chunk_bonuses_one_comparison(steps, embeddings, queries, keys)
        bonuses = []
        for t, (_, dones, _, _, entry_infos) in enumerate(steps):
            rows = slice(t * self.num_envs, (t + 1) * self.num_envs)
            bonuses.append(self._bonus_and_memory_update(embeddings[rows], queries[rows], keys[rows],
                                                         dones, entry_infos))
        return bonuses

    def _chunk_bonuses_one_comparison(self, steps, embeddings, queries, keys) -> list[np.ndarray]:
        """`_chunk_bonuses`' step-by-step rule with all of the chunk's comparisons in one call.

        A memory entry seen during the chunk is either in the memory when the chunk starts or one
        of the chunk's own earlier frames of the same env, so one comparator call scores each
        step's query against both sets (the pairs are the same as step by step; only the batch
        they are computed in differs, as for the deferred bonus itself); the steps then replay
        in order: aggregate the scores of the slots each memory holds at that step, bonus,
        reset, add (the same memory calls, random replacement included).
        """
        num_steps, num_envs, memory = len(steps), self.num_envs, self.memory
        width = int(memory.sizes.max(initial=0))
        step_keys = keys.reshape(num_steps, num_envs, -1)
        # Candidates of env i: its memory's first `width` slots, then the chunk's frames of env i.
        candidates = np.concatenate([memory.keys[:, :width], step_keys.transpose(1, 0, 2)], axis=1)
        scores = np.asarray(self._dense_similarity_fn(
            np.asarray(queries, np.float32),
            np.broadcast_to(candidates[None], (num_steps, *candidates.shape)).reshape(
                num_steps * num_envs, *candidates.shape[1:])), np.float64).reshape(
            num_steps, num_envs, width + num_steps)
        # source[i, slot]: the candidate column that slot of memory i holds (-1: none).
        source = np.where(memory.valid_mask(), np.arange(memory.capacity)[None], -1)
        source[:, width:] = -1
        rows = np.arange(num_envs)[:, None]
        bonuses = []
        for t, (_, dones, _, _, entry_infos) in enumerate(steps):
            held = source >= 0
            similarities = np.where(held, scores[t][rows, np.maximum(source, 0)], np.nan)
            aggregates = episodic_memory.aggregate(similarities, memory.sizes, memory.similarity_aggregation)
            bonuses.append(np.where(dones, 0.0, self.bonus_offset - aggregates))
            memory.reset(dones)
            source[np.asarray(dones, bool)] = -1
            envs, slots = memory.add(embeddings[t * num_envs:(t + 1) * num_envs],
                                     dones | (aggregates < self.similarity_threshold), infos=entry_infos,
                                     keys=keys[t * num_envs:(t + 1) * num_envs])
            source[envs, slots] = width + t
        return bonuses

    # Bonus computations ------------------------------------------------------------------------

    def _curiosity_input(self, observations, infos) -> np.ndarray:
        frames = infos["frame"] if "frame" in infos else observations
        frames = np.asarray(frames)
        expected = tuple(self.r_network.input_shape)
        if frames.ndim != 4 or frames.shape[1:] != expected:
            source = "info['frame']" if "frame" in infos else "observations"
            raise ValueError(f"curiosity input ({source}) has shape {list(frames.shape)}; the "
                             f"R-network expects [{self.num_envs}, {', '.join(map(str, expected))}]")
        return frames

    def _curiosity_bonus(self, observations, infos, dones) -> np.ndarray:
        embeddings = self.r_network.embed(self._curiosity_input(observations, infos))
        queries, keys = self._comparison_keys(embeddings)
        entry_infos = self._per_env_infos(infos) if self.memory.infos is not None else None
        return self._bonus_and_memory_update(embeddings, queries, keys, dones, entry_infos)

    def _comparison_keys(self, embeddings):
        """(query keys, memory keys) of embeddings, or the embeddings themselves without keys."""
        if self._use_keys:
            return self.r_network.query_keys(embeddings), self.r_network.memory_keys(embeddings)
        return embeddings, embeddings

    def _bonus_and_memory_update(self, embeddings, queries, keys, dones, entry_infos) -> np.ndarray:
        """One step of the original's rule for all envs: bonus = beta - aggregate similarity to
        memory (0 on an episode's last step); ended episodes' memories restart with the current
        embedding, others add it iff the aggregate is below tau."""
        if self._use_keys:
            aggregates = self.memory.aggregate_similarity(queries, self.r_network.similarity_from_keys,
                                                          self._dense_similarity_fn)
        else:
            aggregates = self.memory.aggregate_similarity(queries, self.r_network.similarity)
        bonus = np.where(dones, 0.0, self.bonus_offset - aggregates)
        self.memory.reset(dones)
        self.memory.add(embeddings, dones | (aggregates < self.similarity_threshold), infos=entry_infos,
                        keys=keys if self._use_keys else None)
        return bonus

    def _oracle_bonus(self, infos, dones) -> np.ndarray:
        if "position" not in infos:
            raise KeyError("exploration_reward='oracle' needs info['position'] from the envs")
        positions = np.array(infos["position"], np.float64)
        final_info = infos.get("final_info")
        if dones.any() and final_info is not None and "position" in final_info:
            # The ended episode's last position, as the original's done-step info had it.
            positions[dones] = np.asarray(final_info["position"])[dones]
        bonus = self.oracle.update(positions)
        self.oracle.reset(dones)
        return bonus

    def _per_env_infos(self, infos) -> list[dict]:
        return [{k: v[i] for k, v in infos.items() if not k.startswith("_") and k != "final_info"
                 and isinstance(v, np.ndarray) and len(v) == self.num_envs} for i in range(self.num_envs)]

    # Bookkeeping -------------------------------------------------------------------------------

    def _policy_observation(self, observations, new_episode: np.ndarray):
        """The policy's observations; `new_episode[i]`: env i's observation starts an episode
        (its frame stack is refilled with it)."""
        if self._resize_to is None:
            return observations
        frames = resize_frames(observations, self._resize_to)
        if self.frame_stack == 1:
            return frames
        channels = frames.shape[-1]
        if self._stack is None:
            self._stack = np.tile(frames, (1, 1, 1, self.frame_stack))
        else:
            self._stack[:, :, :, :-channels] = self._stack[:, :, :, channels:].copy()
            self._stack[:, :, :, -channels:] = frames
            new = np.flatnonzero(new_episode)
            self._stack[new] = np.tile(frames[new], (1, 1, 1, self.frame_stack))
        return self._stack.copy()

    def _stacked_final_observation(self, env: int, frame: np.ndarray) -> np.ndarray:
        """An ended episode's last policy observation: its stack shifted by `frame`."""
        if self.frame_stack == 1 or self._stack is None:
            return frame
        return np.concatenate([self._stack[env, :, :, frame.shape[-1]:], frame], axis=-1)

    def _resize_final_observations(self, infos: dict) -> dict:
        """`info['final_obs']` (the ended episodes' last observations) resized like the
        observations, so that it matches `observation_space`."""
        if self._resize_to is None or "final_obs" not in infos:
            return infos
        final = infos["final_obs"]
        mask = np.asarray(infos.get("_final_obs", [o is not None for o in final]), bool)
        resized = np.empty(len(final), dtype=object)
        for env in range(len(final)):
            if mask[env] and final[env] is not None:
                resized[env] = self._stacked_final_observation(
                    env, resize_frames(np.asarray(final[env])[None], self._resize_to)[0])
        infos["final_obs"] = resized
        return infos

    def _track_episodes(self, rewards, bonus, dones) -> None:
        self._episode_task_reward += rewards
        self._episode_bonus += bonus
        for env in np.flatnonzero(dones):
            self.task_reward_history.append(self._episode_task_reward[env])
            self.bonus_history.append(self._episode_bonus[env])
        self._episode_task_reward[dones] = 0
        self._episode_bonus[dones] = 0
        if self.log_statistics and self.step_count % _LOG_EVERY_STEPS == 0 and self.task_reward_history:
            logging.info("step %d: episode task reward %.3f, episode bonus %.3f (means of the last "
                         "%d episodes), alpha %g", self.step_count, np.mean(self.task_reward_history),
                         np.mean(self.bonus_history), len(self.task_reward_history),
                         self.scale_surrogate_reward)

    def statistics(self) -> dict[str, Any]:
        """Moving averages over the last 100 finished episodes, and memory fill levels."""
        stats = {"step_count": self.step_count}
        if self.task_reward_history:
            stats["episode_task_reward"] = float(np.mean(self.task_reward_history))
            stats["episode_bonus"] = float(np.mean(self.bonus_history))
        if self.memory is not None:
            stats["memory_size_mean"] = float(self.memory.sizes.mean())
        return stats
