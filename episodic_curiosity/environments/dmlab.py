"""DeepMind Lab scenarios of the paper (the original code) as a Gymnasium env, on a stock DeepMind Lab.

DeepMind Lab is not on PyPI: users build its Python module themselves (README, "DeepMind Lab").
This module imports fine without it; `deepmind_lab` is imported when an env is built, and a
missing one gives `DMLabNotInstalledError` with the build instructions.

Scenarios (`SCENARIOS`): sparse, noreward and norewardnofire play the stock
`explore_goal_locations_large`; sparseplusdoors `explore_obstructed_goals_large`; dense1
`rooms_keys_doors_puzzle`; dense2 `rooms_collect_good_objects_train` (all under
`contributed/dmlab30/`). verysparse plays the project's own level
`dmlab_levels/ec_explore_goal_locations_large.lua` (same mazes and goals as the stock level,
spawn at least `minGoalDistance` = 10 maze cells from the goal, also on respawns), loaded
through DeepMind Lab's `levelDirectory` setting: no engine patch is needed.

Task, as the original used DeepMind Lab:
  * observation: `DEBUG.CAMERA.PLAYER_VIEW_NO_RETICLE` (no HUD, no crosshair), delivered
    channels-first and transposed to uint8 120x160x3;
  * actions: Discrete(9) (`default`) or Discrete(8) (`nofire`, for norewardnofire), each a
    7-component np.intc vector held for `action_repeat` = 4 frames, rewards summed;
  * rewards and episode ends as the levels define them: +10 per goal in the explore levels
    (the player then respawns in the same maze; the episode goes on), 120 s = 1800 agent
    steps there and 60 s = 900 in the rooms levels;
  * an episode that ends because its time ran out is `truncated`; one that the level ends
    earlier (dense1's goal, dense2's 10th good object) is `terminated`;
  * level seeds: each reset draws one from a `np.random.RandomState` seeded with the env seed
    (the original code); `mixerSeed` per split (`SPLIT_MIXER_SEEDS`) makes splits disjoint;
  * info: `position` (DEBUG.POS.TRANS, world x, y, z; what the grid oracle reads),
    `rotation` (DEBUG.POS.ROT, pitch, yaw, roll in degrees), `velocity`
    (DEBUG.PLAYERS.VELOCITY, world frame, units/s), `maze_layout` (DEBUG.MAZE.LAYOUT, '' in
    the rooms levels), `frame_number` (MAP_FRAME_NUMBER, restarts at each respawn),
    `respawned` (the frame number went down since the last step) and `level_seed`.

DeepMind Lab quirks handled here (DeepMind Lab's documented behaviour): settings must be strings; `step` and
`observations` raise once the episode is over, so the last observation and info are kept and
returned on the final step; `reset` after `close` crashes the process, so it is refused. Keep
one env (one `Lab`) per process: vector envs use one subprocess per env.

Check an installation: `python -m episodic_curiosity.environments.dmlab --check
[--scenario sparse] [--output frame.png]`.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import sys
import time
import types
from typing import Any, Mapping

import gymnasium as gym
import numpy as np

from episodic_curiosity import atomic_files
from episodic_curiosity.environments import errors
from episodic_curiosity.environments import my_way_home_wad

BUILD_DOCS_URL = "https://github.com/google-deepmind/lab/blob/master/docs/users/build.md"
LEVELS_DIRECTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dmlab_levels")
OBSERVATION_SHAPE = (120, 160, 3)
WIDTH, HEIGHT = 160, 120
DEFAULT_FPS = 60
RENDERERS = ("software", "hardware")

# The observations asked from DeepMind Lab (the original code).
OBS_FRAME = "DEBUG.CAMERA.PLAYER_VIEW_NO_RETICLE"
OBS_POSITION = "DEBUG.POS.TRANS"
OBS_ROTATION = "DEBUG.POS.ROT"
OBS_VELOCITY = "DEBUG.PLAYERS.VELOCITY"
OBS_MAZE_LAYOUT = "DEBUG.MAZE.LAYOUT"
OBS_FRAME_NUMBER = "MAP_FRAME_NUMBER"
OBSERVATIONS = (OBS_FRAME, OBS_POSITION, OBS_ROTATION, OBS_VELOCITY, OBS_MAZE_LAYOUT, OBS_FRAME_NUMBER)

# Mixer seed of each data split, DeepMind Lab's `mixerSeed` setting. The first four are the
# original code's; R_VALIDATION (this project's) keeps the R-network's held-out data apart from
# the policy's validation envs, which the original both played with VALIDATION.
SPLIT_MIXER_SEEDS = {
    "R_TRAINING": 0,
    "POLICY_TRAINING": 0x3D23BE66,
    "VALIDATION": 0x2B79ED94,
    "TEST": 0x600D5EED,
    "R_VALIDATION": 0x1C0FFEE5,
}

# Action vectors: (look left/right px, look down/up px, strafe left/right, move back/forward,
# fire, jump, crouch), the original code.
_DEFAULT_ACTIONS = (
    ("forward", (0, 0, 0, 1, 0, 0, 0)),
    ("backward", (0, 0, 0, -1, 0, 0, 0)),
    ("strafe_left", (0, 0, -1, 0, 0, 0, 0)),
    ("strafe_right", (0, 0, 1, 0, 0, 0, 0)),
    ("look_left", (-20, 0, 0, 0, 0, 0, 0)),
    ("look_right", (20, 0, 0, 0, 0, 0, 0)),
    ("look_left_forward", (-20, 0, 0, 1, 0, 0, 0)),
    ("look_right_forward", (20, 0, 0, 1, 0, 0, 0)),
    ("fire", (0, 0, 0, 0, 1, 0, 0)),
)
ACTION_SETS = {
    "default": _DEFAULT_ACTIONS,
    "nofire": _DEFAULT_ACTIONS[:8],
}


@dataclasses.dataclass(frozen=True)
class DMLabScenario:
    """How one scenario is played.

    Attributes:
      fully_qualified_level: str, the original's name of the level (the original code).
      level_name: str, the level script DeepMind Lab loads.
      project_level: bool, True if `level_name` is one of this package's `dmlab_levels/`
        (loaded through `levelDirectory`), False for a level shipped with DeepMind Lab.
      settings: mapping str -> str, the scenario's level settings.
      action_set: str, a key of `ACTION_SETS`.
      episode_length_seconds: int, the level's episode length.
      explore_level: bool, True for the maze levels (they honour `episodeLengthSeconds` and
        report a maze layout); the rooms levels ignore `episodeLengthSeconds`.
    """

    fully_qualified_level: str
    level_name: str
    project_level: bool = False
    settings: Mapping[str, str] = dataclasses.field(default_factory=dict)
    action_set: str = "default"
    episode_length_seconds: int = 120
    explore_level: bool = True


_EGL = "explore_goal_locations_large"
SCENARIOS = {
    "sparse": DMLabScenario(_EGL, f"contributed/dmlab30/{_EGL}"),
    "noreward": DMLabScenario(_EGL, f"contributed/dmlab30/{_EGL}"),
    "norewardnofire": DMLabScenario(_EGL, f"contributed/dmlab30/{_EGL}", action_set="nofire"),
    "verysparse": DMLabScenario(
        f"{_EGL}_verysparse", f"ec_{_EGL}", project_level=True, settings={"minGoalDistance": "10"}
    ),
    "sparseplusdoors": DMLabScenario(
        "explore_obstructed_goals_large", "contributed/dmlab30/explore_obstructed_goals_large"
    ),
    "dense1": DMLabScenario(
        "rooms_keys_doors_puzzle",
        "contributed/dmlab30/rooms_keys_doors_puzzle",
        episode_length_seconds=60,
        explore_level=False,
    ),
    "dense2": DMLabScenario(
        "rooms_collect_good_objects_train",
        "contributed/dmlab30/rooms_collect_good_objects_train",
        episode_length_seconds=60,
        explore_level=False,
    ),
}


def episode_steps(scenario: str, action_repeat: int = 4) -> int:
    """Agent steps per episode of `scenario` at the default 60 fps (1800 or 900 at repeat 4)."""
    return SCENARIOS[scenario].episode_length_seconds * DEFAULT_FPS // action_repeat


class DMLabNotInstalledError(errors.MissingDependencyError):
    """The `deepmind_lab` module is not importable; says how to build it."""

    def __init__(self, *unused_args):  # pylint: disable=super-init-not-called
        # *unused_args: unpickling (e.g. from a vector-env worker) passes the message back in.
        ImportError.__init__(
            self,
            "DeepMind Lab scenarios need the 'deepmind_lab' Python module, which is not "
            "installed (it is not on PyPI). Build DeepMind Lab and its Python wheel with "
            f"bazel as described in {BUILD_DOCS_URL}, then pip install the wheel into this "
            "environment; the README section 'DeepMind Lab' lists the steps and the versions "
            "known to work.",
        )
        self.package = "deepmind_lab"
        self.extra = ""


def import_deepmind_lab() -> types.ModuleType:
    """Imports `deepmind_lab`, or raises DMLabNotInstalledError with the build instructions."""
    try:
        import deepmind_lab  # pylint: disable=g-import-not-at-top
    except ImportError as e:
        raise DMLabNotInstalledError() from e
    return deepmind_lab


def mixer_seed_value(mixer_seed: int | str) -> int:
    """The `mixerSeed` of a split name (`SPLIT_MIXER_SEEDS`) or of an int in [0, 2**32 - 1]."""
    if isinstance(mixer_seed, str):
        if mixer_seed not in SPLIT_MIXER_SEEDS:
            raise ValueError(f"unknown split {mixer_seed!r}; valid: {', '.join(SPLIT_MIXER_SEEDS)}")
        return SPLIT_MIXER_SEEDS[mixer_seed]
    if isinstance(mixer_seed, bool) or not isinstance(mixer_seed, (int, np.integer)):
        raise ValueError(f"mixer_seed must be an int or a split name, got {mixer_seed!r}")
    if not 0 <= int(mixer_seed) <= 2**32 - 1:
        raise ValueError(f"mixer_seed must be in [0, 2**32 - 1], got {mixer_seed}")
    return int(mixer_seed)


def _setting_string(value: Any) -> str:
    """DeepMind Lab accepts only str settings; Lua reads booleans as 'true'/'false'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def lab_config(
    scenario: str, mixer_seed: int | str = 0, level_settings: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """The `config` given to `deepmind_lab.Lab` for `scenario` (all values str).

    Args:
      scenario: str, a key of `SCENARIOS`.
      mixer_seed: int or str, see `mixer_seed_value`.
      level_settings: mapping or None, extra or overriding settings (e.g.
        {'minGoalDistance': 15, 'episodeLengthSeconds': 5}).
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown DeepMind Lab scenario {scenario!r}; valid: {', '.join(SCENARIOS)}")
    spec = SCENARIOS[scenario]
    extra = {str(k): _setting_string(v) for k, v in (level_settings or {}).items()}
    if "minGoalDistance" in extra and not spec.project_level:
        raise ValueError(
            f"scenario {scenario!r} plays the stock level {spec.level_name!r}, which rejects "
            "'minGoalDistance'; use the 'verysparse' scenario (the project's level) to set it"
        )
    for key in ("width", "height", "levelDirectory", "mixerSeed"):
        if key in extra:
            raise ValueError(f"level setting {key!r} is set by the env; remove it from level_settings")
    config = {"width": str(WIDTH), "height": str(HEIGHT), "mixerSeed": str(mixer_seed_value(mixer_seed))}
    if spec.project_level:
        config["levelDirectory"] = LEVELS_DIRECTORY
    config.update(spec.settings)
    config.update(extra)
    return config


def default_level_cache_dir() -> str:
    """`dmlab_level_cache` in the package's cache folder for generated files
    (`$EPISODIC_CURIOSITY_CACHE`, a per-user temporary folder if unset)."""
    return os.path.join(my_way_home_wad.cache_dir(), "dmlab_level_cache")


class LevelCache:
    """File-backed cache of compiled DeepMind Lab maps, passed as `Lab(level_cache=...)`.

    A new maze takes seconds to compile (about 6 s for explore_goal_locations_large) and a
    cached one about 0.3 s. DeepMind Lab calls `fetch(key, pk3_path)` before compiling a map
    and `write(key, pk3_path)` after; keys name one generated map each. Writes are atomic, so
    envs in several processes can share the folder.
    """

    _KEY = re.compile(r"^[A-Za-z0-9_.-]+$")

    def __init__(self, directory: str):
        """Args:
        directory: str, the folder holding one file per cached map (created if missing).
        """
        self.directory = directory
        os.makedirs(directory, exist_ok=True)

    def _path(self, key: str) -> str | None:
        if not self._KEY.match(key) or key in (".", ".."):
            return None  # never a path outside the folder
        return os.path.join(self.directory, key)

    def fetch(self, key: str, pk3_path: str) -> bool:
        """Copies the cached map `key` to `pk3_path`; False if it is not cached."""
        path = self._path(key)
        if path is None or not os.path.isfile(path):
            return False
        try:
            shutil.copyfile(path, pk3_path)
        except OSError:
            return False
        return True

    def write(self, key: str, pk3_path: str) -> None:
        """Stores the compiled map at `pk3_path` under `key`."""
        path = self._path(key)
        if path is None:
            return
        with atomic_files.atomic_path(path) as tmp_path:
            shutil.copyfile(pk3_path, tmp_path)


def make_exploration_scored_env(**kwargs) -> gym.Env:
    """A no-reward scenario's env: `DMLabEnv(**kwargs)` whose reward is the grid-oracle
    exploration score (30-unit cells, 1.0 per new cell), the original's "oracle before
    monitor": the training reward CSV and every evaluation report that score. The policy of
    these scenarios never sees it (its task reward is scaled by 0)."""
    from episodic_curiosity import oracle  # pylint: disable=g-import-not-at-top

    return oracle.OracleRewardWrapper(DMLabEnv(**kwargs), reward_grid_size=30.0, cell_reward_normalizer=900.0)


class DMLabEnv(gym.Env):
    """One DeepMind Lab scenario; see the module docstring for the task."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": DEFAULT_FPS // 4}

    def __init__(
        self,
        scenario: str = "sparse",
        seed: int | None = None,
        mixer_seed: int | str = 0,
        renderer: str = "software",
        action_repeat: int = 4,
        level_settings: Mapping[str, Any] | None = None,
        level_cache_dir: str | None = None,
        render_mode: str | None = None,
        lab_module: types.ModuleType | None = None,
    ):
        """Creates the DeepMind Lab environment (one `Lab`; keep one per process).

        Args:
          scenario: str, a key of `SCENARIOS`.
          seed: int or None, seeds the first `reset()` that is not given a seed (vector envs
            pass `base_seed + i`): each episode's level seed is drawn from it.
          mixer_seed: int or str, DeepMind Lab's `mixerSeed`: a split name of
            `SPLIT_MIXER_SEEDS` or an int in [0, 2**32 - 1]; 0 = no mixing.
          renderer: str, 'software' (any machine) or 'hardware' (GPU machines with EGL).
          action_repeat: int, frames each action is held for.
          level_settings: mapping or None, extra level settings (values are turned into str),
            e.g. {'episodeLengthSeconds': 5} or, for verysparse, {'minGoalDistance': 15}.
          level_cache_dir: str or None, folder caching compiled maps; None =
            `default_level_cache_dir()`, '' = no cache.
          render_mode: None or 'rgb_array'.
          lab_module: module or None, the DeepMind Lab module to use (tests pass a stand-in);
            None imports `deepmind_lab`.
        """
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown DeepMind Lab scenario {scenario!r}; valid: {', '.join(SCENARIOS)}")
        if renderer not in RENDERERS:
            raise ValueError(f"renderer must be one of {', '.join(RENDERERS)}, got {renderer!r}")
        if action_repeat < 1:
            raise ValueError(f"action_repeat must be >= 1, got {action_repeat}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        config = lab_config(scenario, mixer_seed, level_settings)
        lab_module = lab_module if lab_module is not None else import_deepmind_lab()

        self.scenario = scenario
        self.scenario_spec = SCENARIOS[scenario]
        self.action_repeat = action_repeat
        self.render_mode = render_mode
        self.config = config
        self.action_names = tuple(name for name, _ in ACTION_SETS[self.scenario_spec.action_set])
        self._action_vectors = [
            np.array(vector, dtype=np.intc) for _, vector in ACTION_SETS[self.scenario_spec.action_set]
        ]
        self.observation_space = gym.spaces.Box(0, 255, OBSERVATION_SHAPE, np.uint8)
        self.action_space = gym.spaces.Discrete(len(self._action_vectors))
        self.episode_frames = self._episode_frames(config)

        if level_cache_dir is None:
            level_cache_dir = default_level_cache_dir()
        self.level_cache = LevelCache(level_cache_dir) if level_cache_dir else None
        self._lab = lab_module.Lab(
            self.scenario_spec.level_name,
            list(OBSERVATIONS),
            config=config,
            renderer=renderer,
            level_cache=self.level_cache,
        )
        self._initial_seed = seed
        self._seed_rng: np.random.RandomState | None = None
        self._closed = False
        self._running = False
        self._frames = 0
        self._level_seed = -1
        self._last_frame = np.zeros(OBSERVATION_SHAPE, np.uint8)
        self._last_info: dict[str, Any] = {}

    def _episode_frames(self, config: Mapping[str, str]) -> int:
        """Frames in a full-length episode: the timeout, to tell truncation from termination."""
        fps = int(float(config.get("fps", DEFAULT_FPS)))
        seconds = float(self.scenario_spec.episode_length_seconds)
        if self.scenario_spec.explore_level and "episodeLengthSeconds" in config:
            seconds = float(config["episodeLengthSeconds"])
        return int(round(seconds * fps))

    # Gymnasium API -----------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if self._closed:
            raise RuntimeError("reset() after close(): DeepMind Lab cannot restart a closed Lab")
        if seed is None and self._seed_rng is None:
            seed = self._initial_seed
        if seed is not None or self._seed_rng is None:
            # Level seeds come from this RNG: the same env seed gives the same episodes.
            self._seed_rng = np.random.RandomState(None if seed is None else int(seed) % 2**32)
        self._level_seed = int(self._seed_rng.randint(0, 2**31 - 1))
        self._lab.reset(seed=self._level_seed)
        self._running = True
        self._frames = 0
        self._read_observations(previous_frame_number=None)
        return self._last_frame.copy(), dict(self._last_info)

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"invalid action {action!r}: expected an int in [0, {self.action_space.n})")
        if not self._running:
            raise RuntimeError("step() called after the episode ended; call reset() first")
        reward = float(self._lab.step(self._action_vectors[int(action)], num_steps=self.action_repeat))
        self._frames += self.action_repeat
        terminated = truncated = False
        if self._lab.is_running():
            self._read_observations(previous_frame_number=self._last_info["frame_number"])
        else:
            # Observations can no longer be read: the last ones are returned again.
            self._running = False
            self._last_info["respawned"] = False
            truncated = self._frames >= self.episode_frames
            terminated = not truncated
        return self._last_frame.copy(), reward, terminated, truncated, dict(self._last_info)

    def render(self):
        if self.render_mode == "rgb_array":
            return self._last_frame.copy()
        return None

    def close(self):
        lab = getattr(self, "_lab", None)
        if lab is not None and not self._closed:
            lab.close()
        self._closed = True
        self._running = False

    # Helpers -----------------------------------------------------------------------------------

    def _read_observations(self, previous_frame_number: int | None) -> None:
        obs = self._lab.observations()
        self._last_frame = np.ascontiguousarray(np.transpose(obs[OBS_FRAME], (1, 2, 0)), dtype=np.uint8)
        velocity = np.asarray(obs[OBS_VELOCITY], np.float64).reshape(-1)
        frame_number = int(np.asarray(obs[OBS_FRAME_NUMBER]).reshape(-1)[0])
        self._last_info = {
            "position": np.array(obs[OBS_POSITION], dtype=np.float64).reshape(3),
            "rotation": np.array(obs[OBS_ROTATION], dtype=np.float64).reshape(3),
            # (1, 3) while the player exists; (0, 3) would mean no player: report zeros.
            "velocity": velocity[:3].copy() if velocity.size >= 3 else np.zeros(3),
            "maze_layout": str(obs[OBS_MAZE_LAYOUT]),
            "frame_number": frame_number,
            "respawned": previous_frame_number is not None and frame_number < previous_frame_number,
            "level_seed": self._level_seed,
        }


# Installation check --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """What `check_installation` measured.

    Attributes:
      steps: int, agent steps taken (episode ends included).
      steps_per_second: float, agent steps per wall-clock second, resets excluded.
      reset_seconds: float, wall-clock seconds of the first reset (map compilation).
      total_reward: float, reward summed over the steps.
      episodes_ended: int, episodes that ended during the steps.
      output: str, the PNG written ('' if none).
    """

    steps: int
    steps_per_second: float
    reset_seconds: float
    total_reward: float
    episodes_ended: int
    output: str


def check_installation(
    scenario: str = "sparse",
    steps: int = 200,
    output: str = "",
    renderer: str = "software",
    seed: int = 0,
    lab_module: types.ModuleType | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> CheckResult:
    """Builds the env, resets it, takes `steps` random actions and writes the last frame.

    Args:
      scenario: str, a key of `SCENARIOS`.
      steps: int, random agent steps to take (>= 1).
      output: str, path of a PNG of the last observation ('' = none).
      renderer: str, 'software' or 'hardware'.
      seed: int, env and action seed.
      lab_module: module or None, see `DMLabEnv`.
      env_kwargs: mapping or None, further `DMLabEnv` arguments.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    env = DMLabEnv(scenario, seed=seed, renderer=renderer, lab_module=lab_module, **(env_kwargs or {}))
    try:
        env.action_space.seed(seed)
        start = time.perf_counter()
        observation, _ = env.reset()
        reset_seconds = time.perf_counter() - start
        total_reward, episodes_ended, step_seconds = 0.0, 0, 0.0
        for _ in range(steps):
            start = time.perf_counter()
            observation, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            step_seconds += time.perf_counter() - start
            total_reward += reward
            if terminated or truncated:
                episodes_ended += 1
                observation, _ = env.reset()
    finally:
        env.close()
    if output:
        import cv2  # pylint: disable=g-import-not-at-top

        with atomic_files.atomic_path(output) as tmp_path:
            if not cv2.imwrite(tmp_path, observation[..., ::-1]):
                raise OSError(f"could not write the frame to {output!r}")
    return CheckResult(
        steps=steps,
        steps_per_second=steps / max(step_seconds, 1e-9),
        reset_seconds=reset_seconds,
        total_reward=total_reward,
        episodes_ended=episodes_ended,
        output=output,
    )


def _define_flags() -> None:
    from absl import flags  # pylint: disable=g-import-not-at-top

    flags.DEFINE_bool("check", False, "Check the DeepMind Lab installation (the only action).")
    flags.DEFINE_enum("scenario", "sparse", list(SCENARIOS), "Scenario to play.")
    flags.DEFINE_integer("steps", 200, "Random agent steps to take.")
    flags.DEFINE_string("output", "", "Write the last frame to this PNG file.")
    flags.DEFINE_enum("renderer", "software", list(RENDERERS), "DeepMind Lab renderer.")
    flags.DEFINE_integer("seed", 0, "Env and action seed.")


def main(argv) -> None:
    from absl import app  # pylint: disable=g-import-not-at-top
    from absl import flags  # pylint: disable=g-import-not-at-top

    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    flag_values = flags.FLAGS
    if not flag_values.check:
        raise app.UsageError("nothing to do: pass --check to check the DeepMind Lab installation")
    try:
        result = check_installation(
            flag_values.scenario, flag_values.steps, flag_values.output, flag_values.renderer, flag_values.seed
        )
    except DMLabNotInstalledError as e:
        print(f"DeepMind Lab check failed: {e}", file=sys.stderr)
        sys.exit(1)
    print(
        f"DeepMind Lab works: scenario {flag_values.scenario}, first reset "
        f"{result.reset_seconds:.2f} s, {result.steps} steps at {result.steps_per_second:.0f} "
        f"steps/s, reward {result.total_reward:g}, {result.episodes_ended} episode(s) ended"
        + (f", frame written to {result.output}" if result.output else "")
    )


if __name__ == "__main__":
    from absl import app as _app  # pylint: disable=g-import-not-at-top

    _define_flags()
    _app.run(main)
