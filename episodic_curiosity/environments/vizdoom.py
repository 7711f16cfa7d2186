"""VizDoom "MyWayHome" (Pathak et al. 2017; EC paper Section 4.1) as a Gymnasium env.

Three variants of the same maze, on the stock `my_way_home.wad` of the `vizdoom` package:

  * dense:      spawn at a random one of the 17 MapSpots with a random heading (stock map);
  * sparse:     spawn at MapSpot TID 10 (240, -176), the far-west room, facing east;
  * verysparse: spawn at MapSpot TID 15 (544, -672), the end of the south dead-end
                corridor, facing west.

The spawn of sparse/verysparse is fixed by rewriting the map's ENTER script at run time
(`my_way_home_wad.py`); no third-party wad is shipped.

Task (as in Pathak et al.'s setup, see the ICM paper's VizDoom setup):
  * actions: Discrete(4) = {0: no-op, 1: move forward, 2: turn left, 3: turn right}, each held
    for `action_repeat` = 4 game tics (rewards summed, last frame returned, no max-pooling);
  * reward: +1 when the player picks up the green armour ("vest") at (1040, -352), which ends
    the episode (`terminated`); no living penalty (the stock config's -0.0001/tic is dropped,
    as Pathak's `noLifeReward` setting effectively did);
  * timeout: 2100 tics after the start delay, i.e. 525 agent steps (`truncated`);
  * observation: RGB uint8 120x160x3 (H x W x C), no HUD, no weapon, no crosshair;
  * info: `position` = (x, y, z) in map units, `angle` in degrees (0 = east,
    counter-clockwise), `success` = the vest was picked up in this episode.

After the episode ends the engine has no state; the last frame and position are repeated.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from typing import Any

import gymnasium as gym
import numpy as np

from episodic_curiosity.environments import errors
from episodic_curiosity.environments import my_way_home_wad

VARIANTS = ("dense", "sparse", "verysparse")
ACTION_NAMES = ("noop", "forward", "turn_left", "turn_right")
OBSERVATION_SHAPE = (120, 160, 3)
VEST_POSITION = (1040.0, -352.0)


def import_vizdoom():
    """Imports `vizdoom`, or raises MissingDependencyError with the install command."""
    try:
        import vizdoom  # pylint: disable=g-import-not-at-top
    except ImportError as e:
        raise errors.MissingDependencyError("vizdoom", "vizdoom", "VizDoom") from e
    return vizdoom


def _find_engine_pid(marker: str) -> int | None:
    """PID of this process's child whose command line contains `marker` (Linux /proc), if any."""
    parent = str(os.getpid())
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return None
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                parent_pid = f.read().rsplit(b")", 1)[1].split()[1].decode()
            if parent_pid != parent:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    return int(entry)
        except (OSError, IndexError):
            continue
    return None


