import pytest

from ganlib.formats import latent_format, layered_format
from ganlib.formats.interface import CodecError
from ganlib.formats.layered_format import LayeredFile


@pytest.mark.parametrize("f", [LayeredFile("base", b"B" * 9), LayeredFile("learned", b"B" * 9, b"enh", b"cd"),
                               LayeredFile("webp", b"B", b"RIFF"), LayeredFile("lossless", enhancement=b"\x89PNG")])
def test_every_kind_round_trips_and_starts_unlike_a_latent_file(f):
    blob = layered_format.pack(f)
    assert layered_format.unpack(blob) == f and layered_format.is_layered(blob)
    assert blob[0] >> 5 == 0b111 and blob[0] & 0x1F == layered_format.KINDS.index(f.kind)
    with pytest.raises(CodecError, match="version 7"):  # what the latent decoder says of it
        latent_format.read_header(blob + bytes(8))


def test_no_latent_file_looks_layered():
    for first in range(256):
        version = first >> 5
        if version in (2,) or first == latent_format.V1_MAGIC:
            assert not layered_format.is_layered(bytes([first]))


@pytest.mark.parametrize("blob, message", [
    (b"", "first byte missing"), (b"\x43abc", "not a layered file"), (b"\xe9abc", "unknown kind 9"),
    (b"\xe0", "truncated"), (b"\xe0\x05ab\x00\x00", "checksum"),
])
def test_damaged_files_are_refused_with_the_reason(blob, message):
    with pytest.raises(CodecError, match=message):
        layered_format.unpack(blob)


def test_lengths_that_do_not_add_up_are_refused():
    for body in (b"\xe0\x09abc", b"\xe1\x02ab\x01", b"\xe0\x02abX"):  # short base, no coder, bytes after a base
        blob = body + __import__("binascii").crc_hqx(body, latent_format.CRC_INIT).to_bytes(2, "big")
        with pytest.raises(CodecError, match="truncated|after its base layer"):
            layered_format.unpack(blob)


@pytest.mark.parametrize("f, message", [
    (LayeredFile("zip", b"B"), "kind='zip'"), (LayeredFile("learned", b"B", b"e"), "coder fingerprint"),
    (LayeredFile("webp", b"B", b"e", b"cd"), "coder fingerprint"), (LayeredFile("base", b""), "1 to 255"),
    (LayeredFile("base", bytes(256)), "1 to 255"), (LayeredFile("base", b"B", b"e"), "no enhancement"),
    (LayeredFile("lossless", b"B", b"png"), "no base layer"),
])
def test_parts_that_do_not_fit_are_refused_when_packing(f, message):
    with pytest.raises(ValueError, match=message):
        layered_format.pack(f)
