"""Builds the fixed-spawn variants of VizDoom's stock `my_way_home.wad` at run time.

The stock map (shipped inside the `vizdoom` PyPI package) spawns the player at one of 17
MapSpots (TIDs 10..26) with a uniformly random heading, from its ENTER script (ACS script 2).
The paper's Sparse and Very Sparse tasks instead always start at one spot with a heading drawn
from a narrow range (the ICM paper's VizDoom setup, Q1):

    * sparse:     TID 10 (240, -176), heading in [0.00, 0.01] of a turn (0 to 3.6 deg, east)
    * verysparse: TID 15 (544, -672), heading in [0.49, 0.51] of a turn (176.4 to 183.6 deg, west)

We never ship a modified `.wad`. Instead this module reads the stock file, checks that it is
the exact release we know (md5), rewrites the bytecode of script 2 in the map's BEHAVIOR lump
(same length, so no other offset moves) and writes the result to a cache directory. The new
script body does what the stock one does (teleport to a MapSpot, set the heading, zero the
reward global, clear the inventory) with a fixed TID and a heading range of our choice.

ACS bytecode here is the compressed "ACSe" form: opcodes below 240 take one byte, the others
two; PUSHBYTE/PUSH2BYTES carry one-byte operands and PUSHNUMBER a 4-byte little-endian one.
ACS angles are fixed-point fractions of a full turn (65536 = 360 degrees).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import struct
import tempfile

import numpy as np

from episodic_curiosity import atomic_files

STOCK_WAD_MD5 = "f19ca5aec994a879f1d5d68a24c4387b"
_BEHAVIOR = b"BEHAVIOR"

# Byte range of script 2 (the ENTER script) inside the stock BEHAVIOR lump: it starts at the
# offset in the SPTR chunk (20) and ends where script 3 starts (64).
_SCRIPT2_START = 20
_SCRIPT2_END = 64

# Opcodes (compressed ACSe encoding) used by the replacement script.
_NOP = b"\x00"
_TERMINATE = b"\x01"
_PUSHNUMBER = b"\x03"
_DROP = b"\x36"
_RANDOM = b"\x39"
_CLEARINVENTORY = b"\x8e"
_PUSHBYTE = b"\xa7"
_PUSH2BYTES = b"\xb0"
_ASSIGNGLOBALVAR = b"\xb5"
_GETACTORX = b"\xc4"
_GETACTORY = b"\xc5"
_SETACTORANGLE = b"\xf0\x24"
_SETACTORPOSITION = b"\xf0\x2b"

_FULL_TURN = 65536


@dataclasses.dataclass(frozen=True)
class FixedSpawn:
    """Where a fixed-spawn variant puts the player.

    Attributes:
        map_spot_tid: int, TID of the MapSpot (type 9001) to teleport to.
        heading_turns: (float, float), heading range as fractions of a full turn, 0 = east,
        counter-clockwise; drawn uniformly by the game's ACS `random`.
    """

    map_spot_tid: int
    heading_turns: tuple[float, float]


SPAWNS = {
    "sparse": FixedSpawn(map_spot_tid=10, heading_turns=(0.0, 0.01)),
    "verysparse": FixedSpawn(map_spot_tid=15, heading_turns=(0.49, 0.51)),
}


class WadFormatError(RuntimeError):
    """The stock wad is not the file this module knows how to patch."""


def _lump_directory(wad: bytes) -> list[tuple[bytes, int, int]]:
    magic, num_lumps, dir_offset = struct.unpack_from("<4sii", wad, 0)
    if magic not in (b"PWAD", b"IWAD"):
        raise WadFormatError(f"not a WAD file (magic {magic!r})")
    entries = []
    for i in range(num_lumps):
        offset, size, name = struct.unpack_from("<ii8s", wad, dir_offset + 16 * i)
        entries.append((name.rstrip(b"\0"), offset, size))
    return entries


def _fixed_point(turns: float) -> bytes:
    return struct.pack("<i", int(round(turns * _FULL_TURN)))


def enter_script_bytecode(spawn: FixedSpawn) -> bytes:
    """Bytecode for script 2 that spawns at `spawn`, padded to the stock script's length."""
    tid = spawn.map_spot_tid
    if not 0 < tid < 256:
        raise ValueError(f"map_spot_tid must fit in one byte, got {tid}")
    low, high = spawn.heading_turns
    if not low <= high:
        raise ValueError(f"heading range must be ordered, got {spawn.heading_turns}")
    body = b"".join(
        [
            # SetActorPosition(0, GetActorX(tid), GetActorY(tid), z=0, fog=0); result dropped.
            _PUSHBYTE,
            b"\x00",
            _PUSHBYTE,
            bytes([tid]),
            _GETACTORX,
            _PUSHBYTE,
            bytes([tid]),
            _GETACTORY,
            _PUSH2BYTES,
            b"\x00\x00",
            _SETACTORPOSITION,
            _DROP,
            # SetActorAngle(0, random(low, high)).
            _PUSHBYTE,
            b"\x00",
            _PUSHNUMBER,
            _fixed_point(low),
            _PUSHNUMBER,
            _fixed_point(high),
            _RANDOM,
            _SETACTORANGLE,
            # Global 0 (the map reward ViZDoom reads) = 0, then ClearInventory().
            _PUSHBYTE,
            b"\x00",
            _ASSIGNGLOBALVAR,
            b"\x00",
            _CLEARINVENTORY,
        ]
    )
    length = _SCRIPT2_END - _SCRIPT2_START
    padding = length - len(body) - len(_TERMINATE)
    if padding < 0:
        raise AssertionError("replacement script longer than the stock one")
    return body + _NOP * padding + _TERMINATE


