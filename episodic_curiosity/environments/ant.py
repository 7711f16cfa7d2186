"""MuJoCo Ant with a head-mounted camera on a textured floor (the original code).

Gymnasium's Ant (v5 dynamics: RK4, timestep 0.01 s, frame skip 5, 8 motors of gear 150,
healthy torso height [0.2, 1.0], reset noise 0.1) on this module's own MJCF model:

  * floor: a 400 x 400 plane whose texture (2000 x 2000 px, repeated 5 x 5, so one copy spans
    80 x 80 world units) is drawn anew at every reset (`texture_mode`):
    `random_tiled` (the paper's) 20 x 20 tiles of 100 px (4 x 4 world units), each its own
    random pattern (stripes, checks, rings or dots) in two random colours, so every place
    looks different; `random` one random pattern over the whole texture; `fixed` the
    `random_tiled` texture of seed 0 in every episode. Textures are generated with numpy from
    the episode's seed (no image files);
  * cameras: `head_camera` fixed at the torso centre, looking ahead (the original's
    orientation), and `track` following the centre of mass from behind; the head camera is
    rendered to uint8 RGB 120 x 160 at every reset and step into `info['frame']`, the
    curiosity input;
  * observation: the 27-d proprioceptive state, qpos without the torso's x, y (13) and qvel
    (14), float32;
  * start: torso at (x, y, 0.75) with x, y uniform in [-100, 100] (`random_start_position`),
    joint noise qpos + U(-0.1, 0.1), qvel + 0.1 N(0, 1);
  * episode end: `terminated` when the state is non-finite or the torso height leaves
    [0.2, 1.0]; `truncated` on the step after `max_episode_steps` = 1000 steps, so an episode
    lasts at most 1001 steps, as the original;
  * reward (`reward`): `grid_oracle` (the `ant_no_reward` scenario) = G^2 / N for each new
    G x G cell of the torso position in the episode (G = 5, N = 25: 1 per new cell), i.e. the
    original's oracle-before-monitor exploration score; `survival` = 1 per healthy step;
    `native` = Gymnasium's forward-progress reward. `info['native_reward']` always holds
    Gymnasium's reward, `info['position']` the torso position (x, y, z).

Rendering is headless (EGL or OSMesa, see `mujoco_rendering`); importing this module picks
the backend, and raises MissingDependencyError without the `mujoco` package.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import gymnasium as gym
import numpy as np

from episodic_curiosity import oracle
from episodic_curiosity.environments import mujoco_rendering

mujoco = mujoco_rendering.import_mujoco()  # pylint: disable=invalid-name
from gymnasium.envs.mujoco import ant_v5  # noqa: E402 pylint: disable=g-import-not-at-top,wrong-import-position

TEXTURE_MODES = ("random_tiled", "random", "fixed")
REWARDS = ("grid_oracle", "survival", "native")
FRAME_SHAPE = (120, 160, 3)
HEAD_CAMERA = "head_camera"
TRACK_CAMERA = "track"
# The original's head-camera orientation (w, x, y, z) in the torso frame.
HEAD_CAMERA_QUAT = (0.61872185, 0.34232043, -0.34232043, -0.61872185)
FLOOR_HALF_SIZE = 200.0
TEXTURE_REPEAT = 5
TILES_PER_SIDE = 20
TILE_PIXELS = 100
TORSO_HEIGHT = 0.75
MAX_EPISODE_STEPS = 1000
_FIXED_TEXTURE_SEED = 0
_NUM_PATTERNS = 4

# The standard Ant's legs: direction of the leg in the torso plane, then the ankle hinge axis
# and range (degrees), named as Gymnasium's model (legs 1..4).
_LEGS = (
    ("front_left_leg", 1, (1, 1), (-1, 1), (30, 70)),
    ("front_right_leg", 2, (-1, 1), (1, 1), (-70, -30)),
    ("back_leg", 3, (-1, -1), (-1, 1), (-70, -30)),
    ("right_back_leg", 4, (1, -1), (1, 1), (30, 70)),
)
_ACTUATOR_ORDER = ("hip_4", "ankle_4", "hip_1", "ankle_1", "hip_2", "ankle_2", "hip_3", "ankle_3")


def _leg_xml(name: str, index: int, direction, ankle_axis, ankle_range) -> str:
    dx, dy = direction
    hip_end = f"{0.2 * dx:g} {0.2 * dy:g}"
    foot_end = f"{0.4 * dx:g} {0.4 * dy:g}"
    ax, ay = ankle_axis
    return f"""
      <body name="{name}" pos="0 0 0">
        <geom name="aux_{index}_geom" type="capsule" size="0.08" fromto="0 0 0 {hip_end} 0"/>
        <body name="aux_{index}" pos="{hip_end} 0">
          <joint name="hip_{index}" type="hinge" pos="0 0 0" axis="0 0 1" range="-30 30"/>
          <geom name="leg_{index}_geom" type="capsule" size="0.08" fromto="0 0 0 {hip_end} 0"/>
          <body name="foot_{index}" pos="{hip_end} 0">
            <joint name="ankle_{index}" type="hinge" pos="0 0 0" axis="{ax} {ay} 0"
                   range="{ankle_range[0]} {ankle_range[1]}"/>
            <geom name="ankle_{index}_geom" type="capsule" size="0.08" fromto="0 0 0 {foot_end} 0"/>
          </body>
        </body>
      </body>"""


def ant_xml(frame_shape=FRAME_SHAPE) -> str:
    """The MJCF model: Ant, textured floor, head and tracking cameras, fast offscreen settings."""
    height, width = frame_shape[:2]
    texture_size = TILES_PER_SIDE * TILE_PIXELS
    legs = "".join(_leg_xml(*leg) for leg in _LEGS)
    motors = "\n".join(
        f'    <motor joint="{joint}" ctrllimited="true" ctrlrange="-1 1" gear="150"/>' for joint in _ACTUATOR_ORDER
    )
    quat = " ".join(f"{q:.8f}" for q in HEAD_CAMERA_QUAT)
    return f"""<mujoco model="ant_head_camera">
  <compiler angle="degree" inertiafromgeom="true"/>
  <option integrator="RK4" timestep="0.01"/>
  {mujoco_rendering.visual_settings_xml(height, width)}
  <default>
    <joint armature="1" damping="1" limited="true"/>
    <geom conaffinity="0" condim="3" density="5.0" friction="1 0.5 0.5" margin="0.01"
          rgba="0.8 0.6 0.4 1"/>
  </default>
  <asset>
    <texture name="floor" type="2d" builtin="flat" width="{texture_size}" height="{texture_size}"
             rgb1="0.5 0.5 0.5"/>
    <material name="floor" texture="floor" texrepeat="{TEXTURE_REPEAT} {TEXTURE_REPEAT}"
              specular="0" shininess="0" reflectance="0"/>
  </asset>
  <worldbody>
    <light name="sun" directional="true" castshadow="false" pos="0 0 10" dir="0 0 -1"
           diffuse="0.7 0.7 0.7" specular="0.1 0.1 0.1"/>
    <geom name="floor" type="plane" material="floor" conaffinity="1" condim="3"
          size="{FLOOR_HALF_SIZE:g} {FLOOR_HALF_SIZE:g} 40" rgba="1 1 1 1"/>
    <body name="torso" pos="0 0 {TORSO_HEIGHT}">
      <camera name="{TRACK_CAMERA}" mode="trackcom" pos="0 -3 0.3" xyaxes="1 0 0 0 0 1"/>
      <camera name="{HEAD_CAMERA}" pos="0 0 0" quat="{quat}"/>
      <geom name="torso_geom" type="sphere" pos="0 0 0" size="0.25"/>
      <joint name="root" type="free" armature="0" damping="0" limited="false" margin="0.01"
             pos="0 0 0"/>{legs}
    </body>
  </worldbody>
  <actuator>
{motors}
  </actuator>
