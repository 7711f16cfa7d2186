r"""Videos of what the curiosity module sees: frames, bonus, task reward and episodic memory.

For each episode, one env of the scenario runs behind a `CuriosityEnvWrapper` (a 1-env vector
env, seeded `seed + episode`) with the given R-network; actions come from a policy checkpoint
(`policy`), are uniformly random (`random`) or do nothing (`do_nothing`: action 0 for discrete
action spaces, zeros for Box ones). The episode runs until it ends or `num_steps` steps were
taken. Every step becomes one video frame (RGB, 640x240, or 640x480 for `memory`):

  * left: the curiosity input (`info['frame']` if the env provides it, else the observation),
    scaled to 320x240, with a green bar on top when the step's bonus is > 0, red otherwise;
  * right: the step, bonus, task return and memory fill as text; curves of the curiosity bonus
    per step and the cumulative task reward over the episode so far; a memory fill bar;
  * `memory` only, below: the frames held in the episodic memory as thumbnails, one per slot
    (slot order), the most recently written one framed in yellow.

Bonus and memory settings come from gin (`EpisodicCuriosity.*`, `EpisodicMemory.*`, e.g.
the method and scenario configs). Files in `workdir`, per episode i:
`<visualization_type>_<i>.mp4` (H.264 via imageio-ffmpeg), `<visualization_type>_<i>.gif`
(half size) and `<visualization_type>_<i>.csv` (step, action, curiosity_bonus, task_reward,
memory_size per step); the entry point also writes `flags.txt` and `visualize.gin`.

    python -m episodic_curiosity.visualize_curiosity_reward --workdir=/tmp/viz \
        --scenario=vizdoom_sparse --r_net_weights=r_network_weights.00030.h5 \
        --policy_path=RUN/checkpoints --visualization_type=memory --num_steps=500

Needs imageio + imageio-ffmpeg (extra `video`).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import math
import os
from typing import Any, Callable, Sequence

from absl import app
from absl import flags
from absl import logging
import cv2
import gin
import gymnasium as gym
import numpy as np

from episodic_curiosity import atomic_files
from episodic_curiosity import checkpoint_io
from episodic_curiosity import curiosity_env_wrapper
from episodic_curiosity import environments
from episodic_curiosity import intrinsic
from episodic_curiosity import launcher  # noqa: F401 (registers the gin names of the method configs)
from episodic_curiosity import pretrained
from episodic_curiosity import r_network
from episodic_curiosity import train_policy
from episodic_curiosity import video

VISUALIZATION_TYPES = ("surrogate_reward", "memory")
TRAJECTORY_MODES = ("policy", "random", "do_nothing")
PANEL_WIDTH, PANEL_HEIGHT = 320, 240
MEMORY_PANEL_HEIGHT = 240
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_GREEN, _RED, _YELLOW = (40, 200, 60), (220, 50, 40), (250, 220, 40)
_BONUS_COLOR, _TASK_COLOR, _TEXT_COLOR = (90, 170, 255), (250, 170, 60), (235, 235, 235)
_BAR_HEIGHT = 8


@dataclasses.dataclass
class EpisodeHistory:
    """What happened so far in the visualized episode (one entry per step).

    Attributes:
      actions: list of the actions taken.
      bonuses: list of float, curiosity bonus per step (`info['curiosity_bonus']`).
      task_rewards: list of float, env reward per step (`info['task_reward']`).
      memory_sizes: list of int, memory entries after each step.
      memory_capacity: int, the memory's capacity.
    """

    actions: list = dataclasses.field(default_factory=list)
    bonuses: list = dataclasses.field(default_factory=list)
    task_rewards: list = dataclasses.field(default_factory=list)
    memory_sizes: list = dataclasses.field(default_factory=list)
    memory_capacity: int = 1


# --- Drawing --------------------------------------------------------------------------------


def fit_frame(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """`frame` (H, W, 3 uint8) scaled to fit (height, width), centred on black, aspect kept."""
    frame = np.asarray(frame, np.uint8)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frames must be (H, W, 3) RGB images, got shape {list(frame.shape)}")
    scale = min(width / frame.shape[1], height / frame.shape[0])
    new_w, new_h = max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST
    resized = cv2.resize(frame, (new_w, new_h), interpolation=interpolation)
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas


def _text(canvas: np.ndarray, text: str, x: int, y: int, color=_TEXT_COLOR, scale: float = 0.4) -> None:
    cv2.putText(canvas, text, (x, y), _FONT, scale, color, 1, cv2.LINE_AA)


def _draw_curve(
    canvas: np.ndarray, values: Sequence[float], box: tuple[int, int, int, int], total_steps: int, color, label: str
) -> None:
    """Draws `values` (x = step over `total_steps`) in box (x0, y0, x1, y1), zero line in grey."""
    x0, y0, x1, y1 = box
    cv2.rectangle(canvas, (x0, y0), (x1, y1), (70, 70, 70), 1)
    values = np.asarray(values, np.float64)
    low = min(0.0, float(values.min())) if values.size else 0.0
    high = max(0.0, float(values.max())) if values.size else 1.0
    if high - low < 1e-9:
        high = low + 1.0
    top, bottom = y0 + 18, y1 - 5  # room for the label above the curve
    to_y = lambda v: bottom - (v - low) / (high - low) * (bottom - top)
    zero = int(round(to_y(0.0)))
    cv2.line(canvas, (x0 + 1, zero), (x1 - 1, zero), (110, 110, 110), 1)
    if values.size:
        xs = x0 + 1 + np.arange(values.size) / max(total_steps - 1, 1) * (x1 - x0 - 2)
        points = np.stack([xs, to_y(values)], axis=1).round().astype(np.int32)
        if values.size == 1:
            cv2.circle(canvas, tuple(int(c) for c in points[0]), 1, color, -1)
        else:
            cv2.polylines(canvas, [points.reshape(-1, 1, 2)], False, color, 1, cv2.LINE_AA)
    _text(canvas, f"{label} [{low:.2g}, {high:.2g}]", x0 + 3, y0 + 12, color, 0.35)


def info_panel(history: EpisodeHistory, total_steps: int) -> np.ndarray:
    """The 320x240 text + curves panel for the latest step of `history`."""
    panel = np.full((PANEL_HEIGHT, PANEL_WIDTH, 3), 24, np.uint8)
    step = len(history.bonuses)
    bonus = history.bonuses[-1] if step else 0.0
    task_return = float(np.sum(history.task_rewards))
    size = history.memory_sizes[-1] if step else 0
    _text(panel, f"step {step}/{total_steps}", 6, 16)
    _text(panel, f"bonus {bonus:+.3f}", 6, 34, _BONUS_COLOR)
    _text(panel, f"task return {task_return:.2f}", 160, 34, _TASK_COLOR)
    _text(panel, f"memory {size}/{history.memory_capacity}", 160, 16)
    _draw_curve(panel, history.bonuses, (6, 44, PANEL_WIDTH - 6, 130), total_steps, _BONUS_COLOR, "curiosity bonus")
    _draw_curve(
        panel, np.cumsum(history.task_rewards), (6, 136, PANEL_WIDTH - 6, 206), total_steps, _TASK_COLOR, "task return"
    )
    fill = size / max(history.memory_capacity, 1)
    cv2.rectangle(panel, (6, 214), (PANEL_WIDTH - 6, 232), (90, 90, 90), 1)
    cv2.rectangle(panel, (7, 215), (7 + int(round(fill * (PANEL_WIDTH - 14))), 231), (120, 120, 220), -1)
    _text(panel, f"memory fill {100 * fill:.0f}%", 12, 228, _TEXT_COLOR, 0.35)
    return panel


def thumbnail_layout(
    capacity: int, frame_shape: Sequence[int], width: int = 2 * PANEL_WIDTH, height: int = MEMORY_PANEL_HEIGHT
) -> tuple[int, int, int]:
    """(columns, thumbnail width, thumbnail height): the largest thumbnails (frame aspect kept)
    such that `capacity` of them fit in a width x height grid."""
    aspect = frame_shape[0] / frame_shape[1]
    for thumb_w in range(min(width, 160), 2, -1):
        thumb_h = max(3, int(round(thumb_w * aspect)))
        columns = width // thumb_w
        if columns and math.ceil(capacity / columns) * thumb_h <= height:
            return columns, thumb_w, thumb_h
    raise ValueError(f"cannot fit {capacity} thumbnails in a {width}x{height} panel")


def memory_panel(
    thumbnails: Sequence[np.ndarray | None], newest_slot: int | None, frame_shape: Sequence[int]
) -> np.ndarray:
    """Grid of the memory's frames (slot order; empty slots dark grey), 640x240."""
    width, height = 2 * PANEL_WIDTH, MEMORY_PANEL_HEIGHT
    panel = np.full((height, width, 3), 12, np.uint8)
    columns, thumb_w, thumb_h = thumbnail_layout(len(thumbnails), frame_shape)
    for slot, thumbnail in enumerate(thumbnails):
        row, column = divmod(slot, columns)
        y, x = row * thumb_h, column * thumb_w
        if thumbnail is None:
            panel[y + 1 : y + thumb_h - 1, x + 1 : x + thumb_w - 1] = 40
        else:
            panel[y + 1 : y + thumb_h - 1, x + 1 : x + thumb_w - 1] = cv2.resize(
                thumbnail, (thumb_w - 2, thumb_h - 2), interpolation=cv2.INTER_AREA
            )
        if slot == newest_slot:
            cv2.rectangle(panel, (x, y), (x + thumb_w - 1, y + thumb_h - 1), _YELLOW, 1)
    return panel


