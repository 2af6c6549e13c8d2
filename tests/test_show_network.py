"""The show network: zeroconf browsing on 127.0.0.1 (real python-zeroconf registrations, real
HTTP answers), the records, origins and status answers read from the network, bounded; the
preset recalled on every node. The three-node chain is tests/test_chain.py."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import zeroconf
from helpers import free_port, wait_for
from osc_helpers import running_rigs, send
from pythonosc.osc_message import OscMessage

from node.network.directory import DEAD_S, Directory, NetworkView, Peer, read_status
from node.network.origin import MAX_HOPS, Origin, captured_here, read_origin
from node.network.record import APP, NodeRecord, read_record

SERVICE = "_oscjson._tcp.local."
RUN = uuid.uuid4().hex[:4]  # in every name: other nodes on 127.0.0.1 may be listed too
STATUS = {"VALUE": [29.5, 12.0, "tone_painter_256", "synthetic", "ndi (1 connected)"]}


# -- records, origins, status answers -------------------------------------------------------


def test_a_record_says_what_a_peer_needs_and_reads_back() -> None:
    mine = NodeRecord(
        "stage left",
        "0123456789ab",
        True,
        oscquery_port=8001,
        osc_port=8000,
        http_port=8080,
        http_bind="127.0.0.1",
        prefix="/n1",
        ndi="left",
        ndi_port=5961,
        preview="/stream.mjpg",
    )
    txt = {k.encode(): v.encode() for k, v in mine.txt().items()}
    assert read_record(f"stage left.{SERVICE}", 8001, txt) == mine
    other = read_record(f"Chataigne.{SERVICE}", 42000, {b"txtvers": b"1"})
    assert not other.node and other.name == "Chataigne" and other.oscquery_port == 42000


def test_a_page_is_offered_only_where_it_can_be_reached() -> None:
    """A page on 127.0.0.1 is reachable from its own machine only; one on every network at
    the node's address; one on an address of its own there."""

    def page(bind: str, host: str) -> object:
        record = NodeRecord("n", "i", True, oscquery_port=1, http_port=8080, http_bind=bind)
        return Peer("n", record, [host], time.monotonic()).as_dict()["page"]

    assert page("127.0.0.1", "127.0.0.1") == "http://127.0.0.1:8080/"
    assert page("127.0.0.1", "192.0.2.77") == ""  # another machine's own page
    assert page("", "192.0.2.77") == "http://192.0.2.77:8080/"
    assert page("10.0.0.5", "192.0.2.77") == "http://10.0.0.5:8080/"


def test_a_hostile_record_is_read_bounded() -> None:
    many = {f"k{i}".encode(): b"x" * 300 for i in range(500)}
    hostile = {
        **{b"app": APP.encode(), b"name": b"\x1b[31mred\x00" + b"A" * 500, b"osc": b"99999"},
        b"http": b"-1",
        b"ndi_port": b"nan",
        b"prefix": b"/../../etc",
        b"preview": b"http://evil/",
        b"\xff\xfe": b"\xff" * 1000,
        **many,
    }
    record = read_record("x" * 300 + "." + SERVICE, 70000, hostile)
    assert record.node and record.name.startswith("[31mred") and len(record.name) <= 63
    assert (record.oscquery_port, record.osc_port, record.http_port, record.ndi_port) == (
        0,
        0,
        0,
        0,
    )
    assert record.prefix == "" and record.preview == ""
    assert read_record("", 1, {1: object(), b"app": None}).name == ""  # no exception


