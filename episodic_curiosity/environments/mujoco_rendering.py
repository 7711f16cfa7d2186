"""Headless MuJoCo rendering: picks an OpenGL backend and renders one camera to RGB arrays.

Backend choice (`configure_gl_backend`, called before `mujoco` is imported): a `MUJOCO_GL`
set by the user is respected; otherwise EGL, then OSMesa, is tried by rendering one tiny frame
in a subprocess (a failed EGL attempt poisons PyOpenGL's platform choice in-process, so the
probe cannot run here). The winner is written to `MUJOCO_GL` (and `PYOPENGL_PLATFORM`), which
subprocess workers inherit, so they do not probe again. If neither works, one error names the
Debian packages to install (`DEBIAN_PACKAGES`). Without the `mujoco` package itself, nothing is
probed: `check_mujoco` (run first by `import_mujoco` and by the registry) raises
MissingDependencyError with the `pip install` command of the `mujoco` extra.

Speed: MuJoCo's default visual settings (shadow maps of 4096 px, 4x multisampling, a 640x480
offscreen buffer, reflections, skybox) render ~20 frames/s on a 2-core CPU with Mesa's
software rasterizer. `OffscreenRenderer` turns shadows, reflections and the skybox off, and the
models it is meant for set `<quality shadowsize="0" offsamples="0"/>` and an offscreen buffer
of the image size (`visual_settings_xml`), which gives several hundred frames/s.

TensorFlow and Mesa: Mesa's software rasterizer (llvmpipe) links the system LLVM, and
TensorFlow exports its own LLVM symbols process-wide, so in one process the two bind to each
other's LLVM and crash. `OffscreenRenderer` therefore (1) when TensorFlow is already imported,
first loads Mesa's LLVM-using libraries with RTLD_DEEPBIND, so they keep their own LLVM; and
(2) when llvmpipe is loaded in a process without TensorFlow, makes a later `import tensorflow`
fail with a clear ImportError instead of a segmentation fault (import TensorFlow first).
Subprocess env workers never import TensorFlow, so they are unaffected.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.abc
import importlib.util
import os
import subprocess
import sys
from typing import Any

import numpy as np

from episodic_curiosity.environments import errors

BACKENDS = ("egl", "osmesa")
# What each backend needs on Debian/Ubuntu (Mesa provides the software rasterizer).
DEBIAN_PACKAGES = {
    "egl": ("libegl1", "libegl-mesa0", "libgl1", "libgl1-mesa-dri"),
    "osmesa": ("libosmesa6",),
}
_PROBE_TIMEOUT_S = 60
_PROBE = """
import mujoco, numpy
model = mujoco.MjModel.from_xml_string(
    '<mujoco><visual><global offwidth="8" offheight="8"/></visual>'
    '<worldbody><geom type="sphere" size="1"/></worldbody></mujoco>')