def compose_frame(
    frame: np.ndarray,
    history: EpisodeHistory,
    total_steps: int,
    thumbnails: Sequence[np.ndarray | None] | None = None,
    newest_slot: int | None = None,
) -> np.ndarray:
    """One video frame: view + info panel (640x240), plus the memory grid if `thumbnails`.

    Args:
      frame: uint8 (H, W, 3), the step's curiosity input.
      history: EpisodeHistory up to and including this step.
      total_steps: int, the x-axis length of the curves.
      thumbnails: list (one per memory slot) of frames or None for empty slots, or None for
        no memory panel.
      newest_slot: int or None, the slot written at this step (framed in yellow).

    Returns:
      uint8 RGB image, (240, 640, 3) or (480, 640, 3).
    """
    view = fit_frame(frame, PANEL_WIDTH, PANEL_HEIGHT)
    bonus = history.bonuses[-1] if history.bonuses else 0.0
    view[:_BAR_HEIGHT] = _GREEN if bonus > 0 else _RED
    image = np.concatenate([view, info_panel(history, total_steps)], axis=1)
    if thumbnails is not None:
        image = np.concatenate([image, memory_panel(thumbnails, newest_slot, np.shape(frame))], axis=0)
    return image


# --- Running episodes -----------------------------------------------------------------------


