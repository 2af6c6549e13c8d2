"""Zeroconf (mDNS / Bonjour) advertisement: `_oscjson._tcp` for the OSCQuery server and
`_osc._udp` for the OSC port, so hosts list the node without anyone typing an address.

Registration takes a couple of seconds (mDNS probing), so it runs on its own thread and never
delays the first frame; a machine without multicast only loses the advertisement.
"""

from __future__ import annotations

import logging
import socket
import threading

log = logging.getLogger(__name__)

WILDCARDS = ("0.0.0.0", "::", "")
REGISTERING_S = 5.0  # how long a stop waits for a registration in progress (mDNS probing: ~2 s)


def local_addresses(bind: str) -> list[str]:
    """The IPv4 addresses to advertise: the bound one, or every interface's."""
    if bind not in WILDCARDS:
        return [bind]
    import ifaddr  # zeroconf's own dependency

    found = [
        str(ip.ip)
        for adapter in ifaddr.get_adapters()
        for ip in adapter.ips
        if isinstance(ip.ip, str) and not ip.ip.startswith(("169.254.", "127."))
    ]
    return found or ["127.0.0.1"]  # loopback only when there is nothing else to announce


def open_zeroconf(bind: str) -> object:
    """A Zeroconf on the interfaces `bind` names (a wildcard: every one), IPv4."""
    from zeroconf import IPVersion, Zeroconf

    if bind in WILDCARDS:
        return Zeroconf(ip_version=IPVersion.V4Only)
    return Zeroconf(interfaces=[bind], ip_version=IPVersion.V4Only)


class Advertiser:
    """Registers the services on `start` (in the background) and withdraws them on `stop`."""

    def __init__(
        self,
        name: str,
        osc_port: int,
        oscquery_port: int,
        bind: str = "0.0.0.0",
        properties: dict[str, str] | None = None,
    ):
        self.name = name
        self.properties = properties or {"txtvers": "1"}  # the OSCQuery record's TXT
        self.osc_port = osc_port
        self.oscquery_port = oscquery_port
        self.bind = bind
        self.registered = threading.Event()
        self._zeroconf: object | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._register, name="zeroconf", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _register(self) -> None:
        try:
            from zeroconf import ServiceInfo, Zeroconf

            addresses = local_addresses(self.bind)
            zc = open_zeroconf(self.bind)
            assert isinstance(zc, Zeroconf)
            packed = [socket.inet_aton(a) for a in addresses]
            host = f"{socket.gethostname().split('.')[0] or 'pix2pix-node'}.local."
            services = [("_oscjson._tcp.local.", self.oscquery_port)] if self.oscquery_port else []
            services.append(("_osc._udp.local.", self.osc_port))
            with self._lock:
                if self._stopped:
                    zc.close()
                    return
                self._zeroconf = zc
            name = self.name.encode()[:63].decode(errors="ignore")  # DNS label limit
            for kind, port in services:
                if self._stopped:
                    return
                info = ServiceInfo(
                    kind,
                    f"{name}.{kind}",
                    addresses=packed,
                    port=port,
                    server=host,
                    properties=self.properties if kind.startswith("_oscjson") else {"txtvers": "1"},
                )
                zc.register_service(info, allow_name_change=True)
            log.info(
                "zeroconf: advertised %s on %s",
                " and ".join(k for k, _ in services),
                ", ".join(addresses),
            )
            self.registered.set()
        except Exception as exc:  # no multicast here: the node works, only discovery is lost
            if self._stopped:
                return
            log.warning("zeroconf advertisement failed (%s); hosts must be given the address", exc)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        if self._thread.is_alive():  # a registration in progress ends first (closing under it
            self._thread.join(REGISTERING_S)  # leaves zeroconf's coroutine never awaited)
        with self._lock:
            zc = self._zeroconf
        if zc is not None:
            from zeroconf import Zeroconf

            assert isinstance(zc, Zeroconf)
            zc.unregister_all_services()
            zc.close()