def test_an_origin_rides_ndi_metadata_and_garbage_is_no_origin() -> None:
    here = captured_here("A", 41, time.monotonic() - 0.5)
    assert 0.45 < here.age() < 1.0
    down = here.passed("B").passed("C")
    assert read_origin(down.xml()) == Origin("A", 41, round(here.t_wall, 6), ("B", "C"))
    for name in "DEFGHIJKLMN":
        down = down.passed(name)
    assert len(down.via) == MAX_HOPS and down.via[-1] == "N"
    for garbage in (
        None,
        "",
        "<pix2pix_origin/>",
        '<pix2pix_origin node="A" frame="-1" t="1"/>',
        '<pix2pix_origin node="A" frame="1" t="inf"/>',
        "<x>" * 10_000,
        b"<pix2pix_origin>",
    ):
        assert read_origin(garbage) is None


def test_a_status_answer_is_a_nodes_or_says_why() -> None:
    status, error = read_status(json.dumps(STATUS).encode())
    assert error == "" and status is not None and status.model == "tone_painter_256"
    assert status.fps == 29.5
    for body, why in (
        (b"\x00\xff garbage", "not JSON"),
        (b"[" * 5_000 + b"]" * 5_000, "not JSON"),  # (deep: a RecursionError)
        (json.dumps({"VALUE": [1, 2]}).encode(), "not a node's"),
        (json.dumps({"VALUE": ["1", 2, "m", "s", "k"]}).encode(), "not a node's"),
        (json.dumps({"error": "<b>a stranger's words</b>"}).encode(), "not a node's"),
        (b" " * 20_000, "over 16 kB"),
    ):
        status, error = read_status(body)
        assert status is None and why in error, (body[:20], error)


# -- peers on the network: a real zeroconf on 127.0.0.1, real HTTP ----------------------------


class Answer:
    """What a fake peer's OSCQuery port answers (the test changes it as it goes)."""

    def __init__(self) -> None:
        self.body = json.dumps(STATUS).encode()
        self.raw: bytes | None = None  # not HTTP at all


class FakePeer:
    """An HTTP server on 127.0.0.1 answering like a node's OSCQuery port, or not."""

    def __init__(self) -> None:
        self.answer = Answer()
        answer = self.answer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if answer.raw is not None:
                    self.wfile.write(answer.raw)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def zc() -> Iterator[zeroconf.Zeroconf]:
    instance = zeroconf.Zeroconf(interfaces=["127.0.0.1"])
    yield instance
    instance.close()


@pytest.fixture
def directory() -> Iterator[Directory]:
    found = Directory("127.0.0.1")
    found.start()
    assert found.started.wait(10) and not found.failure, found.failure
    yield found
    found.stop()


@pytest.fixture
def peers() -> Iterator[Callable[[], FakePeer]]:
    made: list[FakePeer] = []

    def make() -> FakePeer:
        made.append(FakePeer())
        return made[-1]

    yield make
    for peer in made:
        with contextlib.suppress(OSError):
            peer.close()


def advertise(
    zc: zeroconf.Zeroconf, label: str, port: int, txt: dict[bytes, bytes] | None = None
) -> zeroconf.ServiceInfo:
    """Register a `_oscjson._tcp` service (what a node's Advertiser does) and return it."""
    info = zeroconf.ServiceInfo(
        SERVICE,
        f"{label}.{SERVICE}",
        addresses=[socket.inet_aton("127.0.0.1")],
        port=port,
        properties=txt if txt is not None else node_txt(label),
        server="fake.local.",
    )
    zc.register_service(info, allow_name_change=True)
    return info


def node_txt(name: str, **more: str) -> dict[bytes, bytes]:
    fields = {"app": APP, "name": name, "id": f"id-{name}"[:12], "osc": "9", **more}
    return {k.encode(): v.encode() for k, v in fields.items()}


def listed(directory: Directory, name: str) -> list[dict[str, object]]:
    return [p.as_dict() for p in directory.peers() if p.record.name == name]


