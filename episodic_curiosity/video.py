"""Video and GIF files, written atomically (imageio; the `video` extra)."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Sequence

import cv2
import numpy as np

from episodic_curiosity import atomic_files


def require_imageio():
    """imageio's v2 API; ImportError (with the install command) if the `video` extra is missing."""
    try:
        import imageio.v2 as imageio  # pylint: disable=g-import-not-at-top
    except ImportError as e:
        raise ImportError("writing videos needs imageio: pip install 'episodic-curiosity[video]'") from e
    return imageio


def write_gif(path: str, frames: Sequence[np.ndarray], fps: float) -> None:
    """An endlessly looping GIF of uint8 RGB frames at `fps`."""
    with atomic_files.atomic_path(path) as tmp_path:
        require_imageio().mimsave(tmp_path, list(frames), duration=1000 / fps, loop=0)  # pillow: ms per frame


@contextlib.contextmanager
def mp4_and_gif_writer(mp4_path: str, gif_path: str | None, fps: int) -> Iterator[Callable[[np.ndarray], None]]:
    """Yields `add(frame)`: each frame goes straight into the MP4 (H.264), and a half-size copy
    is kept for the GIF written at the end (if `gif_path`). Nothing is left behind on error."""
    imageio = require_imageio()
    small = []
    with atomic_files.atomic_path(mp4_path) as tmp_path:
        with imageio.get_writer(
            tmp_path, fps=fps, codec="libx264", quality=7, macro_block_size=16, ffmpeg_log_level="error"
        ) as writer:

            def add(frame: np.ndarray) -> None:
                writer.append_data(frame)
                if gif_path:
                    small.append(
                        cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2), interpolation=cv2.INTER_AREA)
                    )

            yield add
    if gif_path:
        write_gif(gif_path, small, fps)