def curiosity_input(infos: dict, done: bool) -> np.ndarray:
    """Env 0's curiosity input of a step of the wrapper: the ended episode's last one on an
    ending step (not the auto-reset one)."""
    if done:
        final_info = infos.get("final_info", {})
        if "frame" in final_info:
            return np.array(final_info["frame"][0], np.uint8, copy=True)
        if "final_frame" in infos:
            return np.array(infos["final_frame"][0], np.uint8, copy=True)
    return np.array(infos["frame"][0], np.uint8, copy=True)


def do_nothing_action(action_space: gym.Space) -> Any:
    """Action 0 (Discrete) or all zeros (Box) for one env."""
    if isinstance(action_space, gym.spaces.Discrete):
        return int(action_space.start)
    if isinstance(action_space, gym.spaces.Box):
        return np.zeros(action_space.shape, action_space.dtype)
    raise ValueError(f"'do_nothing' needs a Discrete or Box action space, got {action_space}")


def policy_checkpoint_file(policy_path: str) -> str:
    """`policy_path` if it is a checkpoint file, else the newest checkpoint in that folder (a
    run dir or its `checkpoints/`), or a shipped model's (`pretrained:<name>`)."""
    path = policy_path = pretrained.resolve(policy_path)
    if os.path.isdir(path):
        path = checkpoint_io.newest_checkpoint(path) or checkpoint_io.newest_checkpoint(
            os.path.join(path, "checkpoints")
        )
        if path is None:
            raise FileNotFoundError(
                f"no policy checkpoint (policy.NNNNN.h5) in {policy_path!r} or its checkpoints/ folder"
            )
    elif not os.path.exists(path):
        raise FileNotFoundError(f"policy checkpoint {policy_path!r} does not exist")
    return path


