"""A running node on 127.0.0.1 (a tiny scene, a tiny model, a null output) and real OSC clients /
receivers for the OSC tests."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import free_port, tiny_onnx, wait_for, write_json
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer
from pythonosc.udp_client import SimpleUDPClient

from node.app import Node, StartState, Surfaces
from node.config import ControlSettings, NodeConfig
from node.control.commands import NodeCommands
from node.control.service import ControlService
from node.inference.library import ModelLibrary
from node.inference.model import Model
from node.inference.swap import ModelSwapper
from node.sources import create_source
from node.state.params import DEFAULTS, ParamStore
from node.state.presets import SHIPPED_PRESETS, PresetLibrary

RIG_SOURCE = "synthetic?width=48&height=32&fps=30"  # what /node/status names

Message = tuple[str, list[Any]]


class Inbox:
    """A python-osc UDP server that records every message it receives."""

    def __init__(self) -> None:
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(self._record)
        self.server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.port: int = self.server.server_address[1]
        self.messages: list[Message] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _record(self, address: str, *args: Any) -> None:
        with self._cond:
            self.messages.append((address, list(args)))
            self._cond.notify_all()

    def wait(
        self, address: str, where: Callable[[list[Any]], bool] = lambda a: True, timeout: float = 5
    ) -> list[Any]:
        """The args of the first message to `address` that matches (waits for it)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for addr, args in self.messages:
                    if addr == address and where(args):
                        return args
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = sorted({a for a, _ in self.messages})
                    raise AssertionError(f"no {address} message in {timeout} s; got {seen}")
                self._cond.wait(left)

    def all(self, address: str) -> list[list[Any]]:
        with self._cond:
            return [args for addr, args in self.messages if addr == address]

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Rig:
    node: Node
    params: ParamStore
    commands: NodeCommands
    service: ControlService
    swapper: ModelSwapper
    inbox: Inbox  # the feedback port: where the node answers the last sender
    installed: list[Model | None]  # every model handed to the pipeline by a swap

    @property
    def port(self) -> int:
        return self.service.osc.port

    def client(self) -> SimpleUDPClient:
        return SimpleUDPClient("127.0.0.1", self.port)


def model_library(folder: Path, **fields: Any) -> ModelLibrary:
    """Two real ONNX models (their descriptors with `fields`) and a broken one."""
    for name in ("small", "other"):
        tiny_onnx(folder / f"{name}.onnx")
        write_json(folder / f"{name}.json", name=name, path=f"{name}.onnx", **fields)
    (folder / "bad.onnx").write_bytes(b"not a model" * 10)
    write_json(folder / "bad.json", name="bad", path="bad.onnx")
    return ModelLibrary([folder])


@contextlib.contextmanager
def running_rigs(folder: Path, **model_fields: Any) -> Iterator[Callable[..., Rig]]:
    """Yields make(start=None, **settings) -> Rig (`start`: where the node starts; by
    default the tiny model "small" with the table's defaults); every rig made is stopped
    afterwards. `model_fields`: added to the tiny models' descriptors."""
    rigs: list[Rig] = []

    def make(start: StartState | None = None, **settings: Any) -> Rig:
        inbox = Inbox()
        installed: list[Model | None] = []
        options = {
            "bind": "127.0.0.1",
            "port": 0,
            "feedback_port": inbox.port,
            "oscquery_port": 0,
            "zeroconf": False,
            **settings,
        }
        source = create_source(RIG_SOURCE, loop=True)
        source.open()
        node = Node(
            NodeConfig(sinks=["null"], control=ControlSettings(**options)),
            start or StartState(dict(DEFAULTS), "small"),
            library=model_library(folder, **model_fields),
            presets=PresetLibrary(folder / "presets", [SHIPPED_PRESETS]),
            source=source,
            surfaces=Surfaces(page=False, last_state=False),
            on_hand_over=installed.append,
        )
        try:
            node.start()
        except BaseException:
            node.stop()
            source.close()
            inbox.close()
            raise
        assert node.commands and node.control and node.swapper
        rig = Rig(node, node.params, node.commands, node.control, node.swapper, inbox, installed)
        rigs.append(rig)
        return rig

    try:
        yield make
    finally:
        for rig in rigs:
            rig.node.stop()  # control, frames, loader; the pipeline closes its models
            rig.inbox.close()


def send(rig: Rig, address: str, *args: Any) -> None:
    rig.client().send_message(address, list(args))


def round_trip(rig: Rig, inbox: Inbox | None = None) -> None:
    """Ask the node for a value and wait for the answer: whatever the node sent the inbox before
    it (from the same feedback socket, in order) has arrived by then - a check that something
    was *not* sent needs no sleep."""
    inbox = inbox or rig.inbox
    before = len(inbox.all(ROUND_TRIP))
    send(rig, "/node/get", ROUND_TRIP)
    wait_for(lambda: len(inbox.all(ROUND_TRIP)) > before, timeout=5)


ROUND_TRIP = "/process/canny_t2"


@dataclass
class PageNode:
    node: Node
    name: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.node.config.control.http_port}/"

    def value(self, key: str) -> Any:
        return self.node.params.get(key)

    def model(self) -> str:
        assert self.node.commands is not None
        return self.node.commands.status().model


def start_page_node(folder: Path, name: str = "", *, network: bool = True) -> PageNode:
    """A node with its page, OSCQuery and zeroconf on 127.0.0.1 (as `pix2pix-node run
    --name NAME --osc-bind 127.0.0.1` would be); without `network`, its page alone."""
    folder.mkdir(parents=True, exist_ok=True)
    source = create_source(RIG_SOURCE, loop=True)
    source.open()
    settings = ControlSettings(
        bind="127.0.0.1",
        port=0,
        oscquery_port=free_port() if network else 0,
        zeroconf=network,
        name=name,
        http_bind="127.0.0.1",
        http_port=free_port(),
    )
    node = Node(
        NodeConfig(sinks=["null"], control=settings),
        StartState(dict(DEFAULTS), "small"),
        library=model_library(folder),
        presets=PresetLibrary(folder / "presets", [SHIPPED_PRESETS]),
        source=source,
        surfaces=Surfaces(last_state=False),
    )
    try:
        node.start()
    except BaseException:
        node.stop()
        source.close()
        raise
    return PageNode(node, name)


def stop_page_node(page_node: PageNode) -> None:
    page_node.node.stop()
    page_node.node.source.close()
