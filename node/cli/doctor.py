"""`pix2pix-node doctor`: what works on this machine, and the exact step to fix what does not.

Each check really tries the thing (opens the first camera, starts the NDI runtime, asks for a
virtual camera, binds the OSC ports) and closes it again at once.
"""

from __future__ import annotations

import functools
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from node.config import ControlSettings
from node.errors import SinkError, SourceError
from node.inference.backends import BACKEND_NAMES, BACKENDS
from node.sinks import create_sink
from node.sources import create_source
from node.support import cpu, platforms


@dataclass(frozen=True)
class Check:
    group: str
    name: str
    ok: bool
    detail: str


def _try(group: str, name: str, probe: Callable[[], str]) -> Check:
    try:
        return Check(group, name, True, probe())
    except Exception as exc:  # every failure is a finding, not a crash
        return Check(group, name, False, str(exc))


def _webcam() -> str:
    source = create_source("webcam:0")
    try:
        source.open()
    except SourceError as exc:
        raise SourceError(
            f"{exc} (plug a camera in, or use --source synthetic / file:clip.mp4 / ndi:NAME)"
        ) from None
    source.close()
    return "camera 0 delivers frames"


def _sink(spec: str, what: str) -> Callable[[], str]:
    def probe() -> str:
        sink = create_sink(spec)
        missing = type(sink).unavailable_reason()
        if missing:
            raise SinkError(missing)
        sink.open(30.0)
        sink.close()
        return what

    return probe


def _ndi_runtime() -> str:
    from node.support import ndi

    ndi.runtime()
    if sys.platform.startswith("linux") and not Path("/run/avahi-daemon/socket").exists():
        return (
            "runtime starts; no avahi-daemon here, so other machines are found only through "
            "NDI_EXTRA_IPS / ?extra_ips= (or: apt-get install avahi-daemon)"
        )
    return "runtime starts; `--sink ndi` publishes, `--source ndi:NAME` receives"


def _port(kind: int, port: int) -> Callable[[], str]:
    def probe() -> str:
        with socket.socket(socket.AF_INET, kind) as sock:
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("0.0.0.0", port))
            except OSError as exc:
                raise OSError(
                    f"port {port} is taken ({exc.strerror}): another node? choose another port"
                ) from None
        return f"port {port} is free"

    return probe


def _midi(direction: str) -> str:
    """The MIDI ports of one direction, by name (what `--midi-in` / `--midi-out` match)."""
    try:
        import mido
    except ImportError:
        raise SourceError("MIDI needs the [midi] extra: pip install 'pix2pix-node[midi]'") from None
    try:
        names = mido.get_input_names() if direction == "in" else mido.get_output_names()
    except Exception as exc:
        raise SourceError(
            f"no MIDI backend ({exc}); on Linux the ALSA sequencer (/dev/snd/seq) is needed"
        ) from None
    if not names:
        return "no ports now (plug a controller in; the node opens it when it comes)"
    return "; ".join(names)


def _tempo_link() -> str:
    import importlib.util

    if importlib.util.find_spec("aalink") is None:
        raise SourceError("Ableton Link needs the [link] extra: pip install 'pix2pix-node[link]'")
    return "aalink installed (--tempo link)"


def _backend(fmt: str) -> str:
    missing = BACKENDS.get(fmt).unavailable_reason()
    if missing:
        raise RuntimeError(missing)
    if fmt == "openvino":
        from node.inference.backends.openvino import devices

        found = ", ".join(f"{name} ({full})" if full else name for name, full in devices())
        return f"installed; devices: {found or 'none'}"
    return "installed"


def _cpu() -> str:
    """The instructions that decide which variant is fast here (int8 wants VNNI, bf16 native
    avx512_bf16 / AMX)."""
    bf16 = cpu.native_bf16()
    verdict = {True: "bf16 variants run natively", False: "no native bf16: bf16 variants are "
               "skipped", None: "cannot tell whether bf16 is native"}[bf16]  # fmt: skip
    return f"{cpu.model_name()}; {' '.join(cpu.flags_of_note()) or 'no flags read'}; {verdict}"


def _with_platform(checks: list[Check]) -> list[Check]:
    """This platform's line(s) first, then the checks; a failure that a missing wheel explains
    says so (its own "pip install" advice would not help here)."""
    system, machine, python = platforms.here()
    where = f"{platforms.name(system, machine)}, Python {python[0]}.{python[1]}"
    missing = platforms.missing_here()
    if not missing:
        return [Check("platform", where, True, "every part of [all] has a wheel here"), *checks]

    def explained(check: Check) -> Check:
        gap = next((g for g in missing if g.feature.lower() in check.name.lower()), None)
        return (
            check if check.ok or gap is None else Check(check.group, check.name, False, gap.line())
        )

    head = [Check("platform", where, False, gap.line()) for gap in missing]
    return head + [explained(check) for check in checks]


def run_checks() -> list[Check]:
    control = ControlSettings()
    checks = [
        _try("source", "webcam", _webcam),
        _try("source", "ndi", _ndi_runtime),
        Check("source", "file / synthetic", True, "always available (OpenCV with FFmpeg)"),
        _try("sink", "ndi", _sink("ndi:pix2pix-node-doctor", "publishes")),
        _try("sink", "vcam", _sink("vcam?width=64&height=64", "a virtual camera opens")),
        _try("sink", "preview", _sink("preview", "serves http://127.0.0.1:8080/ (and the page)")),
        Check("sink", "file", True, "always available (.mp4 .mov .m4v .mkv .avi)"),
        _try("sink", "syphon", _sink("syphon:pix2pix-node-doctor", "a Syphon server starts")),
        _try("sink", "spout", _sink("spout:pix2pix-node-doctor", "a Spout sender starts")),
    ]
    checks += [
        _try("model backend", f"{fmt} ({BACKEND_NAMES[fmt]})", functools.partial(_backend, fmt))
        for fmt in BACKEND_NAMES
    ]
    checks.append(_try("model backend", "CPU", _cpu))
    checks += [
        _try("tempo", "MIDI in", functools.partial(_midi, "in")),
        _try("tempo", "MIDI out", functools.partial(_midi, "out")),
        _try("tempo", "Ableton Link", _tempo_link),
    ]
    checks = _with_platform(checks)
    checks += [
        _try("control", f"OSC UDP {control.port}", _port(socket.SOCK_DGRAM, control.port)),
        _try("control", f"OSC TCP {control.port}", _port(socket.SOCK_STREAM, control.port)),
        _try(
            "control",
            f"OSCQuery {control.oscquery_port}",
            _port(socket.SOCK_STREAM, control.oscquery_port),
        ),
    ]
    return checks


def report(checks: list[Check]) -> str:
    width = max(len(f"{c.group} {c.name}") for c in checks)
    lines = []
    for c in checks:
        mark = "ok  " if c.ok else "NO  "
        lines.append(f"{mark}{(c.group + ' ' + c.name).ljust(width)}  {c.detail}")
    missing = sum(not c.ok for c in checks)
    lines.append(
        f"\n{len(checks) - missing} of {len(checks)} work here"
        + ("; each NO line says how to fix it" if missing else "")
    )
    return "\n".join(lines)