def patched_wad_bytes(stock_wad: bytes, spawn: FixedSpawn) -> bytes:
    """Returns the stock wad with script 2 replaced by a fixed-spawn script."""
    digest = hashlib.md5(stock_wad).hexdigest()
    if digest != STOCK_WAD_MD5:
        raise WadFormatError(
            f"my_way_home.wad has md5 {digest}, expected the stock ViZDoom file "
            f"{STOCK_WAD_MD5}; reinstall vizdoom (pip install 'episodic-curiosity[vizdoom]')"
        )
    behaviors = [(o, s) for name, o, s in _lump_directory(stock_wad) if name == _BEHAVIOR]
    if len(behaviors) != 1:
        raise WadFormatError(f"expected one BEHAVIOR lump, found {len(behaviors)}")
    offset, _ = behaviors[0]
    start, end = offset + _SCRIPT2_START, offset + _SCRIPT2_END
    return stock_wad[:start] + enter_script_bytecode(spawn) + stock_wad[end:]


def cache_dir() -> str:
    """Per-user directory for generated files (override with EPISODIC_CURIOSITY_CACHE)."""
    root = os.environ.get("EPISODIC_CURIOSITY_CACHE") or os.path.join(
        tempfile.gettempdir(), f"episodic_curiosity_{os.getuid()}"
    )
    os.makedirs(root, exist_ok=True)
    return root


@dataclasses.dataclass(frozen=True)
class MapGeometry:
    """The map's top-down geometry from its UDMF TEXTMAP lump (map units = VizDoom positions).

    Attributes:
      vertices: float [V, 2], (x, y) of every vertex.
      lines: int [L, 2], vertex indices of every linedef.
      two_sided: bool [L], the linedef separates two sectors (an opening, not a wall).
      things: list of (type, x, y) of every thing (e.g. 2018: the vest; 9001: MapSpots).
    """

    vertices: np.ndarray
    lines: np.ndarray
    two_sided: np.ndarray
    things: list


def _udmf_blocks(text: str, kind: str) -> list[dict[str, str]]:
    """The `key = value;` pairs of every `kind { ... }` block of a UDMF text, in order."""
    blocks = []
    for body in re.findall(rf"^{kind}\b[^{{]*\{{(.*?)\}}", text, flags=re.S | re.M):
        blocks.append(dict(re.findall(r"(\w+)\s*=\s*([^;]+);", body)))
    return blocks


def map_geometry(wad: bytes) -> MapGeometry:
    """Walls, openings and things of the (first) map of a UDMF wad (`my_way_home.wad`)."""
    lumps = {name: (offset, size) for name, offset, size in _lump_directory(wad)}
    if b"TEXTMAP" not in lumps:
        raise WadFormatError("no TEXTMAP lump: not a UDMF map")
    offset, size = lumps[b"TEXTMAP"]
    text = wad[offset : offset + size].decode("ascii", errors="replace")
    vertices = np.array([[float(v["x"]), float(v["y"])] for v in _udmf_blocks(text, "vertex")])
    linedefs = _udmf_blocks(text, "linedef")
    lines = np.array([[int(line["v1"]), int(line["v2"])] for line in linedefs], np.int64)
    two_sided = np.array([line.get("twosided", "false").strip() == "true" for line in linedefs])
    things = [(int(t["type"]), float(t["x"]), float(t["y"])) for t in _udmf_blocks(text, "thing")]
    return MapGeometry(vertices, lines, two_sided, things)


def wad_for_variant(variant: str, scenarios_path: str) -> str:
    """Path of the wad to load for `variant` ('dense' = the stock file, unchanged).

    Args:
      variant: str, 'dense', 'sparse' or 'verysparse'.
      scenarios_path: str, the installed vizdoom package's scenario folder
        (`vizdoom.scenarios_path`), which holds the stock `my_way_home.wad`.
    """
    stock = os.path.join(scenarios_path, "my_way_home.wad")
    if variant == "dense":
        return stock
    if variant not in SPAWNS:
        raise ValueError(f"unknown MyWayHome variant {variant!r}; valid: dense, {', '.join(SPAWNS)}")
    with open(stock, "rb") as f:
        patched = patched_wad_bytes(f.read(), SPAWNS[variant])
    tag = hashlib.md5(patched).hexdigest()[:12]
    path = os.path.join(cache_dir(), f"my_way_home_{variant}_{tag}.wad")
    if not os.path.exists(path):
        # Concurrent workers never read a half-written file.
        atomic_files.write_bytes(path, patched)
    return path
