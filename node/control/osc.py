"""The OSC server: UDP and TCP on the same port number (8000 by default, TouchOSC's outgoing
port), one thread for UDP, one per TCP connection; every packet goes to the OscRouter.

TCP framing: OSC 1.0 (a 4-byte big-endian length before each packet) is the default - it is
what liblo's `osc.tcp://` and python-osc's TCP client send; OSC 1.1 SLIP framing is recognised
by its leading END byte (0xC0). Each connection is answered in the framing it uses, and while
open it receives all feedback (a TCP client is subscribed by connecting).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from pythonosc import slip

from node.control.feedback import FeedbackHub, Peer, build_packet
from node.control.router import MAX_PACKET, OscRouter
from node.errors import UserError
from node.support.ratelimit import LogLimiter

log = logging.getLogger(__name__)
limited = LogLimiter(log)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_TCP_CONNECTIONS = 16
POLL = 0.2  # seconds a blocked read waits before checking for stop
ANY_PORT_TRIES = 20  # --osc-port 0: UDP ports tried until TCP takes the same number
TCP_QUEUE = 2000  # packets waiting for one TCP client; beyond that the oldest are dropped


def parse_allow(text: str | Sequence[str]) -> list[Network]:
    """'192.168.1.0/24,127.0.0.1' -> networks; a bad entry is a UserError naming it."""
    items = text.split(",") if isinstance(text, str) else list(text)
    networks: list[Network] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise UserError(f"--osc-allow: {item!r} is not an IP address or CIDR range") from None
    return networks


def host_allowed(networks: Sequence[Network], host: str) -> bool:
    """Is `host` in one of the `--osc-allow` ranges (no ranges: everyone is)?"""
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in net for net in networks)


class OscServer:
    """Binds UDP and TCP at `start` (a taken port is a UserError) and serves until `stop`."""

    def __init__(
        self,
        router: OscRouter,
        feedback: FeedbackHub,
        *,
        bind: str = "0.0.0.0",
        port: int = 8000,
        allow: Sequence[Network] = (),
    ) -> None:
        self.router = router
        self.feedback = feedback
        self.bind = bind
        self.port = port
        self.allow = list(allow)
        self.refused = 0
        self._stop = threading.Event()
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._connections: set[TcpConnection] = set()
        self._lock = threading.Lock()

    def allowed(self, host: str) -> bool:
        return host_allowed(self.allow, host)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Bind and serve; the feedback hub sends from the UDP socket (replies come from the
        port clients send to)."""
        # Port 0 (any): the UDP port the system picks may be taken for TCP; try a few.
        tries = ANY_PORT_TRIES if self.port == 0 else 1
        for attempt in range(tries):
            try:
                udp, tcp = self._bind_pair(self.port)
                break
            except OSError as exc:
                if attempt + 1 < tries:
                    continue
                raise UserError(
                    f"cannot listen for OSC on {self.bind}:{self.port} ({exc.strerror or exc}); "
                    "is another node running? choose another port with --osc-port"
                ) from None
        self.port = udp.getsockname()[1]
        udp.settimeout(POLL)
        tcp.settimeout(POLL)
        self._udp, self._tcp = udp, tcp
        self.feedback.start(udp)
        self._threads = [
            threading.Thread(target=self._serve_udp, name="osc udp", daemon=True),
            threading.Thread(target=self._serve_tcp, name="osc tcp", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        log.info(
            "OSC on %s:%d (UDP and TCP)%s",
            self.bind,
            self.port,
            f", prefix {self.router.prefix}" if self.router.prefix else "",
        )

    def _bind_pair(self, port: int) -> tuple[socket.socket, socket.socket]:
        """UDP and TCP bound to one port number (`port` 0: the one the system gives UDP)."""
        family = socket.AF_INET6 if ":" in self.bind else socket.AF_INET
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart while in TIME_WAIT
        try:
            udp.bind((self.bind, port))
            tcp.bind((self.bind, udp.getsockname()[1]))
            tcp.listen(8)
        except OSError:
            udp.close()
            tcp.close()
            raise
        return udp, tcp

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close()
        for thread in self._threads:
            thread.join(2.0)
        for sock in (self._udp, self._tcp):
            if sock is not None:
                sock.close()

    # -- UDP -------------------------------------------------------------------------------

    def _serve_udp(self) -> None:
        assert self._udp is not None
        while not self._stop.is_set():
            try:
                data, address = self._udp.recvfrom(MAX_PACKET + 1)
            except TimeoutError:
                continue
            except OSError as exc:  # e.g. ICMP port unreachable from a feedback send
                if self._stop.is_set():
                    return
                limited.warning("udp recv", "OSC UDP receive failed: %s", exc)
                continue
            host, port = address[0], address[1]
            if not self.allowed(host):
                self.refused += 1
                limited.warning(f"refused {host}", "OSC from %s refused: not in --osc-allow", host)
                continue
            peer = Peer("udp", host, port)
            self.router.handle_packet(data, peer)

    # -- TCP -------------------------------------------------------------------------------

    def _serve_tcp(self) -> None:
        assert self._tcp is not None
        while not self._stop.is_set():
            try:
                sock, address = self._tcp.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                if self._stop.is_set():
                    return
                # out of descriptors (EMFILE): wait, do not spin on a listener that stays ready
                limited.warning("tcp accept", "OSC TCP: accept failed: %s", exc)
                self._stop.wait(0.1)
                continue
            host, port = address[0], address[1]
            if not self.allowed(host):
                self.refused += 1
                limited.warning(f"refused {host}", "OSC from %s refused: not in --osc-allow", host)
                sock.close()
                continue
            with self._lock:
                full = len(self._connections) >= MAX_TCP_CONNECTIONS
            if full:
                limited.warning(
                    "tcp full",
                    "OSC TCP: %d connections open; refusing %s",
                    MAX_TCP_CONNECTIONS,
                    host,
                )
                sock.close()
                continue
            connection = TcpConnection(
                sock,
                host,
                port,
                router=self.router,
                feedback=self.feedback,
                stopping=self._stop,
                on_closed=self._closed,
            )
            with self._lock:
                self._connections.add(connection)
            threading.Thread(
                target=connection.serve, name=f"osc tcp {host}:{port}", daemon=True
            ).start()

    def _closed(self, connection: TcpConnection) -> None:
        with self._lock:
            self._connections.discard(connection)


def _length_prefixed(packet: bytes) -> bytes:
    return len(packet).to_bytes(4, "big") + packet


class TcpConnection:
    """One TCP client: reads framed packets, and is a feedback target while it is open.

    Sending only queues (bounded, oldest dropped); the connection's own writer thread does the
    blocking writes, so a client that stops reading delays nobody else. If its socket stays
    full for POLL seconds, the connection is closed: a stalled client loses its connection,
    not the node's time."""

    typed_bools = False

    def __init__(
        self,
        sock: socket.socket,
        host: str,
        port: int,
        *,
        router: OscRouter,
        feedback: FeedbackHub,
        stopping: threading.Event,
        on_closed: Callable[[TcpConnection], None],
    ) -> None:
        self._sock = sock
        self._router, self._feedback = router, feedback
        self._stopping = stopping  # the server's: set when it stops
        self._on_closed = on_closed
        self.host = host
        self.key = self.owner = f"tcp {host}:{port}"
        self.peer = Peer("tcp", host, port, stream=self)
        self.frames = TcpDeframer()
        self._outbox: deque[bytes] = deque(maxlen=TCP_QUEUE)
        self._wake = threading.Condition()
        self._closed = threading.Event()
        sock.settimeout(POLL)

    def wants(self, address: str) -> bool:
        return True

    def send(self, packet: bytes) -> None:
        if self._closed.is_set():
            return
        with self._wake:
            self._outbox.append(packet)
            self._wake.notify()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        with self._wake:
            self._wake.notify()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def _write(self) -> None:
        while not self._closed.is_set():
            with self._wake:
                if not self._outbox:
                    self._wake.wait(POLL)
                packets = list(self._outbox)
                self._outbox.clear()
            for packet in packets:
                framed = slip.encode(packet) if self.frames.slip else _length_prefixed(packet)
                try:
                    self._sock.sendall(framed)
                except OSError as exc:  # timed out (not reading) or gone
                    limited.warning(
                        f"tcp send {self.host}", "OSC TCP %s: %s; closing", self.key, exc
                    )
                    self.close()
                    return

    def serve(self) -> None:
        feedback, router = self._feedback, self._router
        feedback.add_stream(self)
        writer = threading.Thread(target=self._write, name=f"osc tcp out {self.key}", daemon=True)
        writer.start()
        try:
            while not self._closed.is_set() and not self._stopping.is_set():
                try:
                    chunk = self._sock.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                for packet in self.frames.feed(chunk):
                    router.handle_packet(packet, self.peer)
        except FramingError as exc:
            # keyed by host: a client that reconnects for every packet is one line per 10 s
            limited.warning(f"framing {self.host}", "OSC TCP %s: %s; closing", self.key, exc)
            self.send(build_packet(feedback.address("/node/error"), ["", str(exc)]))
            time.sleep(POLL)  # let the writer say why before the connection closes
        finally:
            feedback.remove_stream(self)
            self._on_closed(self)
            self.close()
            writer.join(POLL * 2)
            self._sock.close()


class FramingError(Exception):
    """A TCP stream that cannot be read as OSC frames; the connection is closed."""


class TcpDeframer:
    """Splits one TCP byte stream into OSC packets, in bounded memory and linear time.

    OSC 1.0 (a 4-byte big-endian length before each packet) unless the stream's first byte is
    SLIP's END (OSC 1.1). A length over MAX_PACKET, a bad SLIP escape or an unterminated SLIP
    frame over twice MAX_PACKET is a FramingError: the stream cannot be resynchronised."""

    def __init__(self) -> None:
        self.slip: bool | None = None  # unknown until the first byte: OSC 1.0 until then
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        """The packets completed by `chunk` (possibly none), in order."""
        if not chunk:
            return []
        if self.slip is None:
            self.slip = chunk[0] == slip.END[0]
        self._buffer += chunk
        return self._slip_packets() if self.slip else self._length_packets()

    def _slip_packets(self) -> list[bytes]:
        buffer, packets = self._buffer, []
        start = 0
        while (end := buffer.find(slip.END, start)) >= 0:
            frame = bytes(buffer[start:end])
            start = end + 1
            if frame:
                try:
                    packet = slip.decode(slip.END + frame + slip.END)
                except slip.ProtocolError:
                    raise FramingError("bad SLIP escape sequence") from None
                if len(packet) > MAX_PACKET:  # as OSC 1.0 framing refuses the same size
                    raise FramingError(f"SLIP frame of {len(packet)} bytes; at most {MAX_PACKET}")
                packets.append(packet)
        del buffer[:start]
        if len(buffer) > MAX_PACKET * 2:
            raise FramingError(f"SLIP frame longer than {MAX_PACKET} bytes")
        return packets

    def _length_packets(self) -> list[bytes]:
        buffer, packets = self._buffer, []
        start = 0
        while len(buffer) - start >= 4:
            size = int.from_bytes(buffer[start : start + 4], "big")
            if size > MAX_PACKET:
                raise FramingError(f"length prefix {size} > {MAX_PACKET}: not OSC 1.0 framing")
            if len(buffer) - start < 4 + size:
                break
            packets.append(bytes(buffer[start + 4 : start + 4 + size]))
            start += 4 + size
        del buffer[:start]
        return packets
