"""PNG images without an imaging library (the QR code; test 印影)."""

from __future__ import annotations

import struct
import zlib


def png(width: int, height: int, pixels: bytes, *, rgba: bool = False) -> bytes:
    """A PNG of ``pixels`` (row-major; one byte per pixel of grey, or four of RGBA)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    stride = width * (4 if rgba else 1)
    raw = b"".join(b"\x00" + pixels[y * stride:(y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 6 if rgba else 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