</mujoco>
"""


# --- Floor textures -------------------------------------------------------------------------


def _pattern_masks(rng: np.random.Generator, count: int, size: int) -> np.ndarray:
    """`count` random binary patterns [count, size, size] (bool), one kind per pattern."""
    coordinates = (np.arange(size, dtype=np.float32) + 0.5) / size
    u = coordinates[None, None, :]  # columns
    v = coordinates[None, :, None]  # rows
    kinds = rng.integers(0, _NUM_PATTERNS, count)
    frequency = rng.integers(2, 9, count).astype(np.float32)[:, None, None]
    angle = rng.uniform(0, np.pi, count).astype(np.float32)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, count).astype(np.float32)[:, None, None]
    centre = rng.uniform(0.2, 0.8, (2, count)).astype(np.float32)[:, :, None, None]
    masks = np.empty((count, size, size), bool)
    for kind in range(_NUM_PATTERNS):
        chosen = np.flatnonzero(kinds == kind)
        if not chosen.size:
            continue
        f, a, p = frequency[chosen], angle[chosen], phase[chosen]
        if kind == 0:  # stripes at a random angle
            masks[chosen] = np.sin(2 * np.pi * f * (u * np.cos(a) + v * np.sin(a)) + p) > 0
        elif kind == 1:  # checks
            masks[chosen] = (np.floor(u * f) + np.floor(v * f)) % 2 == 0
        elif kind == 2:  # rings around a random centre
            radius = np.hypot(u - centre[0, chosen], v - centre[1, chosen])
            masks[chosen] = np.sin(2 * np.pi * f * radius + p) > 0
        else:  # a grid of dots
            du = (u * f) % 1.0 - 0.5
            dv = (v * f) % 1.0 - 0.5
            masks[chosen] = np.hypot(du, dv) < 0.3
    return masks


def _two_colours(rng: np.random.Generator, count: int) -> np.ndarray:
    """Colour pairs [count, 2, 3] uint8 whose members differ clearly."""
    first = rng.integers(0, 256, (count, 3))
    shift = rng.integers(80, 176, (count, 3)) * rng.choice([-1, 1], (count, 3))
    second = np.clip(first + shift, 0, 255)
    return np.stack([first, second], axis=1).astype(np.uint8)


def tiled_texture(rng: np.random.Generator, tiles: int = TILES_PER_SIDE, tile_pixels: int = TILE_PIXELS) -> np.ndarray:
    """A (tiles * tile_pixels)^2 x 3 uint8 image of `tiles` x `tiles` random patterned tiles."""
    count = tiles * tiles
    masks = _pattern_masks(rng, count, tile_pixels)
    colours = _two_colours(rng, count)
    images = np.where(masks[..., None], colours[:, None, None, 0], colours[:, None, None, 1])
    images = images.reshape(tiles, tiles, tile_pixels, tile_pixels, 3)
    return images.transpose(0, 2, 1, 3, 4).reshape(tiles * tile_pixels, tiles * tile_pixels, 3)


def single_pattern_texture(rng: np.random.Generator, size: int = TILES_PER_SIDE * TILE_PIXELS) -> np.ndarray:
    """A size x size x 3 uint8 image of one random pattern (the `random` texture mode)."""
    mask = _pattern_masks(rng, 1, size)[0]
    colours = _two_colours(rng, 1)[0]
    return np.where(mask[..., None], colours[0], colours[1]).astype(np.uint8)


def floor_texture(mode: str, rng: np.random.Generator) -> np.ndarray:
    """The floor image of one episode for texture mode `mode`."""
    if mode == "random_tiled":
        return tiled_texture(rng)
    if mode == "random":
        return single_pattern_texture(rng)
    if mode == "fixed":
        return tiled_texture(np.random.default_rng(_FIXED_TEXTURE_SEED))
    raise ValueError(f"unknown texture_mode {mode!r}; valid: {', '.join(TEXTURE_MODES)}")


# --- The environment ------------------------------------------------------------------------


class AntEnv(ant_v5.AntEnv):
    """Gymnasium's Ant with a head camera, textured floor and exploration reward (see module)."""

    def __init__(
        self,
        texture_mode: str = "random_tiled",
        random_start_position: bool = True,
        start_range: float = 100.0,
        reward: str = "grid_oracle",
        oracle_grid_size: float = 5.0,
        oracle_cell_reward_normalizer: float = 25.0,
        max_episode_steps: int = MAX_EPISODE_STEPS,
        seed: int | None = None,
        render_mode: str | None = None,
    ):
        """Args:
        texture_mode: str, 'random_tiled', 'random' or 'fixed' (see module docstring).
        random_start_position: bool, start x, y uniform in [-start_range, start_range].
        start_range: float, world units.
        reward: str, 'grid_oracle', 'survival' or 'native'.
        oracle_grid_size: float, G, oracle cell side in world units.
        oracle_cell_reward_normalizer: float, N; a new cell earns G^2 / N.
        max_episode_steps: int, `truncated` on the step after this many steps.
        seed: int or None, used by the first `reset()` not given a seed.
        render_mode: None or 'rgb_array' (`render()` returns the last head-camera frame).
        """
        problems = []
        if texture_mode not in TEXTURE_MODES:
            problems.append(f"texture_mode {texture_mode!r} (valid: {', '.join(TEXTURE_MODES)})")
        if reward not in REWARDS:
            problems.append(f"reward {reward!r} (valid: {', '.join(REWARDS)})")
        if max_episode_steps < 1:
            problems.append(f"max_episode_steps={max_episode_steps} (must be >= 1)")
        if not 0 <= start_range <= FLOOR_HALF_SIZE - 10:
            problems.append(f"start_range={start_range} (must be in [0, {FLOOR_HALF_SIZE - 10:g}])")
        if render_mode not in (None, "rgb_array"):
            problems.append(f"render_mode {render_mode!r} (valid: None, 'rgb_array')")
        if problems:
            raise ValueError("invalid AntEnv arguments: " + "; ".join(problems))
        with tempfile.TemporaryDirectory() as directory:  # Gymnasium loads models from files
            path = os.path.join(directory, "ant_head_camera.xml")
            with open(path, "w") as f:
                f.write(ant_xml())
            super().__init__(
                xml_file=path,
                frame_skip=5,
                healthy_z_range=(0.2, 1.0),
                reset_noise_scale=0.1,
                exclude_current_positions_from_observation=True,
                include_cfrc_ext_in_observation=False,
                width=FRAME_SHAPE[1],
                height=FRAME_SHAPE[0],
            )
        self.render_mode = render_mode
        self.texture_mode = texture_mode
        self.random_start_position = random_start_position
        self.start_range = float(start_range)
        self.reward_mode = reward
        self.max_episode_steps = int(max_episode_steps)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, self.observation_space.shape, np.float32)
        self._oracle = oracle.GridOracle(1, oracle_grid_size, oracle_cell_reward_normalizer)
        self._texture_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_TEXTURE, "floor")
        self._renderer = None
        self._last_frame = None
        self._initial_seed = seed
        self._seeded = False
        self._elapsed_steps = 0

    # Episode logic ---------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is None and not self._seeded and self._initial_seed is not None:
            seed = self._initial_seed
        self._seeded = True
        self._elapsed_steps = 0
        self._oracle.reset()
        observation, info = super().reset(seed=seed, options=options)
        return observation.astype(np.float32), self._with_camera(info)

    def reset_model(self) -> np.ndarray:
        """New floor texture, start position and joint noise (called by `reset`)."""
        self._set_floor_texture(floor_texture(self.texture_mode, self.np_random))
        start = np.zeros(2)
        if self.random_start_position:
            start = self.np_random.uniform(-self.start_range, self.start_range, 2)
        scale = self._reset_noise_scale
        qpos = self.init_qpos + self.np_random.uniform(-scale, scale, self.model.nq)
        qpos[:2] += start
        qvel = self.init_qvel + scale * self.np_random.standard_normal(self.model.nv)
        self.set_state(qpos, qvel)
        return self._get_obs()

    def step(self, action):
        observation, native_reward, terminated, _, info = super().step(action)
        self._elapsed_steps += 1
        truncated = not terminated and self._elapsed_steps > self.max_episode_steps
        info = self._with_camera(info)
        info["native_reward"] = float(native_reward)
        if self.reward_mode == "grid_oracle":
            reward = float(self._oracle.update(info["position"][None])[0])
        elif self.reward_mode == "survival":
            reward = float(self.healthy_reward)
        else:
            reward = float(native_reward)
        return observation.astype(np.float32), reward, bool(terminated), bool(truncated), info

    # Camera and floor ------------------------------------------------------------------------

    def _with_camera(self, info: dict) -> dict:
        info = dict(info)
        info["position"] = self.data.qpos[:3].copy()  # the torso's free joint: x, y, z
        info["frame"] = self.head_camera_frame()
        return info

    def head_camera_frame(self) -> np.ndarray:
        """The head camera's current view, uint8 (120, 160, 3)."""
        if self._renderer is None:
            self._renderer = mujoco_rendering.OffscreenRenderer(self.model, FRAME_SHAPE[0], FRAME_SHAPE[1], HEAD_CAMERA)
        self._last_frame = self._renderer.render(self.model, self.data)
        return self._last_frame

    def _set_floor_texture(self, image: np.ndarray) -> None:
        model, texture = self.model, self._texture_id
        height, width = int(model.tex_height[texture]), int(model.tex_width[texture])
        channels = int(model.tex_nchannel[texture])
        if image.shape != (height, width, channels):
            raise ValueError(f"floor texture must be {(height, width, channels)}, got {image.shape}")
        start = int(model.tex_adr[texture])
        model.tex_data[start : start + image.size] = image.reshape(-1)
        if self._renderer is not None:
            self._renderer.upload_texture(model, texture)

    def set_torso_position(self, x: float, y: float) -> None:
        """Moves the torso to (x, y), keeping everything else (for tests and figures)."""
        qpos = self.data.qpos.copy()
        qpos[:2] = (x, y)
        self.set_state(qpos, self.data.qvel.copy())

    def render(self):
        if self.render_mode == "rgb_array":
            return self._last_frame if self._last_frame is not None else self.head_camera_frame()
        return None

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        super().close()


def make_ant_env(seed: int | None = None, **kwargs) -> AntEnv:
    """Registry entry point: `AntEnv(seed=seed, **kwargs)`."""
    return AntEnv(seed=seed, **kwargs)