def test_a_new_node_is_listed_within_3_s_with_what_it_runs(
    zc: zeroconf.Zeroconf, directory: Directory, peers: Callable[[], FakePeer]
) -> None:
    peer = peers()
    advertise(zc, f"stage left {RUN}", peer.port)
    registered = time.monotonic()
    wait_for(lambda: bool(listed(directory, f"stage left {RUN}")), timeout=3)
    took = time.monotonic() - registered
    wait_for(lambda: listed(directory, f"stage left {RUN}")[0]["model"] != "", timeout=3)
    entry = listed(directory, f"stage left {RUN}")[0]
    assert entry["host"] == "127.0.0.1" and entry["oscquery_port"] == peer.port
    assert (entry["model"], entry["fps"]) == ("tone_painter_256", 29.5)
    assert entry["source"] == "synthetic"
    assert entry["error"] == "" and took < 3


def test_garbage_answers_are_listed_with_why_and_hurt_nothing(
    zc: zeroconf.Zeroconf, directory: Directory, peers: Callable[[], FakePeer]
) -> None:
    good, junk, raw = peers(), peers(), peers()
    junk.answer.body = b"\x00\x01 not json at all" * 100
    raw.answer.raw = b"SSH-2.0-OpenSSH\r\n" + b"\xff" * 5000
    good_name, junk_name, raw_name = (f"{n} {RUN}" for n in ("good", "junk", "raw"))
    advertise(zc, good_name, good.port)
    advertise(zc, junk_name, junk.port)
    advertise(zc, raw_name, raw.port)
    wait_for(lambda: all(listed(directory, n) for n in (good_name, junk_name, raw_name)), 10)
    wait_for(lambda: "not JSON" in str(listed(directory, junk_name)[0]["error"]), timeout=5)
    wait_for(lambda: "not HTTP" in str(listed(directory, raw_name)[0]["error"]), timeout=5)
    wait_for(lambda: listed(directory, good_name)[0]["model"] == "tone_painter_256", timeout=5)
    assert listed(directory, good_name)[0]["error"] == ""


def test_a_huge_txt_and_another_oscquery_device_are_listed_bounded(
    zc: zeroconf.Zeroconf, directory: Directory, peers: Callable[[], FakePeer]
) -> None:
    peer = peers()
    huge = node_txt(f"\x07bell{RUN}" + "N" * 60)
    huge.update({f"x{i}".encode(): b"v" * 250 for i in range(30)})  # ~8 kB of TXT
    advertise(zc, "huge", peer.port, huge)
    advertise(zc, f"Chataigne {RUN}", peer.port, {b"txtvers": b"1"})
    mine = (f"bell{RUN}" + "N" * 55, f"Chataigne {RUN}")  # (other tests' nodes may share 127.0.0.1)
    wait_for(lambda: all(listed(directory, name) for name in mine), timeout=10)
    names = {p.record.name: p for p in directory.peers()}
    assert names[mine[0]].record.node  # control character gone, clipped to 63
    assert not names[mine[1]].record.node
    assert mine[1] not in [p.record.name for p in directory.peers(nodes_only=True)]


def test_two_nodes_claiming_one_name_are_both_listed_with_an_error(
    zc: zeroconf.Zeroconf, directory: Directory, peers: Callable[[], FakePeer]
) -> None:
    first, second = peers(), peers()
    twin = f"twin {RUN}"
    advertise(zc, twin, first.port, node_txt(twin, id=f"a{RUN}"))
    wait_for(lambda: bool(directory.find(twin)), timeout=5)
    advertise(zc, twin + "-2", second.port, node_txt(twin.upper(), id=f"b{RUN}"))
    wait_for(lambda: len(directory.find(twin)) == 2, timeout=5)  # (case aside)
    both = directory.find(twin)
    assert both[0].record.oscquery_port == first.port  # the longest-known one is taken
    assert all("is also" in p.error for p in both)


