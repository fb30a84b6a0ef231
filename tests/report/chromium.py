"""Load a page in Debian's headless Chromium: the DOM after rendering, the console lines, a screenshot.

Chromium is a system package (``apt-get install chromium``; ``.ci/run`` installs it). Where it is missing the
tests skip with that reason — except in CI (``CI`` set), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

BROWSERS = ("chromium", "chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--disable-extensions", "--enable-logging=stderr", "--v=0"]


def chromium() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("Chromium is missing in CI: .ci/run must install Debian's chromium package")
    pytest.skip("Chromium is not installed here (Debian: apt-get install chromium); .ci/run installs it for CI")


@dataclass
class Loaded:
    dom: str
    console: list[str]  # every console message the page produced (CSP violations, script errors, ...)
    width: int
    height: int
    pixels: list[bytes]  # rows of RGB triplets


def load(page: Path, tmp: Path, size: tuple[int, int] = (1400, 1200)) -> Loaded:
    browser = chromium()
    profile = tmp / "chromium-profile"
    base = [browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}"]
    url = page.resolve().as_uri()
    dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    shot = tmp / "screenshot.png"
    png = subprocess.run([*base, f"--screenshot={shot}", url], capture_output=True, text=True, timeout=120)
    assert png.returncode == 0 and shot.is_file(), png.stderr[-2000:]
    console = [line for line in (dom.stderr + png.stderr).splitlines() if ":CONSOLE" in line]
    width, height, rows = decode_png(shot.read_bytes())
    return Loaded(dom.stdout, console, width, height, rows)


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """8-bit RGB/RGBA non-interlaced PNG (what Chromium writes) → rows of RGB bytes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = color_type = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color_type in (2, 6) and interlace == 0, (depth, color_type, interlace)
        elif kind == b"IDAT":
            idat += body
    channels = 4 if color_type == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = prev[i]
            upleft = prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - upleft
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - upleft)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else upleft
                line[i] = (line[i] + pred) & 0xFF
        prev = line
        if channels == 4:
            rows.append(bytes(b for j in range(0, stride, 4) for b in line[j:j + 3]))
        else:
            rows.append(bytes(line))
    return width, height, rows


def count_colour(loaded: Loaded, hex_colour: str) -> int:
    rgb = bytes.fromhex(hex_colour.lstrip("#"))
    total = 0
    for row in loaded.pixels:
        start = row.find(rgb)
        while start != -1:
            if start % 3 == 0:
                total += 1
            start = row.find(rgb, start + 1)
    return total
