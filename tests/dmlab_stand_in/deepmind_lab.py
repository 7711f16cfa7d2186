"""A small stand-in for DeepMind Lab's Python module `deepmind_lab`, for tests without DMLab.

It follows DeepMind Lab's documented Python API (`Lab(level, observations, config, renderer,
level_cache)`, `reset(seed=...)`, `step(action, num_steps=...)`, `observations()`,
`is_running()`, `action_spec()`, ...) and reproduces the behaviour measured on a real build
that an adapter can get wrong:

  * config values must be str (TypeError otherwise); no `fps()` method;
  * `step` / `observations()` raise RuntimeError before the first reset and after the episode
    ended; actions must be np.ndarray (TypeError) of dtype np.intc and shape (7,) (ValueError);
  * a stock explore level rejects an unknown setting such as `minGoalDistance` at construction
    ("Invalid setting"); a level loaded from `levelDirectory` accepts the options its Lua file
    declares in `level.opts`;
  * episodes last `episodeLengthSeconds` x 60 frames (120 s explore, 60 s rooms levels, which
    ignore `episodeLengthSeconds`); the step that reaches the end still returns a reward;
  * reaching the goal gives +10 and respawns the player on a 'P' cell (uniformly among the
    cells connected to the goal; for the project's level, at least `minGoalDistance` cells away,
    by the Python mirror of its Lua placement); MAP_FRAME_NUMBER restarts at each respawn;
  * `level_cache.fetch(key, pk3_path)` is called before "compiling" a map and
    `level_cache.write(key, pk3_path)` after.

The world is simplified: every explore-level seed plays the EGL seed-1 maze of a real build
(the seed picks the goal and start); movement is 5 units per frame, blocked by walls; turning is
0.1056 degrees per look pixel per frame. Frames are synthetic, a function of position and yaw.

Test-only helpers (not DeepMind Lab API): `Lab.teleport(x, y, yaw)` and
`Lab.end_episode_in(frames)` (the level ends early, as dense1's goal or dense2's 10th object).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile

import numpy as np

from episodic_curiosity.environments import dmlab_placement

EGL_SEED1_MAZE = (
    "*****************\n"
    "***  GPG*PGG*GGP*\n"
    "*** *PGP*PPG*PGP*\n"
    "*** *PGP PGP GPP*\n"
    "*** * * * * * ***\n"
    "*PGG  *PGP      *\n"
    "*GPP* *PGP* *** *\n"
    "*PPG*  GPG PPG* *\n"
    "* *** * ***PGG* *\n"
    "*    GPP  *GPP* *\n"
    "*** *GPP* * *** *\n"
    "*** *GGP*  PGG* *\n"
    "*** *** * *PPG* *\n"
    "*** *PPP  *GPP* *\n"
    "*** *PGG* ***** *\n"
    "***  PGG*       *\n"
    "*****************\n"
)

ACTION_SPEC = [
    {"name": "LOOK_LEFT_RIGHT_PIXELS_PER_FRAME", "min": -512, "max": 512},
    {"name": "LOOK_DOWN_UP_PIXELS_PER_FRAME", "min": -512, "max": 512},
    {"name": "STRAFE_LEFT_RIGHT", "min": -1, "max": 1},
    {"name": "MOVE_BACK_FORWARD", "min": -1, "max": 1},
    {"name": "FIRE", "min": 0, "max": 1},
    {"name": "JUMP", "min": 0, "max": 1},
    {"name": "CROUCH", "min": 0, "max": 1},
]

_OBSERVATION_SPECS = {
    "RGB_INTERLEAVED": ((120, 160, 3), np.uint8),
    "DEBUG.CAMERA.PLAYER_VIEW_NO_RETICLE": ((3, 120, 160), np.uint8),
    "DEBUG.POS.TRANS": ((3,), np.float64),
    "DEBUG.POS.ROT": ((3,), np.float64),
    "DEBUG.PLAYERS.VELOCITY": ((0, 3), np.float64),
    "DEBUG.MAZE.LAYOUT": ((), str),
    "MAP_FRAME_NUMBER": ((1,), np.float64),
}

_ENGINE_KEYS = {
    "levelName",
    "levelDirectory",
    "width",
    "height",
    "fps",
    "mixerSeed",
    "appendCommand",
    "minimalUI",
    "reducedUI",
    "localLevelCache",
    "globalLevelCache",
    "vmMode",
    "logToStdErr",
    "playerName",
    "gpuDeviceIndex",
    "use_pbos",
}
_WHITELISTED = {
    "logLevel",
    "invocationMode",
    "allowHoldOutLevels",
    "levelGenerator",
    "playerId",
    "players",
    "randomSeed",
    "datasetPath",
    "enableCameraMovement",
}
_EXPLORE_OPTIONS = {
    "episodeLengthSeconds",
    "mazeHeight",
    "mazeWidth",
    "roomCount",
    "roomMaxSize",
    "roomMinSize",
    "objectCount",
    "spawnCount",
    "extraConnectionProbability",
    "decalFrequency",
    "overrideEntityLayer",
}
# Stock level -> (kind, episode seconds, extra options).
_STOCK_LEVELS = {
    "contributed/dmlab30/explore_goal_locations_large": (
        "explore",
        120,
        {"overrideGoalStartRow", "overrideGoalEndRow"},
    ),
    "contributed/dmlab30/explore_obstructed_goals_large": ("explore", 120, {"doorsClosed"}),
    "contributed/dmlab30/rooms_keys_doors_puzzle": ("keys_doors", 60, set()),
    "contributed/dmlab30/rooms_collect_good_objects_train": ("collect", 60, set()),
}

FRAMES_PER_SECOND = 60
SPEED_PER_FRAME = 5.0
DEGREES_PER_PIXEL_FRAME = 0.1056
GOAL_RADIUS = 30.0
FLOOR_Z = 25.125

# Every Lab built in this process, newest last (tests inspect the arguments).
created_labs: list["Lab"] = []


def version() -> str:
    return "stand-in"


def _project_level_options(path: str) -> set[str]:
    """Option names declared in the `level.opts = {...}` table of a project level file."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    match = re.search(r"level\.opts\s*=\s*\{(.*?)\n\}", text, re.S)
    return set(re.findall(r"^\s*(\w+)\s*=", match.group(1), re.M)) if match else set()


