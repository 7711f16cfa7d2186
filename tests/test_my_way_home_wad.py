"""Run-time patching of the stock MyWayHome wad (no vizdoom needed except where marked)."""

import hashlib
import os
import struct

import pytest

from episodic_curiosity.environments import my_way_home_wad


def _fake_wad_with_behavior(behavior: bytes) -> bytes:
    header_size = 12
    lumps = [(b"MAP01", b""), (b"BEHAVIOR", behavior)]
    body, directory, offset = b"", b"", header_size
    for name, data in lumps:
        directory += struct.pack("<ii8s", offset, len(data), name)
        body += data
        offset += len(data)
    return struct.pack("<4sii", b"PWAD", len(lumps), header_size + len(body)) + body + directory


@pytest.mark.parametrize("variant", ["sparse", "verysparse"])
def test_replacement_script_has_the_stock_length_and_spawn(variant):
    spawn = my_way_home_wad.SPAWNS[variant]
    code = my_way_home_wad.enter_script_bytecode(spawn)
    assert len(code) == 44
    assert code.endswith(b"\x01")  # TERMINATE
    assert bytes([0xA7, spawn.map_spot_tid, 0xC4]) in code  # GetActorX(tid)
    low, high = (int(round(t * 65536)) for t in spawn.heading_turns)
    assert b"\x03" + struct.pack("<i", low) + b"\x03" + struct.pack("<i", high) + b"\x39" in code


def test_spawns_match_pathaks_variants():
    assert my_way_home_wad.SPAWNS["sparse"].map_spot_tid == 10
    assert my_way_home_wad.SPAWNS["verysparse"].map_spot_tid == 15
    assert my_way_home_wad.SPAWNS["sparse"].heading_turns == (0.0, 0.01)
    assert my_way_home_wad.SPAWNS["verysparse"].heading_turns == (0.49, 0.51)


def test_unknown_wad_is_refused():
    wad = _fake_wad_with_behavior(bytes(200))
    with pytest.raises(my_way_home_wad.WadFormatError, match="md5"):
        my_way_home_wad.patched_wad_bytes(wad, my_way_home_wad.SPAWNS["sparse"])


def test_bad_tid_is_refused():
    with pytest.raises(ValueError, match="one byte"):
        my_way_home_wad.enter_script_bytecode(my_way_home_wad.FixedSpawn(300, (0.0, 0.1)))


def test_patch_changes_only_script_two_of_the_stock_wad():
    vizdoom = pytest.importorskip("vizdoom")
    stock_path = os.path.join(vizdoom.scenarios_path, "my_way_home.wad")
    with open(stock_path, "rb") as f:
        stock = f.read()
    patched_path = my_way_home_wad.wad_for_variant("verysparse", vizdoom.scenarios_path)
    with open(patched_path, "rb") as f:
        patched = f.read()
    assert len(patched) == len(stock)
    differing = [i for i, (a, b) in enumerate(zip(stock, patched)) if a != b]
    behavior_offset = 25358  # from the stock wad's lump directory
    assert differing and min(differing) >= behavior_offset + 20 and max(differing) < behavior_offset + 64
    # The stock file itself is untouched and the dense variant uses it as is.
    assert hashlib.md5(stock).hexdigest() == my_way_home_wad.STOCK_WAD_MD5
    assert my_way_home_wad.wad_for_variant("dense", vizdoom.scenarios_path) == stock_path
    # A second call reuses the cached file.
    assert my_way_home_wad.wad_for_variant("verysparse", vizdoom.scenarios_path) == patched_path


def test_map_geometry_of_the_stock_wad():
    vizdoom = pytest.importorskip("vizdoom")
    with open(os.path.join(vizdoom.scenarios_path, "my_way_home.wad"), "rb") as f:
        geometry = my_way_home_wad.map_geometry(f.read())
    assert geometry.vertices.shape == (76, 2) and geometry.lines.shape == (94, 2)
    assert geometry.lines.max() < len(geometry.vertices) and 0 < geometry.two_sided.sum() < len(geometry.lines)
    things = {(kind, x, y) for kind, x, y in geometry.things}
    assert (2018, 1040.0, -352.0) in things  # the vest
    assert (9001, 240.0, -176.0) in things and (9001, 543.986, -672.089) in things  # sparse / verysparse spawns
    assert geometry.vertices.min(axis=0).tolist() == [160.0, -704.0]


def test_map_geometry_reads_udmf_blocks():
    textmap = (
        b'namespace = "zdoom";\nvertex // 0\n{\nx = 0.0;\ny = 1.5;\n}\nvertex // 1\n{\nx = 2.0;\ny = 3.0;\n}\n'
        b"linedef // 0\n{\nv1 = 0;\nv2 = 1;\ntwosided = true;\n}\nthing // 0\n{\nx = 1.0;\ny = 2.0;\ntype = 2018;\n}\n"
    )
    lumps = [(b"MAP01", b""), (b"TEXTMAP", textmap)]
    offset, body, directory = 12, b"", b""
    for name, data in lumps:
        directory += struct.pack("<ii8s", offset + len(body), len(data), name)
        body += data
    wad = struct.pack("<4sii", b"PWAD", len(lumps), offset + len(body)) + body + directory
    geometry = my_way_home_wad.map_geometry(wad)
    assert geometry.vertices.tolist() == [[0.0, 1.5], [2.0, 3.0]] and geometry.lines.tolist() == [[0, 1]]
    assert geometry.two_sided.tolist() == [True] and geometry.things == [(2018, 1.0, 2.0)]
