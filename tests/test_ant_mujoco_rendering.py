"""Headless MuJoCo rendering: backend choice, the missing-packages error, the TensorFlow guard."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("mujoco")

from episodic_curiosity.environments import mujoco_rendering  # pylint: disable=wrong-import-position

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_a_user_set_backend_is_kept_without_probing(monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "OSMesa")
    monkeypatch.setattr(mujoco_rendering, "probe_backend", lambda backend: pytest.fail("probed"))
    assert mujoco_rendering.configure_gl_backend() == "osmesa"


def test_falls_back_to_osmesa_when_egl_fails(monkeypatch):
    for name in ("MUJOCO_GL", "PYOPENGL_PLATFORM"):
        # setenv first: monkeypatch then restores the variable that configure_gl_backend sets
        # (a delenv of an unset variable is not recorded, and the chosen backend would leak).
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    tried = []

    def probe(backend):
        tried.append(backend)
        return "no EGL device" if backend == "egl" else ""

    monkeypatch.setattr(mujoco_rendering, "probe_backend", probe)
    assert mujoco_rendering.configure_gl_backend() == "osmesa"
    assert tried == ["egl", "osmesa"] and os.environ["MUJOCO_GL"] == "osmesa"


def test_no_working_backend_names_the_debian_packages(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.setattr(mujoco_rendering, "probe_backend", lambda backend: f"{backend} is broken")
    with pytest.raises(mujoco_rendering.RenderingUnavailableError) as error:
        mujoco_rendering.configure_gl_backend()
    message = str(error.value)
    for text in ("egl is broken", "osmesa is broken", "libosmesa6", "libegl1", "apt-get install"):
        assert text in message


def test_probe_reports_why_a_backend_fails():
    assert mujoco_rendering.probe_backend("no_such_backend") != ""


def test_importing_tensorflow_after_llvmpipe_rendered_is_a_clear_error():
    script = (
        "from episodic_curiosity.environments import ant\n"
        "env = ant.AntEnv(seed=0)\n"
        "env.reset()\n"
        "from OpenGL import GL\n"
        "print('renderer:', GL.glGetString(GL.GL_RENDERER))\n"
        "try:\n"
        "    import tensorflow\n"
        "    print('imported')\n"
        "except ImportError as e:\n"
        "    print('refused:', e)\n"
        "env.close()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    if "llvmpipe" not in result.stdout.lower():
        pytest.skip(f"not rendering with Mesa's llvmpipe: {result.stdout.strip()}")
    assert "refused: tensorflow cannot be imported after MuJoCo" in result.stdout