class Lab:
    """Follows `deepmind_lab.Lab`; see the module docstring."""

    def __init__(self, level, observations, config=None, renderer="software", level_cache=None, temp_folder=None):
        config = {} if config is None else config
        for key, value in config.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError("bad argument type for built-in operation")
        for name in observations:
            if name not in _OBSERVATION_SPECS:
                raise ValueError(f"Unknown observation '{name}'.")
        if renderer not in ("software", "hardware"):
            raise ValueError(f"Unknown renderer '{renderer}'.")
        self.level = level
        self.observation_names = list(observations)
        self.config = dict(config)
        self.renderer = renderer
        self.level_cache = level_cache
        self.compiled_maps = 0
        self.cache_hits = 0
        self._temp_folder = temp_folder or tempfile.mkdtemp(prefix="dmlab_stand_in_")

        mixer = config.get("mixerSeed", "0")
        if not re.fullmatch(r"-?\d+", mixer):
            raise RuntimeError(f"Failed to apply setting 'mixerSeed = {mixer}' - \"Invalid int setting {mixer}\"")
        if not 0 <= int(mixer) <= 2**32 - 1:
            raise RuntimeError(
                f"Failed to apply setting 'mixerSeed = {mixer}' - \"Invalid mixerSeed "
                "value, must be a positive integer not greater than '4294967295'.\""
            )
        self.mixer_seed = int(mixer)
        self.frames_per_second = int(config.get("fps", FRAMES_PER_SECOND))

        self.project_level = False
        if "levelDirectory" in config:
            path = os.path.join(config["levelDirectory"], level + ".lua")
            if not os.path.isfile(path):
                raise RuntimeError(f'Failed to init environment - "Level not found: {path}"')
            self.kind, seconds = "explore", 120
            options = _EXPLORE_OPTIONS | _project_level_options(path)
            self.project_level = True
        elif level in _STOCK_LEVELS:
            self.kind, seconds, extra = _STOCK_LEVELS[level]
            options = _EXPLORE_OPTIONS | extra
        else:
            raise RuntimeError(f'Failed to init environment - "Level not found: {level}"')
        level_keys = {k: v for k, v in config.items() if k not in _ENGINE_KEYS}
        self._unrecognised_at_reset = []
        for key, value in level_keys.items():
            if self.kind == "explore":
                if key not in options and key not in _WHITELISTED:
                    raise RuntimeError(
                        'Failed to init environment - "decorators/setting_overrides.lua:140: '
                        f'Invalid setting: "{key}" = "{value}""'
                    )
            elif self.kind == "keys_doors" and key not in _WHITELISTED:
                self._unrecognised_at_reset.append(key)
        if self.kind == "explore" and "episodeLengthSeconds" in level_keys:
            seconds = float(level_keys["episodeLengthSeconds"])
        self.min_goal_distance = int(level_keys.get("minGoalDistance", "0")) if self.project_level else 0
        self.episode_frames = int(round(seconds * self.frames_per_second))

        self._status = "constructed"
        self._num_steps = 0
        self._episode_frame = 0
        self._map_frame = 0
        self._end_frame = None
        self._rows = dmlab_placement.parse_layout(EGL_SEED1_MAZE)
        self._rng = np.random.RandomState(0)
        self._goal = (0, 0)
        self._pos = np.zeros(3)
        self._yaw = 0.0
        self._pitch = 0.0
        self._velocity = np.zeros(3)
        self.respawn_distances: list[int] = []
        self.steps_taken: list[tuple[np.ndarray, int]] = []  # (action, num_steps) of each step
        created_labs.append(self)

    # DeepMind Lab API ----------------------------------------------------------------------------

    def reset(self, episode=-1, seed=None):
        if self._status == "closed":
            raise RuntimeError("stand-in: reset() after close() crashes a real DeepMind Lab")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"'seed' must be int or None, was '{type(seed).__name__}'.")
        if self._unrecognised_at_reset:
            raise RuntimeError(
                'Failed to start environment - "map_generators/keys_doors/configs.lua:114: '
                f'Unrecognized config key: {self._unrecognised_at_reset[0]}"'
            )
        seed = int(np.random.randint(2**31)) if seed is None else seed
        self._rng = np.random.RandomState((seed ^ (self.mixer_seed << 32)) % 2**32)
        self._compile_map(seed)
        self._num_steps = self._episode_frame = 0
        self._end_frame = None
        self._velocity = np.zeros(3)
        self._pitch = 0.0
        if self.kind == "explore":
            goals = dmlab_placement.goal_candidates(self._rows)
            self._goal = goals[self._rng.randint(len(goals))]
            self._spawn()
        else:
            self._map_frame = 0
            self._pos = np.array([self._rng.uniform(-450, 900), self._rng.uniform(-700, 500), 32.125])
            self._yaw = float(self._rng.uniform(-180, 180))
        self._status = "running"
        return True

    def step(self, action, num_steps=1):
        if self._status != "running":
            raise RuntimeError("Environment in wrong status to advance.")
        if not isinstance(action, np.ndarray):
            raise TypeError(f"argument 1 must be numpy.ndarray, not {type(action).__name__}")
        if action.dtype != np.intc:
            raise ValueError("action must have dtype np.intc")
        if action.shape != (7,):
            raise ValueError("action must have shape (7)")
        self.steps_taken.append((action.copy(), num_steps))
        reward = 0.0
        for _ in range(max(int(num_steps), 0)):
            reward += self._advance_frame(action)
            self._num_steps += 1
            if self._episode_frame >= self.episode_frames or (
                self._end_frame is not None and self._episode_frame >= self._end_frame
            ):
                self._status = "finished"
                break
        return reward

    def observations(self):
        if self._status != "running":
            raise RuntimeError("Environment in wrong status for call to observations()")
        values = {
            "DEBUG.CAMERA.PLAYER_VIEW_NO_RETICLE": self._render(),
            "DEBUG.POS.TRANS": self._pos.copy(),
            "DEBUG.POS.ROT": np.array([self._pitch, self._yaw, 0.0]),
            "DEBUG.PLAYERS.VELOCITY": self._velocity.reshape(1, 3).copy(),
            "DEBUG.MAZE.LAYOUT": EGL_SEED1_MAZE if self.kind == "explore" else "",
            "MAP_FRAME_NUMBER": np.array([float(self._map_frame)]),
        }
        frame = values["DEBUG.CAMERA.PLAYER_VIEW_NO_RETICLE"]
        values["RGB_INTERLEAVED"] = np.transpose(frame, (1, 2, 0)).copy()
        return {name: values[name] for name in self.observation_names}

    def is_running(self):
        return self._status == "running"

    def num_steps(self):
        return self._num_steps

    def action_spec(self):
        return [dict(entry) for entry in ACTION_SPEC]

    def observation_spec(self):
        return [{"name": name, "shape": shape, "dtype": dtype} for name, (shape, dtype) in _OBSERVATION_SPECS.items()]

    def events(self):
        return []

    def close(self):
        self._status = "closed"
        return True

    # Test-only helpers ---------------------------------------------------------------------------

    def teleport(self, x, y, yaw=None):
        self._pos[:2] = (x, y)
        if yaw is not None:
            self._yaw = float(yaw)

    def end_episode_in(self, frames):
        self._end_frame = self._episode_frame + int(frames)

    def goal_position(self):
        return dmlab_placement.world_position(self._goal, len(self._rows))

    # Simulation ----------------------------------------------------------------------------------

    def _compile_map(self, seed):
        key = "explore_maze_noaas_" + hashlib.md5(f"{self.level}:{seed}:{self.mixer_seed}".encode()).hexdigest()
        pk3_path = os.path.join(self._temp_folder, key + ".pk3")
        if self.level_cache is not None and self.level_cache.fetch(key, pk3_path):
            self.cache_hits += 1
            return
        with open(pk3_path, "wb") as f:
            f.write(b"stand-in map " + key.encode())
        self.compiled_maps += 1
        if self.level_cache is not None:
            self.level_cache.write(key, pk3_path)

    def _spawn(self):
        """Puts the player on a 'P' cell connected to the goal, as the level scripts do."""
        candidates = dmlab_placement.spawn_candidates(self._rows, self._goal, self.min_goal_distance)
        index = self._rng.randint(len(candidates.cells))
        self.respawn_distances.append(candidates.distances[index])
        x, y = dmlab_placement.world_position(candidates.cells[index], len(self._rows))
        self._pos = np.array([x, y, FLOOR_Z])
        self._yaw = float(self._rng.uniform(0, 360))
        self._map_frame = 0

    def _render(self):
        """A channels-first frame that depends on position and yaw (and differs per channel)."""
        base = int(self._pos[0] * 7 + self._pos[1] * 3 + self._yaw * 11) % 256
        channel = np.arange(3).reshape(3, 1, 1) * 50
        row = np.arange(120).reshape(1, 120, 1) * 2
        col = np.arange(160).reshape(1, 1, 160)
        return ((base + channel + row + col) % 256).astype(np.uint8)

    def _blocked(self, x, y):
        if self.kind != "explore":
            return not (-500 <= x <= 950 and -750 <= y <= 550)
        row, col = dmlab_placement.cell_of_position(x, y, len(self._rows))
        inside = 0 <= row < len(self._rows) and 0 <= col < len(self._rows[0])
        return not inside or self._rows[row][col] == "*"

    def _advance_frame(self, action):
        self._yaw -= DEGREES_PER_PIXEL_FRAME * float(action[0])
        self._pitch += DEGREES_PER_PIXEL_FRAME * float(action[1])
        heading = math.radians(self._yaw)
        forward = np.array([math.cos(heading), math.sin(heading)])
        right = np.array([math.sin(heading), -math.cos(heading)])
        move = SPEED_PER_FRAME * (float(action[3]) * forward + float(action[2]) * right)
        before = self._pos.copy()
        for axis in (0, 1):  # slide along walls
            trial = self._pos.copy()
            trial[axis] += move[axis]
            if not self._blocked(trial[0], trial[1]):
                self._pos = trial
        self._velocity = (self._pos - before) * self.frames_per_second
        self._episode_frame += 1
        self._map_frame += 1
        if self.kind == "explore":
            gx, gy = self.goal_position()
            if math.hypot(self._pos[0] - gx, self._pos[1] - gy) < GOAL_RADIUS:
                self._spawn()
                return 10.0
        return 0.0
