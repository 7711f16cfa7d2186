"""Goal and spawn placement of the project's DeepMind Lab level, mirrored in Python.

The level `dmlab_levels/ec_explore_goal_locations_large.lua` places the player with the pure
Lua module `dmlab_levels/ec_goal_placement.lua`; this module is the same logic in Python, so
that it can be tested without DeepMind Lab and compared with the Lua code (tests run both on
the same mazes when `lua5.1` is installed).

A maze is DeepMind Lab's entity layer text (`DEBUG.MAZE.LAYOUT`): one line per row, '*' is a
wall, 'P' a spawn candidate, 'G' a goal candidate, every other character (space, doors 'H' and
'I') is open floor. Cells are (row, col), **0-based** here (the Lua module is 1-based).
Distances are flood-fill path lengths in maze cells (4-neighbour breadth-first search), the
same as DeepMind Lab's `maze:visitFill`.

Rule (the original code, DeepMind Lab's documented behaviour): the spawn is drawn uniformly among the 'P' cells
connected to the goal whose distance is at least `min_distance`; when none is that far, among
the farthest connected 'P' cells instead (the level then prints a warning).
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Callable

import numpy as np

WALLS = "*"
CELL_SIZE = 100.0  # world units per maze cell

Cell = tuple[int, int]
# uniform_int(a, b) -> an int in [a, b], both ends included.
UniformInt = Callable[[int, int], int]


@dataclasses.dataclass(frozen=True)
class SpawnCandidates:
    """Where the player may spawn for one goal.

    Attributes:
      cells: tuple of (row, col), the candidate 'P' cells in row-major order.
      distances: tuple of int, each candidate's flood-fill distance from the goal.
      fell_back: bool, True when no connected 'P' cell was `min_distance` away and the
        candidates are the farthest ones instead.
      max_distance: int, the largest distance of a connected 'P' cell.
    """

    cells: tuple[Cell, ...]
    distances: tuple[int, ...]
    fell_back: bool
    max_distance: int


def parse_layout(text: str) -> list[str]:
    """Rows of a maze layout text; raises ValueError for an empty or ragged layout."""
    rows = [line for line in text.split("\n") if line]
    if not rows:
        raise ValueError("empty maze layout")
    for index, row in enumerate(rows):
        if len(row) != len(rows[0]):
            raise ValueError(f"maze layout row {index} has {len(row)} cells, row 0 has {len(rows[0])}")
    return rows


def distances_from(rows: list[str], cell: Cell, walls: str = WALLS) -> np.ndarray:
    """Flood-fill distances from `cell`.

    Args:
      rows: list of str, the maze (see `parse_layout`).
      cell: (row, col), the start; must be open.
      walls: str, the blocking characters.

    Returns:
      int array [height, width]: distance in cells, -1 for walls and unconnected cells.
    """
    height, width = len(rows), len(rows[0])

    def is_open(r: int, c: int) -> bool:
        return 0 <= r < height and 0 <= c < width and rows[r][c] not in walls

    if not is_open(*cell):
        raise ValueError(f"flood fill starts on a wall or outside the maze: {cell}")
    dist = np.full((height, width), -1, np.int64)
    dist[cell] = 0
    queue = collections.deque([cell])
    while queue:
        r, c = queue.popleft()
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if is_open(nr, nc) and dist[nr, nc] < 0:
                dist[nr, nc] = dist[r, c] + 1
                queue.append((nr, nc))
    return dist


def goal_candidates(rows: list[str], first_row: int | None = None, last_row: int | None = None) -> list[Cell]:
    """'G' cells of rows first_row..last_row (inclusive; None = maze edge), row-major order."""
    first = 0 if first_row is None else first_row
    last = len(rows) - 1 if last_row is None else last_row
    return [(r, c) for r in range(first, last + 1) for c, ch in enumerate(rows[r]) if ch == "G"]


def spawn_candidates(rows: list[str], goal: Cell, min_distance: int = 0) -> SpawnCandidates:
    """The spawn cells for `goal` under the minimum-distance rule (see the module docstring)."""
    dist = distances_from(rows, goal)
    reachable = [
        ((r, c), int(dist[r, c]))
        for r in range(len(rows))
        for c, ch in enumerate(rows[r])
        if ch == "P" and dist[r, c] >= 0
    ]
    if not reachable:
        raise ValueError(f"no spawn cell (P) is connected to the goal {goal}")
    farthest = max(d for _, d in reachable)
    eligible = [(cell, d) for cell, d in reachable if d >= min_distance]
    fell_back = not eligible
    if fell_back:
        eligible = [(cell, d) for cell, d in reachable if d == farthest]
    return SpawnCandidates(
        cells=tuple(cell for cell, _ in eligible),
        distances=tuple(d for _, d in eligible),
        fell_back=fell_back,
        max_distance=farthest,
    )


def choose_goal(
    rows: list[str], uniform_int: UniformInt, first_row: int | None = None, last_row: int | None = None
) -> Cell:
    """The goal, drawn with `uniform_int(0, n - 1)` among `goal_candidates`."""
    goals = goal_candidates(rows, first_row, last_row)
    if not goals:
        raise ValueError("the maze has no goal cell (G) in the allowed rows")
    return goals[uniform_int(0, len(goals) - 1)]


def choose_spawn(rows: list[str], goal: Cell, min_distance: int, uniform_int: UniformInt) -> tuple[Cell, int, bool]:
    """The spawn cell, its distance from the goal and whether the fallback was used.

    Args:
      rows: list of str, the maze.
      goal: (row, col), the goal cell.
      min_distance: int, minimum flood-fill distance in cells (0 = any connected 'P').
      uniform_int: callable(a, b) -> int in [a, b]; called once as (0, n - 1).
    """
    candidates = spawn_candidates(rows, goal, min_distance)
    index = uniform_int(0, len(candidates.cells) - 1)
    return candidates.cells[index], candidates.distances[index], candidates.fell_back


def cell_of_position(x: float, y: float, height: int) -> Cell:
    """The (row, col) under world position (x, y) in a maze of `height` rows.

    DeepMind Lab puts row 0 at the top (largest y): the centre of (r, c) is
    x = 100 c + 50, y = 100 (height - 1 - r) + 50.
    """
    return height - 1 - int(np.floor(y / CELL_SIZE)), int(np.floor(x / CELL_SIZE))


def world_position(cell: Cell, height: int) -> tuple[float, float]:
    """World (x, y) of the centre of `cell` (the inverse of `cell_of_position`)."""
    row, col = cell
    return CELL_SIZE * col + CELL_SIZE / 2, CELL_SIZE * (height - 1 - row) + CELL_SIZE / 2
