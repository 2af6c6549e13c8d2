"""The show network as this node sees it: every `_oscjson._tcp` service zeroconf finds, kept
alive by asking each one for its status once a second.

zeroconf (python-zeroconf, the engine Chataigne-style hosts use too) says when a service comes
and when it leaves cleanly; a node that is killed says nothing, and its record would linger for
minutes, so liveness comes from the answers: a peer that has not answered for DEAD_S is gone
from the list (and back as soon as it answers again or zeroconf sees it anew). A peer that
answers with garbage stays listed, with the error.

One directory per process (`shared_directory`), started on first use: the `node:NAME` source
opens before the control surfaces, and both look through the same one. Its work is bounded:
at most MAX_PEERS services, each poll one small HTTP request with a timeout and a capped read,
run by a few worker threads, never on zeroconf's own thread.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from node.network.record import NodeRecord, read_record
from node.support.logformat import clip
from node.support.ratelimit import LogLimiter

log = logging.getLogger(__name__)
limited = LogLimiter(log)

SERVICE = "_oscjson._tcp.local."
MAX_PEERS = 64  # services followed; more are ignored (said once)
POLL_S = 1.0  # how often each peer is asked for its status
ANSWER_S = 1.0  # how long one answer may take
DEAD_S = 5.0  # a peer silent this long is gone from the list
FORGET_S = 60.0  # and forgotten after this long when room is needed
MAX_ANSWER = 16 * 1024  # bytes of one status answer read
RESOLVE_S = 2.0  # how long resolving one service's record may take
ERROR_CHARS = 160


@dataclass(frozen=True)
class PeerStatus:
    """What a node answered last: its fps, latency, model, source and outputs."""

    fps: float = 0.0
    latency_ms: float = 0.0
    model: str = ""
    source: str = ""
    sinks: str = ""


@dataclass
class Peer:
    """One service on the network, as resolved and as last heard."""

    service: str  # the zeroconf instance name (unique on the network)
    record: NodeRecord
    addresses: list[str]
    found_at: float  # monotonic: when it was (last) resolved
    answered_at: float = 0.0  # monotonic: its last answer (0: none yet)
    status: PeerStatus = field(default_factory=PeerStatus)
    error: str = ""  # why its last answer was no good ('' : it was)
    host_index: int = 0  # the address asked (the next one after a failure)

    @property
    def host(self) -> str:
        return self.addresses[self.host_index % len(self.addresses)] if self.addresses else ""

    @property
    def page_host(self) -> str:
        """Where its page (and its stream) can be reached from here ('' : not from here - off,
        or listening on its own machine only while it runs on another)."""
        r = self.record
        if not r.http_port:
            return ""
        if not r.http_bind:
            return self.host
        if ipaddress.ip_address(r.http_bind).is_loopback:
            return r.http_bind if on_this_machine(self.host) else ""
        return r.http_bind

    def alive(self, now: float) -> bool:
        return now - max(self.answered_at, self.found_at) < DEAD_S

    def as_dict(self) -> dict[str, Any]:
        r = self.record
        page_host = self.page_host
        return {
            "name": r.name,
            "node": r.node,
            "instance": r.instance,
            "host": self.host,
            "osc_port": r.osc_port,
            "oscquery_port": r.oscquery_port,
            "http_port": r.http_port,
            "page": f"http://{_url_host(page_host)}:{r.http_port}/" if page_host else "",
            "prefix": r.prefix,
            "ndi": r.ndi,
            "model": self.status.model,
            "fps": round(self.status.fps, 1),
            "latency_ms": round(self.status.latency_ms, 1),
            "source": self.status.source,
            "sinks": self.status.sinks,
            "error": self.error,
        }


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@functools.cache
def _local_addresses() -> frozenset[str]:
    from node.control.discovery import local_addresses

    return frozenset(local_addresses("0.0.0.0"))


def on_this_machine(host: str) -> bool:
    """Whether `host` (an IP address) is this machine's."""
    try:
        if ipaddress.ip_address(host).is_loopback:
            return True
    except ValueError:
        return False
    return host in _local_addresses()


