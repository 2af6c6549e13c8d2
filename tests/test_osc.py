"""The OSC surface over real sockets on 127.0.0.1: parameters, /norm, bundles, commands,
feedback, TCP framings, refusals. Clients are python-osc's."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")

from helpers import wait_for
from osc_helpers import RIG_SOURCE, ROUND_TRIP, Inbox, Rig, round_trip, send
from pythonosc import slip
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient

from node.control.feedback import build_packet
from node.state.params import DEFAULTS, PARAMS, SPECS


def settled(rig: Rig, key: str, value: object) -> None:
    wait_for(lambda: rig.params.get(key) == value, timeout=5)


# -- parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "sent", "stored"),
    [
        ("process.canny_t1", 40, 40),  # int as int (Max)
        ("process.canny_t1", 40.6, 41),  # int from a float (TouchOSC)
        ("process.canny_t1", "12", 12),  # a number as a string
        ("process.accum_w1", 1, 1.0),  # float from an int
        ("process.accum_w1", 0.25, 0.25),
        ("process.canny", False, False),  # T/F type tags
        ("capture.flip_v", True, True),
        ("capture.flip_h", 0, False),  # 0/1 ints
        ("capture.flip_h", 1.0, True),  # 0.0/1.0 floats
        ("process.invert", "true", True),  # the strings
        ("process.canny_t2", 9999, 500),  # out of range: clamped
        ("process.adaptive_thresh_c", -1e9, -50),
        ("process.stable_motion", 8, 8),  # the stabilisation rows like any other
        ("process.stable_grow", 99.0, 32),
    ],
)
def test_every_param_type_is_accepted(rig: Rig, key: str, sent: object, stored: object) -> None:
    send(rig, SPECS[key].address, sent)
    settled(rig, key, stored)
    assert type(rig.params.get(key)) is type(stored)


def test_norm_scales_a_fader_onto_the_range(rig: Rig) -> None:
    send(rig, "/process/canny_t2/norm", 0.5)
    settled(rig, "process.canny_t2", 250)
    send(rig, "/process/adaptive_thresh_c/norm", 0.0)
    settled(rig, "process.adaptive_thresh_c", -50)
    send(rig, "/predict/post_time_lerp/norm", 7.0)  # beyond the fader: clamped
    settled(rig, "predict.post_time_lerp", 1.0)
    send(rig, "/process/canny/norm", 0.2)
    settled(rig, "process.canny", False)
    send(rig, "/process/stable_motion/norm", 1.0)
    settled(rig, "process.stable_motion", 255)


def test_a_bundle_lands_in_one_parameter_update(rig: Rig) -> None:
    versions: list[int] = []
    rig.params.add_listener(
        lambda spec, value, origin: versions.append(rig.params.snapshot().version)
    )
    bundle = OscBundleBuilder(IMMEDIATELY)
    for address, value in [
        ("/process/canny_t1", 33),
        ("/process/canny_t2", 99),
        ("/process/invert", True),
    ]:
        message = OscMessageBuilder(address)
        message.add_arg(value)
        bundle.add_content(message.build())
    rig.client().send(bundle.build())
    settled(rig, "process.invert", True)
    assert rig.params.get("process.canny_t1") == 33 and rig.params.get("process.canny_t2") == 99
    assert len(set(versions)) == 1, "the three changes came in more than one update"


def test_reset_in_a_bundle_applies_in_order(rig: Rig) -> None:
    send(rig, "/process/pre_blur", 9)
    settled(rig, "process.pre_blur", 9)
    bundle = OscBundleBuilder(IMMEDIATELY)
    bundle.add_content(OscMessageBuilder("/node/reset").build())
    message = OscMessageBuilder("/process/canny_t1")
    message.add_arg(77)
    bundle.add_content(message.build())
    rig.client().send(bundle.build())
    settled(rig, "process.canny_t1", 77)
    assert rig.params.get("process.pre_blur") == 0


# -- feedback --------------------------------------------------------------------------------


def test_changes_are_fed_back_to_the_last_sender_but_never_echoed(rig: Rig) -> None:
    send(rig, "/process/canny_t1", 40)  # exactly what is stored: no echo on that address
    settled(rig, "process.canny_t1", 40)
    assert rig.inbox.wait("/process/canny_t1/norm") == [pytest.approx(40 / 500)]
    send(rig, "/process/canny_t2", 9999)  # clamped: the sender is told the true value
    assert rig.inbox.wait("/process/canny_t2") == [500]
    rig.params.set("process.pre_blur", 3, origin="preset")  # a change from elsewhere
    assert rig.inbox.wait("/process/pre_blur") == [3]
    rig.params.set("capture.flip_h", False, origin="preset")
    assert rig.inbox.wait("/capture/flip_h") == [0]  # bools as 0/1 for TouchOSC and Max
    round_trip(rig)
    assert rig.inbox.all("/process/canny_t1") == []


@pytest.mark.slow
def test_a_subscriber_gets_every_value_then_every_change_and_heartbeats(rig: Rig) -> None:
    other = Inbox()
    try:
        send(rig, "/node/subscribe", other.port)
        for spec in PARAMS:  # (floats as OSC's 32-bit: 0.01 comes back as 0.0099999998)
            got = other.wait(spec.address)[0]
            assert got == (pytest.approx(spec.default) if spec.type == "float" else spec.default)
        assert other.wait("/node/model") == ["small"]
        send(rig, "/process/canny_t1/norm", 0.1)
        assert other.wait("/process/canny_t1", lambda a: a == [50]) == [50]
        fps, latency = other.wait("/node/heartbeat", timeout=3)
        assert fps > 0.0 and latency > 0.0  # the rig's node makes frames
        send(rig, "/node/unsubscribe", other.port)
        wait_for(lambda: rig.service.feedback.subscribers() == [])
        other.clear()
        rig.params.set("process.pre_blur", 4)  # goes to the last sender, not to `other`
        assert rig.inbox.wait("/process/pre_blur", lambda a: a == [4]) == [4]
        assert other.all("/process/pre_blur") == []
    finally:
        other.close()


@pytest.mark.slow
def test_two_nodes_feeding_each_other_do_not_loop(rig_factory: Callable[..., Rig]) -> None:
    a, b = rig_factory(), rig_factory()
    # each node subscribes the other: a change on one is sent to the other, which stores it
    # (no change on the way back: the loop ends after one hop)
    a.client().send_message("/node/subscribe", [b.port])
    b.client().send_message("/node/subscribe", [a.port])
    wait_for(lambda: bool(a.service.feedback.subscribers() and b.service.feedback.subscribers()))
    time.sleep(0.5)  # the subscription dumps settle
    sent_before = a.service.feedback.sent + b.service.feedback.sent
    start = time.monotonic()
    a.params.set("process.canny_t1", 123)
    settled(b, "process.canny_t1", 123)
    time.sleep(0.5)
    sent = a.service.feedback.sent + b.service.feedback.sent - sent_before
    # besides the change: each node's heartbeat (1 a second) and beat (/tempo/beat and
    # /tempo/phase twice a second at 120 BPM) to the other
    periodic = 2 * (1 + 2 * 2) * (time.monotonic() - start + 1)
    assert sent < 20 + periodic, f"{sent} packets for one change: feedback is looping"


# -- commands --------------------------------------------------------------------------------


def test_get_status_models_and_dump_answer_the_sender(rig: Rig) -> None:
    send(rig, "/node/get", "/process/canny_t2")
    assert rig.inbox.wait("/process/canny_t2") == [10]
    send(rig, "/node/get", "/process/canny_t2/norm")
    assert rig.inbox.wait("/process/canny_t2/norm") == [pytest.approx(10 / 500)]
    send(rig, "/node/models")
    assert rig.inbox.wait("/node/models") == [3, "bad", "other", "small"]
    send(rig, "/node/status")
    _, _, model, source, sinks = rig.inbox.wait("/node/status")
    assert (model, source, sinks) == ("small", RIG_SOURCE, "null")
    send(rig, "/node/dump")
    for spec in PARAMS:  # (all of them: the burst is paced, so a UDP reader loses none)
        if spec.type == "text":
            assert rig.inbox.wait(spec.address) == [spec.default]
        else:
            assert rig.inbox.wait(spec.address + "/norm")[0] == pytest.approx(
                spec.to_norm(spec.default)
            )


def test_model_swap_reports_loading_then_ready_or_error(rig: Rig) -> None:
    send(rig, "/node/model", "other")
    assert rig.inbox.wait("/node/model/state", lambda a: a[0] == "loading") == ["loading", "other"]
    assert rig.inbox.wait("/node/model/state", lambda a: a[0] == "ready") == ["ready", "other"]
    assert rig.inbox.wait("/node/model") == ["other"]
    wait_for(lambda: len(rig.installed) == 1)
    send(rig, "/node/model", 0)  # by index: "bad"
    state = rig.inbox.wait("/node/model/state", lambda a: a[0] == "error")
    assert state[1] == "bad" and "bad.onnx" in state[2]
    assert len(rig.installed) == 1  # the failed model changed nothing
    send(rig, "/node/model", "../../etc/passwd")
    reason = rig.inbox.wait("/node/error", lambda a: a[0] == "/node/model")[1]
    assert "not a plain name" in reason


def test_the_swap_state_goes_to_its_new_address_and_its_old_one(rig: Rig) -> None:
    """OSCQuery moved the state to /node/model_state (a method is a leaf there); listeners of
    /node/model/state, its address before, hear the same messages."""
    send(rig, "/node/model", "other")
    for address in ("/node/model_state", "/node/model/state"):
        assert rig.inbox.wait(address, lambda a: a[0] == "loading") == ["loading", "other"]
        assert rig.inbox.wait(address, lambda a: a[0] == "ready") == ["ready", "other"]
    assert rig.inbox.wait("/node/model") == ["other"]  # (sent after the states)
    rig.inbox.clear()
    send(rig, "/node/model")  # no argument: which model runs, and how the last swap went
    assert rig.inbox.wait("/node/model") == ["other"]
    assert rig.inbox.wait("/node/model_state") == ["ready", "other"]
    assert rig.inbox.wait("/node/model/state") == ["ready", "other"]
    for address in ("/node/model/state", "/node/model_state", "/node/canvas", "/node/model"):
        send(rig, "/node/get", address)  # every readable /node address answers a get
    round_trip(rig)
    assert rig.inbox.all("/node/model_state") == [["ready", "other"]] * 2
    assert rig.inbox.all("/node/model/state") == [["ready", "other"]] * 2
    assert rig.inbox.wait("/node/canvas") == [rig.commands.canvas()[0]]
    assert rig.inbox.all("/node/model") == [["other"]] * 2
    assert rig.inbox.all("/node/error") == []


@pytest.mark.parametrize(
    ("address", "args", "reason"),
    [
        ("/nope", [1], "unknown address"),
        ("/process/canny_t1", [], "expects one value"),
        ("/process/canny_t1", [1, 2], "expects one value"),
        ("/process/canny_t1", ["lots"], "expects int"),
        ("/process/canny_t1", [float("nan")], "finite"),
        ("/process/canny_t1", [float("inf")], "finite"),
        ("/process/canny", [7], "expects bool"),
        ("/process/canny_t1/norm", [b"blob"], "expects a number"),
        ("/node/subscribe", [70000], "port must be"),
        ("/node/subscribe", ["example.com", 9000], "IP address"),
        ("/node/preset/recall", ["x/../../y"], "not a plain name"),
        ("/node/preset/recall", ["warm"], "unknown preset 'warm'"),
        ("/node/preset/morph", ["dreamy", -2.0], "morph seconds must be"),
        ("/node/preset/morph", ["warm", "slow"], "seconds must be a number"),
        ("/node/get", ["/nothing/here"], "no value"),
    ],
)
def test_bad_messages_are_answered_on_node_error(
    rig: Rig, address: str, args: list[Any], reason: str
) -> None:
    before = rig.params.snapshot()
    send(rig, address, *args)
    got = rig.inbox.wait("/node/error")
    assert got[0] == address and reason in got[1], got
    assert dict(rig.params.snapshot()) == dict(before)


def test_the_nodes_own_feedback_addresses_are_never_answered(rig: Rig) -> None:
    replies: list[tuple[str, list[Any]]] = [
        ("/node/heartbeat", [1.0, 2.0]),
        ("/node/error", ["/x", "why"]),
        ("/node/model/state", ["ready", "small"]),
        ("/node/model_state", ["ready", "small"]),
        ("/node/status", [30.0, 20.0, "small", "synthetic", "null"]),
        ("/node/models", [0]),  # another node's reply to /node/models: no models
        ("/other/node/error", ["/x", "why"]),  # another node's errors, whatever its prefix
    ]
    for address, args in replies:
        send(rig, address, *args)
    wait_for(lambda: rig.service.router.ignored == len(replies))
    round_trip(rig)
    assert [address for address, _ in rig.inbox.messages] == [ROUND_TRIP]  # only the probe


def test_malformed_packets_are_answered_and_the_server_goes_on(rig: Rig) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for junk in (b"\x00\x01garbage", b"/x\x00\x00,i\x00\x00\x01", b"#bundle\x00\x01"):
            sock.sendto(junk, ("127.0.0.1", rig.port))
            assert "malformed" in rig.inbox.wait("/node/error", lambda a: "malformed" in a[1])[1]
            rig.inbox.clear()
    finally:
        sock.close()
    send(rig, "/process/canny_t1", 5)
    settled(rig, "process.canny_t1", 5)


NEGATIVE_ELEMENT = bytes.fromhex("2362756e646c65000000000000000000fffffffc61626364")
DEEP_ARRAY = b"/process/canny_t1\x00\x00\x00," + b"[" * 3000 + b"]" * 3000 + b"\x00\x00\x00"


def test_a_hostile_packet_is_answered_and_never_holds_the_control_plane(rig: Rig) -> None:
    """The 24-byte bundle whose element size is negative made python-osc loop for ever inside
    the router's lock: after it, no OSC message took effect. Now it is refused at once."""
    assert len(DEEP_ARRAY) % 4 == 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for n, packet in enumerate((NEGATIVE_ELEMENT, DEEP_ARRAY)):
            sock.sendto(packet, ("127.0.0.1", rig.port))
            error = rig.inbox.wait("/node/error", lambda a: "malformed" in a[1])
            assert "\n" not in error[1] and len(error[1]) <= 210
            rig.inbox.clear()
            send(rig, "/process/canny_t1", 40 + n)  # the next message still lands
            settled(rig, "process.canny_t1", 40 + n)
    with socket.create_connection(("127.0.0.1", rig.port), timeout=5) as tcp:
        tcp.sendall(len(NEGATIVE_ELEMENT).to_bytes(4, "big") + NEGATIVE_ELEMENT)
        packet = build_packet("/process/canny_t1", [77])
        tcp.sendall(len(packet).to_bytes(4, "big") + packet)
        settled(rig, "process.canny_t1", 77)
    assert rig.service.router.errors == 3