def _start_engine_reaper(engine_pid: int) -> subprocess.Popen | None:
    """Kills the engine once this process is gone, even after a SIGKILL.

    The VizDoom engine is a separate process that keeps running when its controller dies
    without calling `close()` (e.g. a killed training run), so a tiny shell loop watches both.
    A process counts as gone once it has exited, even while nobody has reaped it yet (a zombie
    answers `kill -0`; its state in /proc is Z).
    """
    script = (
        "alive() { [ -r /proc/$1/stat ] || { kill -0 $1 2>/dev/null; return; }; "
        'read -r s < /proc/$1/stat || return 0; s=${s##*) }; [ "${s%% *}" != Z ]; }; '
        "while alive $0 && alive $1; do sleep 1; done; kill -9 $1 2>/dev/null"
    )
    try:
        return subprocess.Popen(
            ["sh", "-c", script, str(os.getpid()), str(engine_pid)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        return None


@contextlib.contextmanager
def _working_directory(path: str):
    """Runs the block in `path`: the engine writes `_vizdoom/` into the current directory."""
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


class MyWayHomeEnv(gym.Env):
    """The MyWayHome maze; see the module docstring for the task."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 35 // 4}

    def __init__(
        self,
        variant: str = "sparse",
        action_repeat: int = 4,
        episode_timeout_tics: int = 2100,
        seed: int | None = None,
        enable_cheats: bool = False,
        render_mode: str | None = None,
    ):
        """Creates the game (one engine instance per env).

        Args:
          variant: str, 'dense', 'sparse' or 'verysparse'.
          action_repeat: int, game tics each action is held for.
          episode_timeout_tics: int, controllable tics per episode before truncation.
          seed: int or None, seed used by the first `reset()` that is not given one (this is
            how vectorized envs get `base_seed + i`).
          enable_cheats: bool, start the game with `+sv_cheats 1` so console commands such as
            `warp X Y` work (`teleport`); for tests and debugging only.
          render_mode: None or 'rgb_array'.
        """
        if variant not in VARIANTS:
            raise ValueError(f"unknown MyWayHome variant {variant!r}; valid: {', '.join(VARIANTS)}")
        if action_repeat < 1:
            raise ValueError(f"action_repeat must be >= 1, got {action_repeat}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        vzd = import_vizdoom()
        self.variant = variant
        self.action_repeat = action_repeat
        self.render_mode = render_mode
        self._initial_seed = seed
        self._seeded = False
        self.observation_space = gym.spaces.Box(0, 255, OBSERVATION_SHAPE, np.uint8)
        self.action_space = gym.spaces.Discrete(len(ACTION_NAMES))
        # One-hot button vectors over (MOVE_FORWARD, TURN_LEFT, TURN_RIGHT).
        self._button_vectors = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]

        self._engine_dir = tempfile.mkdtemp(prefix="vizdoom_", dir=my_way_home_wad.cache_dir())
        game = vzd.DoomGame()
        game.set_doom_scenario_path(my_way_home_wad.wad_for_variant(variant, vzd.scenarios_path))
        game.set_doom_map("map01")
        game.set_doom_config_path(os.path.join(self._engine_dir, "_vizdoom.ini"))
        game.set_doom_skill(5)
        game.set_screen_resolution(vzd.ScreenResolution.RES_160X120)
        game.set_screen_format(vzd.ScreenFormat.RGB24)
        game.set_render_hud(False)
        game.set_render_weapon(False)
        game.set_render_crosshair(False)
        game.set_render_decals(False)
        game.set_render_particles(False)
        game.set_render_messages(False)
        game.set_window_visible(False)
        game.set_sound_enabled(False)
        game.set_available_buttons([vzd.Button.MOVE_FORWARD, vzd.Button.TURN_LEFT, vzd.Button.TURN_RIGHT])
        game.set_available_game_variables(
            [
                vzd.GameVariable.POSITION_X,
                vzd.GameVariable.POSITION_Y,
                vzd.GameVariable.POSITION_Z,
                vzd.GameVariable.ANGLE,
            ]
        )
        game.set_episode_start_time(10)
        game.set_episode_timeout(episode_timeout_tics)
        game.set_living_reward(0.0)
        game.set_mode(vzd.Mode.PLAYER)
        if enable_cheats:
            game.add_game_args("+sv_cheats 1")
        if seed is not None:
            game.set_seed(int(seed))
        with _working_directory(self._engine_dir):
            game.init()
        self._game = game
        engine_pid = _find_engine_pid(self._engine_dir)
        self._reaper = _start_engine_reaper(engine_pid) if engine_pid else None
        self._last_frame = np.zeros(OBSERVATION_SHAPE, np.uint8)
        self._last_variables = np.zeros(4, np.float64)
        self._success = False
        self._rewarded = False

    # Gymnasium API -----------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is None and not self._seeded and self._initial_seed is not None:
            seed = self._initial_seed
        if seed is not None:
            # Each new episode draws its engine seed from this RNG: same seed, same episodes.
            self._game.set_seed(int(seed) % (2**32))
        self._seeded = True
        self._game.new_episode()
        self._success = False
        self._rewarded = False
        self._read_state()
        return self._last_frame.copy(), self._info()

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"invalid action {action!r}: expected an int in [0, {self.action_space.n})")
        if self._game.is_episode_finished():
            raise RuntimeError("step() called after the episode ended; call reset() first")
        reward = float(self._game.make_action(self._button_vectors[int(action)], self.action_repeat))
        finished = self._game.is_episode_finished()
        timed_out = finished and self._game.is_episode_timeout_reached()
        terminated = finished and not timed_out
        # The vest's +1 (the only positive reward) can come one step before the engine ends the
        # episode, and that end can be the timeout: success is an episode that ended after a
        # positive reward on any of its steps.
        self._rewarded = self._rewarded or reward > 0
        if finished and self._rewarded:
            self._success = True
        if not finished:
            self._read_state()
        return self._last_frame.copy(), reward, terminated, timed_out, self._info()

    def render(self):
        if self.render_mode == "rgb_array":
            return self._last_frame.copy()
        return None

    def close(self):
        game = getattr(self, "_game", None)
        if game is not None:
            game.close()
            self._game = None
        reaper = getattr(self, "_reaper", None)
        if reaper is not None:
            reaper.kill()  # the engine is closed: the watcher is no longer needed
            reaper.wait()
            self._reaper = None
        engine_dir = getattr(self, "_engine_dir", None)
        if engine_dir and os.path.isdir(engine_dir):
            shutil.rmtree(engine_dir, ignore_errors=True)

    # Helpers -----------------------------------------------------------------------------------

    def teleport(self, x: float, y: float) -> None:
        """Moves the player to (x, y) from the next tic on (needs `enable_cheats=True`).

        Uses the engine's `warp` console command. An item under the new position is picked up
        only once the player moves.
        """
        self._game.send_game_command(f"warp {x} {y}")

    def _read_state(self) -> None:
        state = self._game.get_state()
        if state is None:
            return
        self._last_frame = np.asarray(state.screen_buffer, dtype=np.uint8).reshape(OBSERVATION_SHAPE)
        self._last_variables = np.asarray(state.game_variables, dtype=np.float64)

    def _info(self) -> dict[str, Any]:
        x, y, z, angle = self._last_variables
        return {
            "position": np.array([x, y, z], dtype=np.float64),
            "angle": float(angle),
            "success": self._success,
        }
