"""A third-party OSC implementation talks to the node: liblo's `oscsend` sends (UDP and TCP),
`oscdump` receives the node's feedback. Debian/Ubuntu: `apt-get install liblo-tools`
(.ci/run installs it)."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pytest

pytestmark = pytest.mark.skipif(
    shutil.which("oscsend") is None or shutil.which("oscdump") is None,
    reason="liblo's oscsend/oscdump are not installed: apt-get install liblo-tools",
)
pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")

from helpers import free_port, wait_for  # noqa: E402
from osc_helpers import Rig  # noqa: E402


class Dump:
    """`oscdump -L PORT` in the background; its lines as they arrive (timetags removed)."""

    def __init__(self, port: int) -> None:
        self.process = subprocess.Popen(
            ["oscdump", "-L", str(port)], stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        time.sleep(0.3)  # let it bind

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            stamp, _, rest = line.strip().partition(" ")  # 'eeb0ccda.cdd5b24d /addr ...'
            with self._cond:
                self.lines.append(rest if not stamp.startswith("/") else line.strip())
                self._cond.notify_all()

    def wait(self, prefix: str, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if line.startswith(prefix):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"oscdump saw no {prefix!r}; it saw {self.lines}")
                self._cond.wait(left)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(5)


@pytest.fixture
def dump_rig(rig_factory: Callable[..., Rig]) -> Iterator[tuple[Rig, Dump]]:
    port = free_port()
    rig = rig_factory(feedback_port=port)
    dump = Dump(port)
    yield rig, dump
    dump.close()


def oscsend(*args: str) -> None:
    subprocess.run(["oscsend", *args], check=True, timeout=10)


@pytest.mark.slow
def test_oscsend_over_udp_sets_params_and_oscdump_gets_the_feedback(
    dump_rig: tuple[Rig, Dump],
) -> None:
    rig, dump = dump_rig
    oscsend("localhost", str(rig.port), "/process/canny_t1", "i", "44")
    wait_for(lambda: rig.params.get("process.canny_t1") == 44)
    assert dump.wait("/process/canny_t1/norm") == "/process/canny_t1/norm f 0.088000"
    oscsend("localhost", str(rig.port), "/process/invert", "T")
    wait_for(lambda: rig.params.get("process.invert") is True)
    oscsend("localhost", str(rig.port), "/process/canny_t2", "f", "1e6")  # clamped: told so
    assert dump.wait("/process/canny_t2 ") == "/process/canny_t2 i 500"
    oscsend("localhost", str(rig.port), "/node/get", "s", "/predict/post_time_lerp")
    assert dump.wait("/predict/post_time_lerp ") == "/predict/post_time_lerp f 0.500000"
    oscsend("localhost", str(rig.port), "/process/nope", "i", "1")
    line = dump.wait("/node/error")
    assert line.startswith('/node/error ss "/process/nope" "unknown address')


@pytest.mark.slow
def test_oscsend_over_tcp(dump_rig: tuple[Rig, Dump]) -> None:
    rig, _ = dump_rig
    oscsend(f"osc.tcp://localhost:{rig.port}", "/process/pre_median/norm", "f", "0.5")
    wait_for(lambda: rig.params.get("process.pre_median") == 25)
