"""Spawn and goal placement of the project's DeepMind Lab level: Python mirror and Lua module."""

import os
import shutil
import subprocess

import numpy as np
import pytest

from episodic_curiosity.environments import dmlab
from episodic_curiosity.environments import dmlab_placement as placement

# DEBUG.MAZE.LAYOUT of explore_goal_locations_large, seed 1, as DeepMind Lab reports it.
EGL_SEED1 = """\
*****************
***  GPG*PGG*GGP*
*** *PGP*PPG*PGP*
*** *PGP PGP GPP*
*** * * * * * ***
*PGG  *PGP      *
*GPP* *PGP* *** *
*PPG*  GPG PPG* *
* *** * ***PGG* *
*    GPP  *GPP* *
*** *GPP* * *** *
*** *GGP*  PGG* *
*** *** * *PPG* *
*** *PPP  *GPP* *
*** *PGG* ***** *
***  PGG*       *
*****************
"""
EGL_SEED1_GOAL = (5, 2)  # 0-based (row, col), where DeepMind Lab puts the goal

# A corridor with a door cell (passable) and a 'P' cut off by walls.
CORRIDOR = """\
*********
*GP PHP *
******* *
*P*PP   *
*********
"""
# Only two spawn cells, both close to the goal.
SMALL_ROOM = """\
*****
*GP *
* P *
*****
"""
MAZES = {"egl_seed1": EGL_SEED1, "corridor": CORRIDOR, "small_room": SMALL_ROOM}
LUA = shutil.which("lua5.1")
LEVELS_DIR = dmlab.LEVELS_DIRECTORY
LUA_TESTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lua")


def test_egl_seed1_distances_match_the_measured_facts():
    rows = placement.parse_layout(EGL_SEED1)
    assert len(rows) == 17 and all(len(row) == 17 for row in rows)
    assert rows[EGL_SEED1_GOAL[0]][EGL_SEED1_GOAL[1]] == "G"
    candidates = placement.spawn_candidates(rows, EGL_SEED1_GOAL, 0)
    distances = np.array(candidates.distances)
    assert len(candidates.cells) == 45 == sum(row.count("P") for row in rows)
    assert (distances.min(), distances.max()) == (1, 19) == (1, candidates.max_distance)
    assert (distances >= 10).sum() == 28
    # The episode's start, (750, 750) in world units, is P cell (9, 7) at distance 9.
    start = placement.cell_of_position(750.0, 750.0, 17)
    assert start == (9, 7) and rows[9][7] == "P"
    assert placement.distances_from(rows, EGL_SEED1_GOAL)[start] == 9
    # The minimum-distance rule keeps exactly the 28 far cells.
    far = placement.spawn_candidates(rows, EGL_SEED1_GOAL, 10)
    assert len(far.cells) == 28 and min(far.distances) == 10 and not far.fell_back


@pytest.mark.parametrize("maze", sorted(MAZES))
@pytest.mark.parametrize("min_distance", [0, 3, 10, 15])
def test_spawns_are_open_connected_and_far_enough(maze, min_distance):
    rows = placement.parse_layout(MAZES[maze])
    rng = np.random.default_rng(0)
    for goal in placement.goal_candidates(rows):
        dist = placement.distances_from(rows, goal)
        candidates = placement.spawn_candidates(rows, goal, min_distance)
        reachable_p = [d for (r, c), d in np.ndenumerate(dist) if d >= 0 and rows[r][c] == "P"]
        for cell, distance in zip(candidates.cells, candidates.distances):
            assert rows[cell[0]][cell[1]] == "P" and dist[cell] == distance >= 0
        if max(reachable_p) >= min_distance:
            assert not candidates.fell_back
            assert min(candidates.distances) >= min_distance
            assert len(candidates.cells) == sum(d >= min_distance for d in reachable_p)
        else:
            assert candidates.fell_back
            assert set(candidates.distances) == {max(reachable_p)}
        cell, distance, fell_back = placement.choose_spawn(
            rows, goal, min_distance, lambda a, b: int(rng.integers(a, b + 1))
        )
        assert cell in candidates.cells and fell_back == candidates.fell_back
        assert distance == dist[cell]


def test_doors_are_passable_and_walled_off_cells_are_not_candidates():
    rows = placement.parse_layout(CORRIDOR)
    candidates = placement.spawn_candidates(rows, (1, 1), 0)
    # (1, 6) is reached through the door 'H' at (1, 5); (3, 1) is walled off.
    assert dict(zip(candidates.cells, candidates.distances)) == {
        (1, 2): 1,
        (1, 4): 3,
        (1, 6): 5,
        (3, 3): 12,
        (3, 4): 11,
    }
    assert (3, 1) not in candidates.cells
    fallback = placement.spawn_candidates(rows, (1, 1), 13)
    assert fallback.fell_back and fallback.cells == ((3, 3),) and fallback.max_distance == 12


def test_fallback_when_no_spawn_is_far_enough():
    rows = placement.parse_layout(SMALL_ROOM)
    candidates = placement.spawn_candidates(rows, (1, 1), 10)
    assert candidates.fell_back and candidates.cells == ((2, 2),) and candidates.distances == (2,)
    assert placement.choose_spawn(rows, (1, 1), 10, lambda a, b: a) == ((2, 2), 2, True)


