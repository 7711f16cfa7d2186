"""The curiosity vector-env wrapper: the policy's view of the envs, and optionally a per-step
exploration bonus for any Gymnasium training loop.

Per vector step:

  1. step the envs; `info['task_reward']` is the env's reward, and `info['frame']` the
     curiosity input (the envs' own `info['frame']` where they give one, e.g. Ant;
     else the observation before resizing, and then `info['final_frame']` holds the ended
     episodes' last one, unresized);
  2. images are resized to `target_image_shape` (84x84x3) with area interpolation for the
     policy, and so is `info['final_obs']`; with `frame_stack` k > 1 the policy sees the last
     k resized frames of the episode stacked on the channel axis (an episode's first
     observation repeated k times; the original fed one frame);
  3. with an `intrinsic_reward` (an `intrinsic.IntrinsicReward`, e.g. `EpisodicCuriosity`),
     its bonus of this step (a rollout of one step: `observe`, then `compute_bonus`) is in
     `info['curiosity_bonus']` and the reward is `RewardScales.combine`: s_task x r + alpha x
     bonus. Methods that train on rollouts (ICM, RND, E3B) get `update` every
     `update_interval` steps with the steps since the last one. Without one, the reward is
     s_task x r (`scales`), or the env's reward when `scales` is None.

`train_policy` uses the wrapper without a bonus and hands whole rollouts to the method through
`ppo.Runner` (batched embeddings; for EC, ECO, the grid oracle and ICM the same rewards, tested);
on its own the wrapper gives the bonus of every step, for a CleanRL-style loop (README "Using
the EC bonus in your own training loop", `examples/`). Methods with running normalisers (RND's
observation and return statistics, E3B's bonus normalisation) build them from the steps seen
so far, so per step their first bonuses differ from the per-rollout ones and are noisier
until enough steps were seen.

Auto-reset (see `environments/vector.py`): SAME_STEP. On an ending step env i's observation is
the next episode's first one, so that is what an episodic memory restarts with, exactly as in
the original (whose vector envs also reset within the ending step).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from absl import logging
import cv2
import gin
import gymnasium as gym
import numpy as np

from episodic_curiosity.environments import vector
from episodic_curiosity.intrinsic import base as intrinsic_base


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


IntrinsicRewardFactory = Callable[[intrinsic_base.Setup], intrinsic_base.IntrinsicReward]


@gin.configurable(denylist=["env", "intrinsic_reward", "scales"])
class CuriosityEnvWrapper(gym.vector.VectorWrapper):
    """Resizes the policy's observations and optionally adds a per-step bonus (module doc)."""

    def __init__(
        self,
        env: gym.vector.VectorEnv,
        intrinsic_reward: intrinsic_base.IntrinsicReward | IntrinsicRewardFactory | None = None,
        scales: intrinsic_base.RewardScales | None = None,
        target_image_shape: Sequence[int] | None = (84, 84, 3),
        frame_stack: int = 1,
        update_interval: int = 128,
        seed: int = 0,
        r_checkpoint: str | None = None,
        workdir: str | None = None,
    ):
        """Args:
        env: the vector env (SAME_STEP auto-reset).
        intrinsic_reward: None, an IntrinsicReward, or a factory taking an
          `intrinsic.Setup` (e.g. the class `intrinsic.EpisodicCuriosity`), which the wrapper
          builds with its envs' count, spaces (after resizing), `seed` and `r_checkpoint`.
        scales: RewardScales (s_task, alpha, warm-up); None: gin's `RewardScales()` when
          there is a bonus, else the env's reward unchanged.
        target_image_shape: (h, w, c) of the policy's image input, or None to keep frames.
        frame_stack: int, resized frames per policy observation (1: the original's single
          frame). Needs image observations and a `target_image_shape`.
        update_interval: int, vector steps between `update` calls of methods that train
          on rollouts.
        seed: int, the Setup's seed (memory replacement, the method's initialisation).
        r_checkpoint: str or None, the Setup's R-network weights (or 'pretrained:vizdoom').
        workdir: str or None, the Setup's output folder (ECO keeps its frame history and writes
          its retrained R-networks there; needed for ECO).
        """
        vector.require_same_step_autoreset(env, "CuriosityEnvWrapper")
        super().__init__(env)
        single_space = env.single_observation_space
        self._resize_to = None
        if isinstance(frame_stack, bool) or not isinstance(frame_stack, (int, np.integer)) or frame_stack < 1:
            raise ValueError(f"frame_stack must be an int >= 1, got {frame_stack!r}")
        self.frame_stack = int(frame_stack)
        if target_image_shape is not None and len(single_space.shape) >= 3:
            self._resize_to = tuple(int(d) for d in target_image_shape)
            height, width, channels = self._resize_to
            self.single_observation_space = gym.spaces.Box(0, 255, (height, width, channels * frame_stack), np.uint8)
            self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        elif frame_stack > 1:
            raise ValueError(
                f"frame_stack={frame_stack} needs image observations resized by the wrapper "
                f"(target_image_shape), got observations of shape {single_space.shape} and "
                f"target_image_shape={target_image_shape}"
            )
        if (
            isinstance(update_interval, bool)
            or not isinstance(update_interval, (int, np.integer))
            or update_interval < 1
        ):
            raise ValueError(f"update_interval must be an int >= 1, got {update_interval!r}")
        self.update_interval = int(update_interval)
        self._stack = None  # [N, h, w, c * k], the policy's last observation (frame_stack > 1)
        if intrinsic_reward is not None and not isinstance(intrinsic_reward, intrinsic_base.IntrinsicReward):
            setup = intrinsic_base.Setup(
                num_envs=self.num_envs,
                observation_space=self.single_observation_space,
                action_space=self.single_action_space,
                nsteps=self.update_interval,
                seed=seed,
                workdir=workdir,
                r_checkpoint=r_checkpoint,
            )
            try:
                intrinsic_reward = intrinsic_reward(setup)
            except BaseException:
                env.close()  # the caller never gets the wrapper that would close it
                raise
        self.intrinsic_reward = intrinsic_reward
        if scales is None and intrinsic_reward is not None:
            scales = intrinsic_base.RewardScales()
        if intrinsic_reward is not None and not scales.scale_surrogate_reward:
            logging.warning(
                "CuriosityEnvWrapper: %s with alpha (RewardScales.scale_surrogate_reward) = %r: the bonus is "
                "computed but never reaches the reward. Pass RewardScales(scale_surrogate_reward=...) or bind it.",
                type(intrinsic_reward).__name__,
                scales.scale_surrogate_reward,
            )
        self.scales = scales
        self._last_observations = None
        self._buffer: list[intrinsic_base.Step] = []

    @property
    def memory(self):
        """The episodic memory of an episodic-curiosity bonus (None otherwise)."""
        return getattr(self.intrinsic_reward, "memory", None)

    def reset(self, *, seed=None, options=None):
        observations, infos = self.env.reset(seed=seed, options=options)
        if self.intrinsic_reward is not None:
            self.intrinsic_reward.reset()
        self._buffer = []
        self._last_observations = self._policy_observation(observations, np.ones(self.num_envs, bool))
        return self._last_observations, self._with_frames(observations, dict(infos))

    def step(self, actions):
        observations, rewards, terminated, truncated, infos = self.env.step(actions)
        dones = np.logical_or(terminated, truncated)
        rewards = np.asarray(rewards, np.float64)
        infos = dict(infos)
        if "frame" not in infos and "final_obs" in infos:  # the ended episodes' last curiosity frames
            infos["final_frame"] = infos["final_obs"]
            infos["_final_frame"] = infos.get("_final_obs", np.array([o is not None for o in infos["final_obs"]]))
        infos = self._with_frames(observations, self._resize_final_observations(infos))
        with_info(infos, "task_reward", rewards)
        policy_observations = self._policy_observation(observations, dones)
        method = self.intrinsic_reward
        if method is None:
            combined = rewards if self.scales is None else self.scales.combine(rewards[None], None)[0]
        else:
            if self._last_observations is None:
                raise RuntimeError("CuriosityEnvWrapper.step() before reset()")
            step = intrinsic_base.Step(
                index=0,
                observation=self._last_observations,
                action=np.asarray(actions),
                next_observation=policy_observations,
                task_reward=rewards,
                done=dones,
                frame=infos["frame"] if method.uses_frames else None,
                position=intrinsic_base.step_positions(infos, dones) if method.uses_positions else None,
                infos=infos,
            )
            method.observe(step)
            bonus = np.asarray(method.compute_bonus(intrinsic_base.stack_steps([step], policy_observations)))[0]
            if method.trains_on_rollouts:
                self._buffer.append(step)
                if len(self._buffer) == self.update_interval:
                    method.update(intrinsic_base.stack_steps(self._buffer, policy_observations))
                    self._buffer = []
            combined = self.scales.combine(rewards[None], bonus[None])[0]
            with_info(infos, "curiosity_bonus", bonus)
        self._last_observations = policy_observations
        return policy_observations, combined, terminated, truncated, infos

    def close(self, **kwargs):
        if self.intrinsic_reward is not None:
            self.intrinsic_reward.close()
        return super().close(**kwargs)

    def statistics(self) -> dict[str, Any]:
        """The bonus's statistics (e.g. the memory fill), empty without one."""
        return {} if self.intrinsic_reward is None else dict(self.intrinsic_reward.statistics())

    # Observations ------------------------------------------------------------------------------

    def _with_frames(self, observations, infos: dict) -> dict:
        """`info['frame']`: the curiosity input (the envs' own, else the unresized observation)."""
        if "frame" not in infos:
            with_info(infos, "frame", np.asarray(observations))
        return infos

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
        return np.concatenate([self._stack[env, :, :, frame.shape[-1] :], frame], axis=-1)

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
                    env, resize_frames(np.asarray(final[env])[None], self._resize_to)[0]
                )
        infos["final_obs"] = resized
        return infos