def test_a_preset_index_sent_as_a_huge_number_says_so(rig: Rig) -> None:
    builder = OscMessageBuilder("/node/preset/recall")
    builder.add_arg(1e300, "d")  # a double: Max can send one
    rig.client().send(builder.build())
    reason = rig.inbox.wait("/node/error")[1]
    assert "index" in reason and "longer than" not in reason


@pytest.mark.slow
def test_prefix_and_allow_list(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(prefix="node1")
    send(rig, "/node1/process/canny_t1", 21)
    settled(rig, "process.canny_t1", 21)
    send(rig, "/process/canny_t1", 22)  # another node's address: ignored, not an error
    send(rig, "/node1/node/get", "/node1/process/canny_t1")
    assert rig.inbox.wait("/node1/process/canny_t1") == [21]
    assert rig.params.get("process.canny_t1") == 21 and rig.inbox.all("/node1/node/error") == []

    closed = rig_factory(allow=["10.0.0.0/8"])
    send(closed, "/process/canny_t1", 99)
    wait_for(lambda: closed.service.osc.refused == 1)
    assert closed.params.get("process.canny_t1") == DEFAULTS["process.canny_t1"]


@pytest.mark.slow
def test_port_in_use_is_one_clear_error(rig: Rig, rig_factory: Callable[..., Rig]) -> None:
    from node.errors import UserError

    with pytest.raises(UserError, match=r"cannot listen for OSC .* --osc-port"):
        rig_factory(port=rig.port)


# -- TCP -------------------------------------------------------------------------------------


def _tcp_exchange(
    rig: Rig, frame: Callable[[bytes], bytes], unframe: Callable[[socket.socket], bytes]
) -> bytes:
    with socket.create_connection(("127.0.0.1", rig.port), timeout=5) as sock:
        sock.sendall(frame(build_packet("/process/canny_t1", [321])))
        settled(rig, "process.canny_t1", 321)
        sock.sendall(frame(build_packet("/node/get", ["/process/accum_w1"])))
        while True:  # feedback of the change may come first
            packet = unframe(sock)
            if packet.startswith(b"/process/accum_w1\x00"):
                return packet


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "connection closed"
        data += chunk
    return data


def test_tcp_with_osc10_length_prefix(rig: Rig) -> None:
    def unframe(sock: socket.socket) -> bytes:
        return _read_exact(sock, int.from_bytes(_read_exact(sock, 4), "big"))

    reply = _tcp_exchange(rig, lambda p: len(p).to_bytes(4, "big") + p, unframe)
    assert reply == build_packet("/process/accum_w1", [0.0])


def test_tcp_with_osc11_slip(rig: Rig) -> None:
    def unframe(sock: socket.socket) -> bytes:
        data = b""
        while True:
            byte = _read_exact(sock, 1)
            if byte == slip.END:
                if data:
                    return slip.decode(slip.END + data + slip.END)
                continue
            data += byte

    reply = _tcp_exchange(rig, slip.encode, unframe)
    assert reply == build_packet("/process/accum_w1", [0.0])


def test_a_tcp_stream_that_is_not_osc_is_closed_and_the_server_goes_on(rig: Rig) -> None:
    with socket.create_connection(("127.0.0.1", rig.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        sock.settimeout(5)
        data = b""
        while chunk := sock.recv(4096):  # the node answers once, then closes
            data += chunk
        assert b"/node/error" in data
    send(rig, "/process/canny_t1", 6)
    settled(rig, "process.canny_t1", 6)


def test_a_flood_of_changes_is_fed_back_newest_value_first_not_all(rig: Rig) -> None:
    other = Inbox()
    try:
        send(rig, "/node/subscribe", other.port)
        other.wait("/node/model")
        feedback = rig.service.feedback
        for k in range(2000):  # far faster than UDP feedback is useful
            rig.params.set("process.canny_t1", k % 500)
        rig.params.set("process.canny_t1", 321)
        assert other.wait("/process/canny_t1", lambda a: a == [321]) == [321]
        assert feedback.merged > 0  # older values were superseded, not queued
        assert len(other.all("/process/canny_t1")) < 2000
    finally:
        other.close()


@pytest.mark.slow
def test_an_echoing_bridge_cannot_start_a_loop(rig_factory: Callable[..., Rig]) -> None:
    """A bridge that sends every packet it receives straight back to the node."""
    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind(("127.0.0.1", 0))
    echo.settimeout(0.1)
    rig = rig_factory(feedback_port=echo.getsockname()[1])
    reflected = [0]
    stop = threading.Event()

    def reflect() -> None:
        while not stop.is_set():
            try:
                data, _ = echo.recvfrom(65536)
            except TimeoutError:
                continue
            reflected[0] += 1
            echo.sendto(data, ("127.0.0.1", rig.port))

    thread = threading.Thread(target=reflect, daemon=True)
    thread.start()
    try:
        client = SimpleUDPClient("127.0.0.1", rig.port)
        client._sock = echo  # send from the bridge's socket, so feedback goes to the bridge
        messages: list[tuple[str, list[Any]]] = [
            ("/process/canny_t2", [9999]),  # clamped: corrected value comes back
            ("/process/canny_t1/norm", [0.5]),
            ("/node/model", ["other"]),
            ("/node/model", ["none"]),
            ("/node/models", []),
            ("/node/status", []),
            ("/nope", [1]),  # an error comes back
            ("/node/dump", []),
        ]
        for address, args in messages:
            client.send_message(address, args)
        rig.swapper.wait(10)
        time.sleep(1.0)
        before = reflected[0]
        time.sleep(1.0)
        # what a quiet node sends a second: a heartbeat, and at 120 BPM two beats of two
        # messages (/tempo/beat, /tempo/phase); a loop is thousands
        periodic = 2 + 2 * 2
        assert reflected[0] - before <= periodic, f"{reflected[0] - before} packets/s: a loop"
        assert before > 10  # feedback did reach the bridge
    finally:
        stop.set()
        thread.join(2)
        echo.close()


@pytest.mark.slow
def test_two_nodes_wired_both_ways_through_feedback_ports(tmp_path: Path) -> None:
    """Each node's feedback port is the other's OSC port: a swap to 'none' or a model list
    request must die out."""
    from osc_helpers import running_rigs

    with running_rigs(tmp_path) as make:
        a = make()
        b = make(feedback_port=a.port)
        a.service.feedback.feedback_port = b.port
        a.client().send_message("/node/model", ["none"])  # a's feedback goes to b
        b.client().send_message("/node/models", [])
        a.client().send_message("/process/canny_t1", [7])
        wait_for(lambda: a.params.get("process.canny_t1") == 7)
        time.sleep(1.0)
        sent = a.service.feedback.sent + b.service.feedback.sent
        time.sleep(1.0)
        # heartbeats, and the beat (/tempo/beat, /tempo/phase: two beats a second each node)
        assert a.service.feedback.sent + b.service.feedback.sent - sent <= 4 + 2 * 2 * 2


@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        ({"prefix": "/node"}, "may not start with"),
        ({"prefix": "process/a"}, "may not start with"),
        ({"prefix": "a b"}, "may hold letters"),
        ({"port": 9555, "feedback_port": 9555}, "would feed itself"),
        ({"allow": ["10.0.0.0/33"]}, "not an IP address or CIDR"),
    ],
)
def test_settings_that_cannot_work_are_refused(
    rig_factory: Callable[..., Rig], settings: dict[str, Any], needle: str
) -> None:
    from node.errors import UserError

    with pytest.raises(UserError, match=needle):
        rig_factory(**settings)


def test_unsubscribe_without_arguments_drops_the_hosts_subscriptions(rig: Rig) -> None:
    send(rig, "/node/subscribe", 9)  # from one client socket...
    wait_for(lambda: len(rig.service.feedback.subscribers()) == 1)
    send(rig, "/node/unsubscribe")  # ...dropped from another (oscsend uses a new port each time)
    wait_for(lambda: rig.service.feedback.subscribers() == [])


@pytest.mark.slow
def test_a_stalled_tcp_client_delays_nobody(rig: Rig) -> None:
    send(rig, "/process/canny_t1", 2)  # the inbox's host is now the last sender
    settled(rig, "process.canny_t1", 2)
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", rig.port))
    try:
        request = build_packet("/node/dump", [])
        stalled.sendall((len(request).to_bytes(4, "big") + request) * 3000)  # never reads
        for k in range(1, 21):
            rig.params.set("process.pre_blur", k)
            wanted: list[Any] = [k]
            assert rig.inbox.wait("/process/pre_blur", wanted.__eq__, timeout=2) == wanted
        send(rig, "/process/canny_t1", 3)
        settled(rig, "process.canny_t1", 3)
    finally:
        stalled.close()


def test_feedback_survives_a_target_that_raises(rig: Rig) -> None:
    class Broken:
        key = owner = "broken"
        host = "?"
        typed_bools = False

        def wants(self, address: str) -> bool:
            return True

        def send(self, packet: bytes) -> None:
            raise RuntimeError("boom")

    send(rig, "/process/canny_t1", 2)  # the inbox's host is now the last sender
    settled(rig, "process.canny_t1", 2)
    rig.service.feedback.add_stream(Broken())
    rig.params.set("process.pre_blur", 5)
    rig.params.set("process.post_blur", 6)
    assert rig.inbox.wait("/process/post_blur") == [6]


def test_only_messages_for_this_node_move_the_feedback(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(prefix="/left")
    send(rig, "/left/process/canny_t1", 8)  # the inbox's host becomes the last sender
    settled(rig, "process.canny_t1", 8)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as elsewhere:
        elsewhere.bind(("127.0.0.2", 0))  # another host, talking to another node
        for packet in (
            build_packet("/right/process/canny_t1", [9]),
            build_packet("/node/heartbeat", [30.0, 20.0]),
        ):
            elsewhere.sendto(packet, ("127.0.0.1", rig.port))
        wait_for(lambda: rig.service.router.foreign == 1 and rig.service.router.ignored == 1)
    rig.params.set("process.pre_blur", 2)
    assert rig.inbox.wait("/left/process/pre_blur") == [2]


def test_presets_over_osc_save_recall_by_index_and_morph_with_feedback(rig: Rig) -> None:
    send(rig, "/process/canny_t1", 77)
    settled(rig, "process.canny_t1", 77)
    send(rig, "/node/preset/save", "stage look")
    wait_for(lambda: "stage look" in rig.commands.preset_names())
    send(rig, "/node/presets")
    count, *names = rig.inbox.wait("/node/presets")
    assert count == len(names) and "stage look" in names and "dreamy" in names
    send(rig, "/node/reset")
    settled(rig, "process.canny_t1", 1)
    send(rig, "/node/preset/recall", names.index("stage look"))  # pad N
    settled(rig, "process.canny_t1", 77)
    assert rig.inbox.wait("/process/canny_t1/norm", lambda a: a == [pytest.approx(0.154)])
    # The frame clock, held by the test: the rig's own frame loop ticks on it too, so it must
    # read the time the test steps to (a loop tick at the start time would step back to 77).
    held = [100.0]
    rig.commands.clock = lambda: held[0]
    send(rig, "/node/preset/morph", "canny_live", 1.0)
    wait_for(lambda: rig.commands.morpher.running)
    held[0] = 100.5
    rig.commands.tick(100.5)  # what the frame loop does each frame
    assert rig.params.get("process.canny_t1") == 39  # halfway from 77 to 1
    assert rig.inbox.wait("/process/canny_t1", lambda a: a == [39]) == [39]  # every step fed back
    rig.commands.tick(102.0)
    assert rig.params.get("process.canny_t1") == 1