def test_bad_mazes_give_clear_errors():
    with pytest.raises(ValueError, match="empty maze"):
        placement.parse_layout("\n")
    with pytest.raises(ValueError, match="row 1 has 2 cells, row 0 has 3"):
        placement.parse_layout("***\n*G\n***\n")
    with pytest.raises(ValueError, match="no spawn cell"):
        placement.spawn_candidates(placement.parse_layout("****\n*G**\n**P*\n****\n"), (1, 1), 0)
    with pytest.raises(ValueError, match="no goal cell"):
        placement.choose_goal(placement.parse_layout("***\n*P*\n***\n"), lambda a, b: a)
    with pytest.raises(ValueError, match="starts on a wall"):
        placement.distances_from(placement.parse_layout(SMALL_ROOM), (0, 0))


def test_goal_choice_respects_the_row_band():
    rows = placement.parse_layout(EGL_SEED1)
    band = placement.goal_candidates(rows, 5, 7)
    assert band and all(5 <= r <= 7 and rows[r][c] == "G" for r, c in band)
    assert band == [cell for cell in placement.goal_candidates(rows) if 5 <= cell[0] <= 7]
    assert placement.choose_goal(rows, lambda a, b: b, 5, 7) == band[-1]


def test_world_position_round_trip():
    for cell in [(0, 0), (9, 7), (16, 16), (5, 2)]:
        x, y = placement.world_position(cell, 17)
        assert placement.cell_of_position(x, y, 17) == cell
    assert placement.world_position((9, 7), 17) == (750.0, 750.0)


def _run_lua(*args: str) -> str:
    result = subprocess.run([LUA, *args], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _parse_cells(text: str) -> list[tuple[int, ...]]:
    return [tuple(int(v) for v in item.split(",")) for item in text.split()]


@pytest.mark.skipif(LUA is None, reason="lua5.1 is not installed")
@pytest.mark.parametrize("maze", sorted(MAZES))
def test_lua_module_matches_the_python_mirror(maze, tmp_path):
    maze_path = tmp_path / "maze.txt"
    maze_path.write_text(MAZES[maze])
    rows = placement.parse_layout(MAZES[maze])
    driver = os.path.join(LUA_TESTS_DIR, "placement_driver.lua")
    checked = 0
    for goal in placement.goal_candidates(rows)[:6]:
        for min_distance, pick in [(0, 0), (4, 3), (10, 7), (25, 1)]:
            lines = dict(
                line.split(" ", 1) if " " in line else (line, "")
                for line in _run_lua(
                    driver, LEVELS_DIR, str(maze_path), str(goal[0] + 1), str(goal[1] + 1), str(min_distance), str(pick)
                ).splitlines()
            )
            expected = placement.spawn_candidates(rows, goal, min_distance)
            lua_cells = _parse_cells(lines["candidates"])
            assert [(r - 1, c - 1) for r, c, _ in lua_cells] == list(expected.cells)
            assert [d for _, _, d in lua_cells] == list(expected.distances)
            assert lines["fellBack"] == str(expected.fell_back).lower()
            assert int(lines["farthest"]) == expected.max_distance
            lua_goals = [(r - 1, c - 1) for r, c in _parse_cells(lines["goals"])]
            assert lua_goals == placement.goal_candidates(rows)
            # The same pick rule gives the same goal and spawn in both languages.
            pick_rule = lambda a, b, k=pick: a + k % (b - a + 1)  # noqa: E731
            (lua_goal,) = _parse_cells(lines["goal"])
            assert (lua_goal[0] - 1, lua_goal[1] - 1) == placement.choose_goal(rows, pick_rule)
            (lua_spawn,) = _parse_cells(lines["spawn"])
            cell, distance, _ = placement.choose_spawn(rows, goal, min_distance, pick_rule)
            assert (lua_spawn[0] - 1, lua_spawn[1] - 1, lua_spawn[2]) == (*cell, distance)
            checked += 1
    assert checked > 0


@pytest.mark.skipif(LUA is None, reason="lua5.1 is not installed")
def test_lua_level_script_applies_the_minimum_on_every_respawn(tmp_path):
    maze_path = tmp_path / "maze.txt"
    maze_path.write_text(EGL_SEED1)
    output = _run_lua(os.path.join(LUA_TESTS_DIR, "level_script_test.lua"), LEVELS_DIR, str(maze_path))
    assert output.startswith("OK goal ")


def test_level_files_are_shipped_as_package_data():
    import tomllib  # pylint: disable=g-import-not-at-top

    for name in ("ec_explore_goal_locations_large.lua", "ec_goal_placement.lua"):
        assert os.path.isfile(os.path.join(LEVELS_DIR, name))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "pyproject.toml"), "rb") as f:
        package_data = tomllib.load(f)["tool"]["setuptools"]["package-data"]["episodic_curiosity"]
    assert "environments/dmlab_levels/*.lua" in package_data