class Directory:
    """Browses `_oscjson._tcp` on the interfaces `bind` names and keeps the peer table."""

    def __init__(self, bind: str = "0.0.0.0") -> None:
        self.bind = bind
        self._peers: dict[str, Peer] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._to_resolve: set[str] = set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._zc: Any = None
        self._browser: Any = None
        self._thread = threading.Thread(target=self._run, name="show network", daemon=True)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="peer status")
        self.started = threading.Event()
        self.failure = ""  # why browsing could not start ('' : it runs)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(3)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._browser is not None:
            self._browser.cancel()
        if self._zc is not None:
            self._zc.close()

    # -- what the rest of the node reads ------------------------------------------------------

    def peers(self, nodes_only: bool = False) -> list[Peer]:
        """The services alive now, oldest first."""
        now = time.monotonic()
        with self._lock:
            listed = [replace(p) for p in self._peers.values() if p.alive(now)]
        listed.sort(key=lambda p: (p.found_at, p.service))
        claimed: dict[str, list[Peer]] = {}
        for peer in listed:
            if peer.record.node:
                claimed.setdefault(peer.record.name.casefold(), []).append(peer)
        for same in claimed.values():
            for peer in same if len(same) > 1 else ():
                others = ", ".join(f"{p.host}:{p.record.oscquery_port}" for p in same if p != peer)
                peer.error = peer.error or f"the name {peer.record.name!r} is also {others}'s"
        return [p for p in listed if p.record.node or not nodes_only]

    def find(self, name: str) -> list[Peer]:
        """The live nodes called `name` (case aside), the longest-known first."""
        wanted = name.casefold()
        return [p for p in self.peers(nodes_only=True) if p.record.name.casefold() == wanted]

    def wait_for(self, name: str, timeout: float, stop: threading.Event | None = None) -> Peer:
        """The node called `name`, waiting up to `timeout` for it; LookupError if none."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.find(name)
            if found:
                return found[0]
            left = deadline - time.monotonic()
            if left <= 0 or (stop is not None and stop.is_set()):
                names = ", ".join(p.record.name for p in self.peers(nodes_only=True)) or "none"
                why = f"; {self.failure}" if self.failure else ""
                raise LookupError(
                    f"no node named {name!r} on the network in {timeout:g} s (found: "
                    f"{clip(names, 300)}){why}"
                )
            with self._changed:
                self._changed.wait(min(left, 0.25))

    # -- zeroconf -----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            from zeroconf import ServiceBrowser

            from node.control.discovery import open_zeroconf

            self._zc = open_zeroconf(self.bind)
            self._browser = ServiceBrowser(self._zc, SERVICE, handlers=[self._on_change])
        except Exception as exc:  # no multicast here: nothing is found, the node runs
            self.failure = f"zeroconf browsing failed ({clip(str(exc), ERROR_CHARS)})"
            log.warning("%s; nodes on the network are not listed", self.failure)
            self.started.set()
            return
        self.started.set()
        while not self._stop.is_set():
            self._resolve_new()
            self._poll_all()
            self._wake.wait(POLL_S)
            self._wake.clear()

    def _on_change(self, zeroconf: Any, service_type: str, name: str, state_change: Any) -> None:
        """On zeroconf's thread: note it and return (resolving waits on the network)."""
        from zeroconf import ServiceStateChange

        with self._lock:
            if state_change is ServiceStateChange.Removed:
                if self._peers.pop(name, None) is not None:
                    self._changed.notify_all()
                self._to_resolve.discard(name)
            else:
                self._to_resolve.add(name)
        self._wake.set()

    def _resolve_new(self) -> None:
        from zeroconf import IPVersion, ServiceInfo

        with self._lock:
            names, self._to_resolve = list(self._to_resolve), set()
        for name in names:
            if self._stop.is_set():
                return
            with self._lock:
                if name not in self._peers and len(self._peers) >= MAX_PEERS:
                    self._forget_the_long_dead()
                if name not in self._peers and len(self._peers) >= MAX_PEERS:
                    limited.log(
                        logging.WARNING,
                        "too many",
                        "more than %d OSCQuery services on the network; the rest are not listed",
                        MAX_PEERS,
                    )
                    continue
            info = ServiceInfo(SERVICE, name)
            try:
                if not info.request(self._zc, RESOLVE_S * 1000):
                    continue
                record = read_record(name, info.port or 0, info.properties or {})
                addresses = info.parsed_addresses(IPVersion.V4Only)[:8]
            except Exception as exc:  # a record zeroconf itself could not take
                limited.log(logging.INFO, "resolve", "zeroconf: %s: %s", clip(name, 80), exc)
                continue
            if not record.oscquery_port or not addresses:
                continue
            with self._lock:
                old = self._peers.get(name)
                peer = Peer(name, record, addresses, time.monotonic())
                if old is not None and old.record == record and old.addresses == addresses:
                    peer.answered_at, peer.status, peer.error = (
                        old.answered_at,
                        old.status,
                        old.error,
                    )
                    peer.found_at = old.found_at
                self._peers[name] = peer
                self._changed.notify_all()

    def _forget_the_long_dead(self) -> None:
        """Make room (the table is full): drop what has not answered for FORGET_S. A crashed
        node's record lingers in zeroconf's cache for an hour; a flood of made-up services
        must not keep the next real node out for that long."""
        now = time.monotonic()
        for name, peer in list(self._peers.items()):
            if now - max(peer.answered_at, peer.found_at) > FORGET_S:
                del self._peers[name]

    # -- status polls ---------------------------------------------------------------------------

    def _poll_all(self) -> None:
        with self._lock:
            todo = [(name, replace(p)) for name, p in self._peers.items()]
        futures = [self._pool.submit(self._poll, name, peer) for name, peer in todo]
        for future in futures:
            try:
                future.result(timeout=ANSWER_S * 3)
            except Exception as exc:  # (a bug, not the peer's answer: those are caught inside)
                log.debug("peer poll failed: %s", exc)

    def _poll(self, name: str, peer: Peer) -> None:
        path = "/node/status?VALUE" if peer.record.node else "/?HOST_INFO"
        try:
            refused, body = fetch(peer.host, peer.record.oscquery_port, path)
        except OSError as exc:  # refused, timed out, reset: not answering
            with self._lock:
                current = self._peers.get(name)
                if current is not None:
                    current.host_index += 1
            log.debug("peer %s: %s", clip(name, 80), exc)
            return
        if refused:
            status, error = None, refused
        elif peer.record.node:
            status, error = read_status(body)
        else:
            status, error = PeerStatus(), _json_problem(body)
        with self._lock:
            current = self._peers.get(name)
            if current is None:
                return
            current.answered_at = time.monotonic()
            current.error = error
            if status is not None:
                current.status = status
            self._changed.notify_all()