@pytest.mark.slow
def test_a_dead_node_is_gone_within_10_s_and_a_clean_leave_at_once(
    zc: zeroconf.Zeroconf, directory: Directory, peers: Callable[[], FakePeer]
) -> None:
    crashed, leaving = peers(), peers()
    gone, leaves = f"crashed {RUN}", f"leaving {RUN}"
    advertise(zc, gone, crashed.port)
    info = advertise(zc, leaves, leaving.port)
    wait_for(lambda: bool(listed(directory, gone) and listed(directory, leaves)), 5)
    wait_for(lambda: listed(directory, gone)[0]["model"] != "", timeout=5)
    crashed.close()  # no zeroconf goodbye: its record stays in every cache for minutes
    died = time.monotonic()
    zc.unregister_service(info)  # a node that stops says goodbye
    wait_for(lambda: not listed(directory, leaves), timeout=3)
    wait_for(lambda: not listed(directory, gone), timeout=10)
    assert DEAD_S <= time.monotonic() - died + 1.0 < 10


@pytest.mark.slow
def test_a_full_table_forgets_the_long_dead_for_a_new_node(
    zc: zeroconf.Zeroconf, peers: Callable[[], FakePeer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flood of services that stop answering must not keep the next real node out while
    their records linger in zeroconf's cache (an hour)."""
    import node.network.directory as directory_module

    monkeypatch.setattr(directory_module, "MAX_PEERS", 2)
    monkeypatch.setattr(directory_module, "FORGET_S", 1.0)
    directory = Directory("127.0.0.1")
    directory.start()
    try:
        flood = [peers(), peers()]
        for k, fake in enumerate(flood):
            advertise(zc, f"flood{k} {RUN}", fake.port)
        wait_for(lambda: len(directory.peers()) >= 2, timeout=10)
        for fake in flood:
            fake.close()
        wait_for(lambda: not directory.peers(), timeout=10)
        time.sleep(1.5)
        real = peers()
        advertise(zc, f"real {RUN}", real.port)
        wait_for(lambda: bool(listed(directory, f"real {RUN}")), timeout=5)
    finally:
        directory.stop()


# -- one recall, every node ------------------------------------------------------------------


class OscInbox:
    """A UDP socket standing in for a peer's OSC port."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]

    def next(self) -> OscMessage:
        return OscMessage(self.sock.recv(65536))


def test_network_recall_recalls_here_and_on_every_listed_node(
    tmp_path: Path, zc: zeroconf.Zeroconf, peers: Callable[[], FakePeer]
) -> None:
    """A preset saved on this node, recalled here and sent to two listed nodes (one with a
    prefix), quantised to the bar when the node's tempo.quant says so."""
    left, right = OscInbox(), OscInbox()
    status = peers()
    names = {f"left {RUN}", f"right {RUN}"}
    advertise(zc, f"left {RUN}", status.port, node_txt(f"left {RUN}", osc=str(left.port)))
    txt = node_txt(f"right {RUN}", osc=str(right.port), prefix="/n2")
    advertise(zc, f"right {RUN}", status.port, txt)
    with running_rigs(tmp_path) as make:
        rig = make(oscquery_port=free_port(), zeroconf=True, name="here")
        network = rig.commands.network
        assert isinstance(network, NetworkView)
        wait_for(lambda: names <= {p.record.name for p in network.peers()}, 10)
        rig.commands.set_values({"process.canny_t1": 33}, origin="test")
        rig.commands.preset_save("show")
        rig.commands.set_values({"process.canny_t1": 90}, origin="test")
        send(rig, "/network/recall", "show")
        got = left.next()
        assert (got.address, got.params) == ("/node/preset/recall", ["show"])
        got = right.next()
        assert (got.address, got.params) == ("/n2/node/preset/recall", ["show"])
        wait_for(lambda: rig.params.get("process.canny_t1") == 33, timeout=5)
        rig.commands.set_values({"tempo.quant": "bar"}, origin="test")
        send(rig, "/network/recall", "show")
        assert left.next().address == "/quant/bar/node/preset/recall"
        rig.inbox.clear()
        send(rig, "/network/nodes")
        nodes = rig.inbox.wait("/network/nodes")
        assert nodes[0] == len(nodes) - 1 and names <= set(nodes[1:])