renderer = mujoco.Renderer(model, 8, 8)
renderer.update_scene(mujoco.MjData(model))
assert renderer.render().shape == (8, 8, 3)
renderer.close()
"""


class RenderingUnavailableError(RuntimeError):
    """No headless OpenGL backend works on this machine."""


def _missing_mujoco() -> errors.MissingDependencyError:
    return errors.MissingDependencyError("mujoco", "mujoco", "MuJoCo Ant")


def check_mujoco() -> None:
    """Raises MissingDependencyError (naming the `mujoco` extra) unless `mujoco` is installed.

    Finds the package without importing it (`mujoco` reads `MUJOCO_GL` when imported, so it is
    imported only after `configure_gl_backend`) and without probing GL backends, so a missing
    package is reported as such rather than as missing system libraries. The registry runs this
    for the Ant scenario (`ScenarioSpec.dependency_check`) before building anything.
    """
    if sys.modules.get("mujoco") is not None:
        return
    try:
        spec = importlib.util.find_spec("mujoco")
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise _missing_mujoco()


def import_mujoco():
    """Imports `mujoco` (after `configure_gl_backend`), or raises MissingDependencyError.

    The package is looked for first (`check_mujoco`), before any GL backend is probed.
    """
    check_mujoco()
    backend = configure_gl_backend()
    if "mujoco" not in sys.modules and "tensorflow" in sys.modules:
        _deep_bind_mesa(backend)  # OSMesa is loaded by `import mujoco` itself
    try:
        import mujoco  # pylint: disable=g-import-not-at-top
    except ImportError as e:
        raise _missing_mujoco() from e
    if backend == "osmesa":
        _guard_tensorflow_import()  # libOSMesa (llvmpipe) is now loaded process-wide
    return mujoco


def probe_backend(backend: str) -> str:
    """Renders one tiny frame with `backend` in a subprocess; returns '' or why it failed."""
    environment = {**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}
    try:
        result = subprocess.run(
            [sys.executable, "-c", _PROBE],
            env=environment,
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {_PROBE_TIMEOUT_S} s"
    if result.returncode == 0:
        return ""
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {result.returncode}"


def configure_gl_backend() -> str:
    """Sets `MUJOCO_GL` to a working headless backend (keeping a user-set one); returns it.

    Raises:
      RenderingUnavailableError: neither EGL nor OSMesa can render; names the packages.
    """
    chosen = os.environ.get("MUJOCO_GL", "").strip().lower()
    if chosen:
        return chosen
    failures = []
    for backend in BACKENDS:
        problem = probe_backend(backend)
        if not problem:
            os.environ["MUJOCO_GL"] = backend
            os.environ.setdefault("PYOPENGL_PLATFORM", backend)
            return backend
        if "No module named 'mujoco'" in problem:  # the probe's interpreter lacks the package
            raise _missing_mujoco()
        failures.append(f"{backend}: {problem}")
    packages = " ".join(p for backend in BACKENDS for p in DEBIAN_PACKAGES[backend])
    raise RenderingUnavailableError(
        "MuJoCo cannot render headless: neither EGL nor OSMesa works (" + "; ".join(failures) + "). "
        f"Install the system libraries, e.g. on Debian/Ubuntu: apt-get install -y {packages} "
        "(OSMesa alone needs libosmesa6), or set MUJOCO_GL to a backend that works here."
    )


def gl_context_class(mujoco) -> type:
    """The `GLContext` class of the configured backend (EGL / OSMesa / GLFW)."""
    backend = os.environ.get("MUJOCO_GL", "").strip().lower()
    if backend == "egl":
        from mujoco import egl  # pylint: disable=g-import-not-at-top

        return egl.GLContext
    if backend == "osmesa":
        from mujoco import osmesa  # pylint: disable=g-import-not-at-top

        return osmesa.GLContext
    return mujoco.GLContext


# Libraries of Mesa that link LLVM (llvmpipe), per backend; Mesa >= 24.1 moved it to libgallium.
_MESA_LIBRARY_PATTERNS = {
    "egl": ("dri/swrast_dri.so", "libgallium-*.so"),
    "osmesa": ("libOSMesa.so.8", "libOSMesa.so.6", "libgallium-*.so"),
}
_LIBRARY_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib")
_deep_bound: list[Any] = []  # keeps the handles alive


def _deep_bind_mesa(backend: str) -> None:
    """Loads Mesa's LLVM-using libraries with RTLD_DEEPBIND (once; missing ones are skipped)."""
    if backend in _deep_bound or not hasattr(os, "RTLD_DEEPBIND"):
        return
    for pattern in _MESA_LIBRARY_PATTERNS.get(backend, ()):
        for directory in _LIBRARY_DIRS:
            for path in sorted(glob.glob(os.path.join(directory, pattern))):
                try:
                    _deep_bound.append(ctypes.CDLL(path, mode=os.RTLD_NOW | os.RTLD_LOCAL | os.RTLD_DEEPBIND))
                except OSError:
                    pass
    _deep_bound.append(backend)  # marks "done" even if nothing was found


class _TensorFlowAfterMesaGuard(importlib.abc.MetaPathFinder):
    """Turns `import tensorflow` after llvmpipe rendered in this process into a clear error."""

    def find_spec(self, fullname, path=None, target=None):  # pylint: disable=unused-argument
        if fullname == "tensorflow":
            raise ImportError(
                "tensorflow cannot be imported after MuJoCo loaded Mesa's llvmpipe renderer in this "
                "process (their LLVM copies clash and crash the process); import tensorflow before "
                "creating the first MuJoCo environment"
            )
        return None