def load_policy(policy_path: str, env: gym.vector.VectorEnv):
    """The policy of a checkpoint file, or of the newest checkpoint in a folder (a run dir or
    its `checkpoints/`), for `env`'s (wrapped) observation and action spaces."""
    return train_policy.load_policy(
        policy_checkpoint_file(policy_path), env.single_observation_space, env.single_action_space
    )


def _policy_input_settings(policy) -> dict:
    """The wrapper settings (`target_image_shape`, `frame_stack`) giving `policy` (a checkpoint
    path or an ActorCritic) its observations; {} if unknown (not an image policy, or a
    checkpoint that does not record them: the gin-bound ones apply)."""
    if isinstance(policy, (str, os.PathLike)):
        return checkpoint_io.policy_input_settings(policy_checkpoint_file(os.fspath(policy)))
    shape = getattr(getattr(policy, "observation_space", None), "shape", None)
    return {} if shape is None or len(shape) != 3 else {"target_image_shape": tuple(int(d) for d in shape)}


def _write_history(history: EpisodeHistory, path: str) -> None:
    with atomic_files.atomic_path(path) as tmp_path:
        with open(tmp_path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["step", "action", "curiosity_bonus", "task_reward", "memory_size"])
            for step, row in enumerate(
                zip(history.actions, history.bonuses, history.task_rewards, history.memory_sizes)
            ):
                action = row[0].tolist() if isinstance(row[0], np.ndarray) else row[0]
                writer.writerow([step, action, repr(float(row[1])), repr(float(row[2])), int(row[3])])


def run_episode(
    env: curiosity_env_wrapper.CuriosityEnvWrapper,
    trajectory_mode: str,
    num_steps: int,
    policy=None,
    seed: int = 0,
    with_memory: bool = False,
    on_frame: Callable[[np.ndarray], None] = lambda frame: None,
) -> EpisodeHistory:
    """Runs one episode of `env` (a 1-env curiosity wrapper) and renders every step.

    Args:
      env: CuriosityEnvWrapper around a 1-env vector env, with an episodic-curiosity bonus.
      trajectory_mode: str, one of TRAJECTORY_MODES.
      num_steps: int, at most this many steps (fewer if the episode ends).
      policy: ppo.ActorCritic for 'policy' mode.
      seed: int, seeds the reset and the random actions.
      with_memory: bool, add the memory thumbnail grid.
      on_frame: called with each rendered frame (e.g. a video writer's `add`), so frames are
        not all kept in memory.

    Returns:
      EpisodeHistory.
    """
    if env.num_envs != 1 or env.memory is None:
        raise ValueError("run_episode needs a 1-env CuriosityEnvWrapper with episodic curiosity")
    memory = env.memory
    history = EpisodeHistory(memory_capacity=memory.capacity)
    thumbnails: list[np.ndarray | None] = [None] * memory.capacity
    observations, _ = env.reset(seed=seed)
    env.single_action_space.seed(seed)
    still = do_nothing_action(env.single_action_space) if trajectory_mode == "do_nothing" else None
    for _ in range(num_steps):
        if trajectory_mode == "policy":
            action = policy.step(observations)[0][0]
        elif trajectory_mode == "random":
            action = env.single_action_space.sample()
        else:
            action = still
        count_before = int(memory.counts[0])
        observations, _, terminated, truncated, infos = env.step(np.asarray([action]))
        done = bool(terminated[0] or truncated[0])
        frame = curiosity_input(infos, done)
        history.actions.append(action)
        history.bonuses.append(float(infos["curiosity_bonus"][0]))
        history.task_rewards.append(float(infos["task_reward"][0]))
        newest_slot = None
        if done:  # the wrapper emptied the memory for the next episode: show the ended one's
            history.memory_sizes.append(history.memory_sizes[-1] if history.memory_sizes else 0)
        else:
            history.memory_sizes.append(int(memory.sizes[0]))
            if int(memory.counts[0]) != count_before:  # an entry was written at this step
                written = np.flatnonzero(memory.valid_mask()[0] & (memory.ages[0] == memory.counts[0] - 1))
                newest_slot = int(written[0])
                thumbnails[newest_slot] = frame
        on_frame(compose_frame(frame, history, num_steps, thumbnails if with_memory else None, newest_slot))
        if done:
            break
    return history