def fetch(host: str, port: int, path: str) -> tuple[str, bytes]:
    """One GET, bounded in time and size: ('', the body) for an HTTP 200, (why not, b'') for
    another answer; OSError when nothing answers. (What a peer says is never echoed: a
    stranger's words do not reach the stage page.)"""
    connection = http.client.HTTPConnection(host, port, timeout=ANSWER_S)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        body = response.read(MAX_ANSWER + 1)
        if response.status != 200:
            return f"its OSCQuery port answers HTTP {response.status}", b""
        return "", body
    except (http.client.HTTPException, ValueError):  # answered, but not HTTP
        return "its OSCQuery port answers something that is not HTTP", b""
    except TimeoutError as exc:
        raise OSError("no answer in time") from exc
    finally:
        connection.close()


def _json_problem(body: bytes) -> str:
    """Why an answer is no JSON a client can read ('' : it is)."""
    if len(body) > MAX_ANSWER:
        return f"an answer over {MAX_ANSWER // 1024} kB"
    try:
        json.loads(body)
    except (ValueError, RecursionError):
        return "its OSCQuery port answers something that is not JSON"
    return ""


def read_status(body: bytes) -> tuple[PeerStatus | None, str]:
    """A node's `/node/status?VALUE` answer: ([fps, latency, model, source, sinks]); None and
    why when it is anything else."""
    error = _json_problem(body)
    if error:
        return None, error
    value = json.loads(body).get("VALUE") if body.startswith(b"{") else None
    ok = (
        isinstance(value, list)
        and len(value) == 5
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value[:2])
        and all(isinstance(v, str) for v in value[2:])
    )
    if not ok:
        return None, "its status is not a node's (fps, latency, model, source, sinks)"
    assert isinstance(value, list)
    fps, latency, model, source, sinks = value
    return (
        PeerStatus(
            float(fps),
            float(latency),
            clip(model, 80),
            clip(source, 200),
            clip(sinks, 300),
        ),
        "",
    )


@dataclass(frozen=True)
class NetworkView:
    """The show network as one node sees it: every service but its own (several nodes may
    share one process and its directory: a test, a benchmark)."""

    directory: Directory
    instance: str  # this node's instance id (its zeroconf record's `id`)

    def peers(self, nodes_only: bool = False) -> list[Peer]:
        return [p for p in self.directory.peers(nodes_only) if p.record.instance != self.instance]

    @property
    def failure(self) -> str:
        return self.directory.failure


# -- one per process ---------------------------------------------------------------------------

_shared: Directory | None = None
_shared_lock = threading.Lock()


def shared_directory(bind: str = "0.0.0.0") -> Directory:
    """This process's directory, started on first use (where `bind` names the interfaces)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Directory(bind)
            _shared.start()
        return _shared


def running_directory() -> Directory | None:
    """The directory if something started it, else None (nothing browses unasked)."""
    return _shared
