"""The NDI runtime (ndi-python, extra `[ndi]`): imported lazily, initialised once, and the
reason it cannot work on this machine in words a person can act on.

Discovery without mDNS (containers, some venues): `NDI_EXTRA_IPS` (or the `extra_ips` option of
an `ndi:` source) lists the machines to ask directly, e.g. "127.0.0.1,192.168.1.20".
"""

from __future__ import annotations

import os
import threading
from types import ModuleType

_lock = threading.Lock()
_module: ModuleType | None = None
_failure: str | None = None


def runtime() -> ModuleType:
    """NDIlib, initialised; RuntimeError with the fix when it cannot be."""
    global _module, _failure
    with _lock:
        if _module is not None:
            return _module
        if _failure is not None:
            raise RuntimeError(_failure)
        try:
            import NDIlib
        except ImportError as exc:
            from node.support.platforms import missing_here

            gap = next((g for g in missing_here() if g.package == "ndi-python"), None)
            install = (
                f"ndi-python is not installed ({exc}): pip install 'pix2pix-node[ndi]'; on "
                "Linux the NDI runtime also needs libavahi-client3 (apt-get install "
                "libavahi-client3)"
            )
            _failure = gap.line() if gap is not None else install  # no wheel: say so instead
            raise RuntimeError(_failure) from None
        if not NDIlib.initialize():
            _failure = "the NDI runtime did not start (this CPU may lack SSE4.2)"
            raise RuntimeError(_failure)
        module: ModuleType = NDIlib
        _module = module
        return module


def unavailable_reason() -> str | None:
    try:
        runtime()
    except RuntimeError as exc:
        return str(exc)
    return None


def extra_ips(option: str = "") -> str:
    """Machines to ask for NDI sources besides mDNS discovery (comma-separated)."""
    return ",".join(p for p in (option, os.environ.get("NDI_EXTRA_IPS", "")) if p)