def visualize(
    workdir: str,
    scenario: str,
    r_net,
    policy=None,
    num_episodes: int = 2,
    num_steps: int = 2000,
    visualization_type: str = "surrogate_reward",
    trajectory_mode: str = "random",
    seed: int = environments.DEFAULT_BASE_SEED,
    env_kwargs: dict | None = None,
    fps: int = 15,
    write_gif: bool = True,
) -> list[str]:
    """Writes a curiosity video (+ GIF + CSV) per episode into `workdir`; returns the paths.

    Args:
      workdir: str, output folder (created).
      scenario: str, registered scenario name.
      r_net: the R-network (`r_network.RNetwork`; input shape = the scenario's curiosity frames).
      policy: a `ppo.ActorCritic` (for the wrapped env's spaces), or str, a policy checkpoint
        (file, run dir or checkpoints dir), or None; required for trajectory_mode 'policy'.
        Its observations are the frames resized to the shape it was built for (the one the
        checkpoint records; else the gin-bound `CuriosityEnvWrapper.target_image_shape`).
      num_episodes: int, episodes (episode i is seeded seed + i).
      num_steps: int, most steps per episode.
      visualization_type: str, 'surrogate_reward' or 'memory' (adds the memory thumbnails).
      trajectory_mode: str, 'policy', 'random' or 'do_nothing'.
      seed: int, seed of episode 0.
      env_kwargs: dict or None, scenario constructor overrides.
      fps: int, video frame rate.
      write_gif: bool, also write a half-size GIF.

    Returns:
      list of str, per episode: the MP4, the GIF (if written), the CSV.
    """
    problems = []
    if visualization_type not in VISUALIZATION_TYPES:
        problems.append(
            f"visualization_type must be one of {', '.join(VISUALIZATION_TYPES)}, got {visualization_type!r}"
        )
    if trajectory_mode not in TRAJECTORY_MODES:
        problems.append(f"trajectory_mode must be one of {', '.join(TRAJECTORY_MODES)}, got {trajectory_mode!r}")
    if trajectory_mode == "policy" and policy is None:
        problems.append("trajectory_mode 'policy' needs a policy (or a checkpoint path)")
    if num_episodes < 1 or num_steps < 1:
        problems.append(f"num_episodes and num_steps must be >= 1, got {num_episodes} and {num_steps}")
    if fps < 1:
        problems.append(f"fps must be >= 1, got {fps}")
    if problems:
        raise ValueError("invalid visualization arguments: " + "; ".join(problems))
    try:
        video.require_imageio()
    except ImportError as e:
        raise environments.MissingDependencyError("imageio", "video", "Writing videos") from e
    os.makedirs(workdir, exist_ok=True)
    # A policy sees the frames resized (and stacked) as it was trained on (else as gin says).
    shape = _policy_input_settings(policy) if trajectory_mode == "policy" else {}
    written = []
    for episode in range(num_episodes):
        vector_env = environments.make_vector_env(
            scenario, 1, base_seed=seed + episode, asynchronous=False, env_kwargs=env_kwargs
        )
        # The per-step wrapper: the bonus of every step as it is taken.
        env = curiosity_env_wrapper.CuriosityEnvWrapper(
            vector_env, functools.partial(intrinsic.EpisodicCuriosity, network=r_net), **shape
        )
        stem = os.path.join(workdir, f"{visualization_type}_{episode}")
        gif_path = stem + ".gif" if write_gif else None
        try:
            if trajectory_mode == "policy" and isinstance(policy, (str, os.PathLike)):
                policy = load_policy(os.fspath(policy), env)  # loaded once, kept for later episodes
            with video.mp4_and_gif_writer(stem + ".mp4", gif_path, fps) as add_frame:
                history = run_episode(
                    env,
                    trajectory_mode,
                    num_steps,
                    policy=policy,
                    seed=seed + episode,
                    with_memory=visualization_type == "memory",
                    on_frame=add_frame,
                )
        finally:
            env.close()
        written += [stem + ".mp4"] + ([gif_path] if gif_path else [])
        _write_history(history, stem + ".csv")
        written.append(stem + ".csv")
        logging.info(
            "Episode %d: %d steps, bonus sum %.3f, task return %.3f, memory %d/%d -> %s.mp4",
            episode,
            len(history.actions),
            sum(history.bonuses),
            sum(history.task_rewards),
            history.memory_sizes[-1],
            history.memory_capacity,
            stem,
        )
    return written