def _guard_tensorflow_import() -> None:
    """Installs `_TensorFlowAfterMesaGuard` unless TensorFlow is already imported."""
    if "tensorflow" not in sys.modules and not any(isinstance(f, _TensorFlowAfterMesaGuard) for f in sys.meta_path):
        sys.meta_path.insert(0, _TensorFlowAfterMesaGuard())


def _guard_tensorflow_import_if_llvmpipe() -> None:
    """`_guard_tensorflow_import` if the current OpenGL context renders with llvmpipe."""
    try:
        from OpenGL import GL  # pylint: disable=g-import-not-at-top

        renderer = GL.glGetString(GL.GL_RENDERER) or b""
    except Exception:  # pylint: disable=broad-except
        return
    if b"llvmpipe" in renderer.lower():
        _guard_tensorflow_import()


def visual_settings_xml(height: int, width: int) -> str:
    """MJCF `<visual>` block for fast offscreen rendering of (height, width) images."""
    return (
        f'<visual>\n    <global offwidth="{width}" offheight="{height}"/>\n'
        '    <quality shadowsize="0" offsamples="0"/>\n    <headlight ambient="0.4 0.4 0.4"/>\n'
        "  </visual>"
    )


class OffscreenRenderer:
    """Renders one fixed camera of a model into uint8 RGB arrays (height, width, 3).

    Owns its OpenGL context (one per renderer; several may live in one process).
    """

    def __init__(self, model: Any, height: int, width: int, camera: str, max_geom: int = 200):
        """Args:
        model: mujoco.MjModel, whose offscreen buffer is at least (height, width).
        height: int, image rows.
        width: int, image columns.
        camera: str, name of a camera of `model`.
        max_geom: int, capacity of the scene.
        """
        mujoco = import_mujoco()
        self._mujoco = mujoco
        if model.vis.global_.offwidth < width or model.vis.global_.offheight < height:
            raise ValueError(
                f"the model's offscreen buffer ({model.vis.global_.offwidth}x"
                f"{model.vis.global_.offheight}) is smaller than {width}x{height}"
            )
        camera_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
        if camera_id < 0:
            raise ValueError(f"the model has no camera named {camera!r}")
        self.height, self.width = int(height), int(width)
        backend = os.environ.get("MUJOCO_GL", "").strip().lower()
        if "tensorflow" in sys.modules:
            _deep_bind_mesa(backend)
        self._gl = gl_context_class(mujoco)(self.width, self.height)
        self._gl.make_current()
        _guard_tensorflow_import_if_llvmpipe()
        self._context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_50)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._context)
        self._scene = mujoco.MjvScene(model, maxgeom=max_geom)
        for flag in (
            mujoco.mjtRndFlag.mjRND_SHADOW,
            mujoco.mjtRndFlag.mjRND_REFLECTION,
            mujoco.mjtRndFlag.mjRND_SKYBOX,
        ):
            self._scene.flags[flag] = False
        self._option = mujoco.MjvOption()
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._camera.fixedcamid = camera_id
        self._viewport = mujoco.MjrRect(0, 0, self.width, self.height)
        self._pixels = np.empty((self.height, self.width, 3), np.uint8)

    def upload_texture(self, model: Any, texture_id: int) -> None:
        """Sends `model.tex_data` of texture `texture_id` to the GPU after it was changed."""
        self._gl.make_current()
        self._mujoco.mjr_uploadTexture(model, self._context, texture_id)

    def render(self, model: Any, data: Any) -> np.ndarray:
        """A new uint8 array (height, width, 3) of the camera's view of `data`."""
        mujoco = self._mujoco
        self._gl.make_current()
        mujoco.mjv_updateScene(model, data, self._option, None, self._camera, mujoco.mjtCatBit.mjCAT_ALL, self._scene)
        mujoco.mjr_render(self._viewport, self._scene, self._context)
        mujoco.mjr_readPixels(self._pixels, None, self._viewport, self._context)
        return np.flipud(self._pixels).copy()  # OpenGL rows run bottom-up

    def close(self) -> None:
        """Frees the OpenGL context (idempotent)."""
        if self._gl is not None:
            self._gl.make_current()
            self._context.free()
            self._gl.free()
            self._gl = None
