"""Syphon (macOS) and Spout (Windows) cannot run on this Linux machine. What can be tested here
is tested: the platform gate and its message, and the node's calls into each library, through a
stand-in module with that library's API (syphon-python's Metal server, Python-SpoutGL's sender)."""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np
import pytest

from node.errors import SinkError
from node.frames import Frame
from node.sinks import create_sink
from node.sinks.spout import SpoutSink
from node.sinks.syphon import SyphonSink

RED = np.zeros((4, 6, 3), np.uint8)
RED[..., 2] = 255  # BGR


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="the gate is for other systems")
def test_on_this_system_both_say_where_they_exist() -> None:
    for spec, needle in [("syphon", "only on macOS"), ("spout", "only on Windows")]:
        sink = create_sink(spec)
        assert needle in (type(sink).unavailable_reason() or "")
        with pytest.raises(SinkError, match=needle):
            sink.open(30.0)


def _module(monkeypatch: pytest.MonkeyPatch, name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)
    return module


def test_syphon_publishes_each_frame_as_an_rgba_metal_texture(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[Any, ...]] = []

    class Server:
        def __init__(self, name: str) -> None:
            self.device = "metal-device"
            calls.append(("server", name))

        def publish_frame_texture(self, texture: Any) -> None:
            calls.append(("publish", texture))

        def stop(self) -> None:
            calls.append(("stop",))

    def create_mtl_texture(device: Any, width: int, height: int) -> dict[str, Any]:
        calls.append(("texture", device, width, height))
        return {"size": (width, height)}

    def copy_image_to_mtl_texture(image: np.ndarray, texture: dict[str, Any]) -> None:
        texture["data"] = image.copy()

    monkeypatch.setattr(sys, "platform", "darwin")
    syphon = _module(monkeypatch, "syphon", SyphonMetalServer=Server)
    syphon.utils = _module(monkeypatch, "syphon.utils")  # type: ignore[attr-defined]
    _module(monkeypatch, "syphon.utils.raw", create_mtl_texture=create_mtl_texture)
    _module(monkeypatch, "syphon.utils.numpy", copy_image_to_mtl_texture=copy_image_to_mtl_texture)

    sink = create_sink("syphon:stage")
    assert isinstance(sink, SyphonSink) and SyphonSink.unavailable_reason() is None
    sink.open(30.0)
    sink.write(Frame(RED, 0, 0.0))
    sink.write(Frame(RED, 1, 0.0))
    sink.write(Frame(np.zeros((8, 8, 3), np.uint8), 2, 0.0))
    sink.close()
    assert calls[0] == ("server", "stage")
    textures = [c for c in calls if c[0] == "texture"]
    assert textures == [("texture", "metal-device", 6, 4), ("texture", "metal-device", 8, 8)]
    published = [c[1] for c in calls if c[0] == "publish"]
    assert len(published) == 3 and calls[-1] == ("stop",)
    first = published[0]["data"]
    assert first.shape == (4, 6, 4) and tuple(first[0, 0]) == (255, 0, 0, 255)  # RGBA red


def test_spout_sends_rgba_images_and_releases_the_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    class Sender:
        def setSenderName(self, name: str) -> None:
            calls.append(("name", name))

        def sendImage(
            self, data: np.ndarray, width: int, height: int, fmt: int, invert: bool, fbo: int
        ) -> bool:
            calls.append(("send", data.shape, width, height, fmt, tuple(data[0, 0])))
            return True

        def setFrameSync(self, name: str) -> None:
            calls.append(("sync", name))

        def releaseSender(self) -> None:
            calls.append(("release",))

    monkeypatch.setattr(sys, "platform", "win32")
    spout = _module(monkeypatch, "SpoutGL", SpoutSender=Sender)
    spout.enums = _module(monkeypatch, "SpoutGL.enums", GL_RGBA=0x1908)  # type: ignore[attr-defined]

    sink = create_sink("spout?view=processed")
    assert isinstance(sink, SpoutSink) and sink.view == "processed"
    sink.open(30.0)
    sink.write(Frame(RED, 0, 0.0))
    sink.close()
    assert calls == [
        ("name", "pix2pix-node"),
        ("send", (4, 6, 4), 6, 4, 0x1908, (255, 0, 0, 255)),
        ("sync", "pix2pix-node"),
        ("release",),
    ]
