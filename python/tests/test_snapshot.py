"""Snapshots: ``arena.save(path)`` and ``sharena.load(path, name)`` through
a real broker. A round trip keeps every type; a damaged image raises with
the reason and leaves no arena behind."""
import os

import pytest

import sharena


def test_save_load_round_trip(arena, name, tmp_path):
    arena["num"] = 42.5
    arena["flag"] = True
    arena["text"] = "héllo"
    arena["cfg"] = {"a": 1, "list": [1, "two", [3]], "deep": {"k": False}}
    m = arena.map("m")
    m["raw"] = b"\x00\xffabc"
    shape = arena.shape({"name": "string", "score": "number", "ok": "bool"})
    m["rec"] = shape.new(name="ada", score=1.5, ok=True)
    img = tmp_path / "a.img"
    info = arena.save(img)
    assert info["image_bytes"] == os.path.getsize(img)
    assert info["bytes"] > 0 and info["barrier_ns"] >= 0

    copy = sharena.load(img, name + ".copy", mode=0o640)
    try:
        assert copy.name == name + ".copy"
        assert copy.mode == 0o640
        assert copy["num"] == 42.5 and copy["flag"] is True
        assert copy["text"] == "héllo"
        cfg = copy["cfg"]
        assert cfg["a"] == 1 and list(cfg["list"][:2]) == [1, "two"]
        assert cfg["list"][2][0] == 3 and cfg["deep"]["k"] is False
        assert bytes(copy["m"]["raw"]) == b"\x00\xffabc"
        rec = copy["m"]["rec"]
        assert dict(rec) == {"name": "ada", "score": 1.5, "ok": True}
        assert copy.fsck()["errors"] == 0
        # its own arena
        copy["num"] = 1.0
        assert arena["num"] == 42.5
        with pytest.raises(sharena.ExistsError):
            sharena.load(img, name + ".copy")
    finally:
        copy.delete()
        copy.close()


def test_load_refuses_damaged_image(arena, name, tmp_path):
    arena["cfg"] = {"k": "v"}
    img = tmp_path / "a.img"
    arena.save(img)
    data = bytearray(img.read_bytes())
    bad = tmp_path / "bad.img"
    bad.write_bytes(data[:-100])
    with pytest.raises(sharena.Error) as e:
        sharena.load(bad, name + ".bad")
    assert e.value.errname == "ECORRUPT" and "truncated" in str(e.value)
    data[9000] ^= 0x40
    bad.write_bytes(data)
    with pytest.raises(sharena.Error) as e:
        sharena.load(bad, name + ".bad")
    assert e.value.errname == "ECORRUPT" and "checksum" in str(e.value)
    assert not any(a["name"] == name + ".bad" for a in sharena.arenas())