# --- Entry point ----------------------------------------------------------------------------


def _define_flags() -> None:
    flags.DEFINE_string("workdir", None, "Output folder for the videos.")
    flags.DEFINE_string(
        "r_net_weights",
        None,
        "R-network weights (.h5) or a shipped model (pretrained:vizdoom), "
        "built with the file's architecture (no gin bindings needed); random init if unset.",
    )
    flags.DEFINE_string(
        "policy_path",
        None,
        "Policy checkpoint, a folder with checkpoints, or a shipped model (pretrained:vizdoom_sparse_ppo_plus_ec).",
    )
    flags.DEFINE_string("scenario", "vizdoom_sparse", "Registered scenario name.")
    flags.DEFINE_integer("num_episodes", 2, "Episodes to record.")
    flags.DEFINE_integer("num_steps", 2000, "Most agent steps per episode.")
    flags.DEFINE_enum("visualization_type", "surrogate_reward", list(VISUALIZATION_TYPES), "What to draw.")
    flags.DEFINE_enum("trajectory_mode", "policy", list(TRAJECTORY_MODES), "Where actions come from.")
    flags.DEFINE_integer("seed", environments.DEFAULT_BASE_SEED, "Env seed of episode 0.")
    flags.DEFINE_integer("fps", 15, "Video frame rate.")
    flags.DEFINE_bool("gif", True, "Also write a half-size GIF per episode.")
    flags.DEFINE_multi_string("gin_config", [], "Gin config files (method / scenario configs).")
    flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings, e.g. 'EpisodicMemory.capacity=200'.")


def main(argv: Sequence[str]) -> None:
    del argv
    config = flags.FLAGS
    if not config.workdir:
        raise app.UsageError("--workdir is required")
    if config.trajectory_mode == "policy" and not config.policy_path:
        raise app.UsageError("--trajectory_mode=policy needs --policy_path (or use random / do_nothing)")
    from episodic_curiosity import cli  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import configurables  # noqa: F401 pylint: disable=g-import-not-at-top,unused-import

    cli.parse_gin(config.gin_config, config.gin_bindings)
    environments.get_scenario(config.scenario)  # unknown names fail before anything is built
    if not config.r_net_weights:
        logging.warning("No --r_net_weights: using a randomly initialised R-network.")
    r_net = r_network.RNetwork(weights_path=config.r_net_weights)
    os.makedirs(config.workdir, exist_ok=True)
    atomic_files.write_text(os.path.join(config.workdir, "flags.txt"), config.flags_into_string())
    paths = visualize(
        config.workdir,
        config.scenario,
        r_net,
        policy=config.policy_path,
        num_episodes=config.num_episodes,
        num_steps=config.num_steps,
        visualization_type=config.visualization_type,
        trajectory_mode=config.trajectory_mode,
        seed=config.seed,
        fps=config.fps,
        write_gif=config.gif,
    )
    atomic_files.write_text(os.path.join(config.workdir, "visualize.gin"), gin.operative_config_str())
    for path in paths:
        print(path)


def run() -> None:
    """Console script `ec-visualize-curiosity-reward`."""
    from episodic_curiosity import cli  # pylint: disable=g-import-not-at-top

    cli.run(main, define_flags=_define_flags)


if __name__ == "__main__":
    run()
