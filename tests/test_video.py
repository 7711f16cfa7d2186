"""GIF/MP4 writing shared by the demo and the curiosity videos."""

import numpy as np
import pytest

from episodic_curiosity import video

imageio = pytest.importorskip("imageio.v2")


def _frames(count, shape=(24, 32, 3)):
    return [np.full(shape, 40 * i, np.uint8) for i in range(count)]


def test_gif_loops_with_a_frame_delay_in_milliseconds(tmp_path):
    from PIL import Image  # pylint: disable=g-import-not-at-top

    path = str(tmp_path / "walk.gif")
    video.write_gif(path, _frames(3), fps=15)
    with Image.open(path) as gif:
        assert gif.n_frames == 3
        assert 50 <= gif.info["duration"] <= 80  # 1000 / 15 ms, GIFs store centiseconds
        assert gif.info["loop"] == 0


def test_mp4_streams_frames_and_keeps_half_size_ones_for_the_gif(tmp_path):
    mp4, gif = str(tmp_path / "a.mp4"), str(tmp_path / "a.gif")
    with video.mp4_and_gif_writer(mp4, gif, fps=10) as add:
        for frame in _frames(5, (48, 64, 3)):
            add(frame)
    reader = imageio.get_reader(mp4)
    try:
        assert len([frame for frame in reader]) == 5  # (list() asks ffmpeg's reader for len: inf)
    finally:
        reader.close()
    small = imageio.mimread(gif)
    assert len(small) == 5 and small[0].shape[:2] == (24, 32)


def test_nothing_is_left_behind_when_the_episode_fails(tmp_path):
    mp4, gif = tmp_path / "b.mp4", tmp_path / "b.gif"
    with pytest.raises(RuntimeError, match="env crashed"):
        with video.mp4_and_gif_writer(str(mp4), str(gif), fps=10) as add:
            add(_frames(1, (48, 64, 3))[0])
            raise RuntimeError("env crashed")
    assert list(tmp_path.iterdir()) == []
