"""One page for the show: the control page lists the nodes of the show network (`GET /network`,
zeroconf `_oscjson._tcp`) and switches to any of them, in a real headless Chromium against two
real nodes in this process, each with its page server and zeroconf on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from helpers import wait_for
from osc_helpers import PageNode, start_page_node, stop_page_node
from test_page import (  # noqa: F401 (browser: the fixture, shared)
    CHROMIUM,
    WAIT_MS,
    browser,
    new_context,
    screenshot,
    slider,
)

from node.state.params import SPECS

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is missing: pip install -e '.[dev]'"
)
zeroconf = pytest.importorskip("zeroconf", reason="zeroconf is missing: pip install -e .")
pytest.importorskip("onnxruntime", reason="install the [onnx] extra (make test does)")
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium: apt-get install chromium chromium-driver (.ci/run installs them)",
    ),
    pytest.mark.slow,
]
OSCJSON = "_oscjson._tcp.local."
HOSTILE = "<img src=x onerror=alert(1)>"
CANNY = "process.canny_t1"


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PageNode, PageNode]]:
    """Two nodes that see each other on the show network."""
    folder = tmp_path_factory.mktemp("show")
    nodes: list[PageNode] = []
    try:
        for name in ("stage left", "stage right"):
            nodes.append(start_page_node(folder / name.replace(" ", "_"), name))
        left, right = nodes
        for one, other in ((left, right), (right, left)):
            control = one.node.control
            assert control is not None and control.network is not None
            assert not control.network.failure, control.network.failure
            control.network.directory.wait_for(other.name, 15)  # LookupError says what it found
        yield left, right
    finally:
        for page_node in nodes:
            stop_page_node(page_node)


def open_page(context: Any, url: str, problems: list[str]) -> Any:
    """The page at `url`, live; its script errors and any dialog (an alert() would be markup
    from the network run as HTML) go to `problems`, from the first moment on."""
    page = context.new_page()
    page.on("pageerror", lambda exc: problems.append(f"error: {exc}"))

    def on_dialog(dialog: Any) -> None:
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(url)
    page.wait_for_selector("body[data-state=live]", timeout=WAIT_MS)
    return page


def entry(page: Any, kind: str, name: str) -> Any:
    """A row of the page's Nodes list (`kind`: self, node or device), found by its text."""
    return page.locator(f'#node-list .node-entry[data-kind="{kind}"]').filter(
        has=page.locator(".node-name", has_text=name)
    )


def go_to(page: Any, target: PageNode) -> None:
    """Choose `target` in the Nodes list and wait for its page to drive it."""
    link = entry(page, "node", target.name)
    link.wait_for(timeout=WAIT_MS)  # the list is polled every 2 s
    assert link.evaluate("e => e.tagName") == "A"
    link.click()
    page.wait_for_url(target.url, timeout=WAIT_MS)
    page.wait_for_selector("body[data-state=live]", timeout=WAIT_MS)
    assert page.title() == target.name
    assert entry(page, "self", target.name).get_attribute("aria-current") == "page"


def test_one_page_drives_two_nodes(
    stage: tuple[PageNode, PageNode],
    browser: Any,  # noqa: F811 (the fixture)
) -> None:
    left, right = stage
    default = SPECS[CANNY].default
    assert left.value(CANNY) == right.value(CANNY) == default
    context = new_context(browser, viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    try:
        page = open_page(context, left.url, problems)
        assert page.title() == "stage left"
        me = entry(page, "self", "stage left")
        me.wait_for(timeout=WAIT_MS)
        assert me.get_attribute("aria-current") == "page"
        assert me.evaluate("e => e.tagName") == "SPAN"  # this one: nothing to go to

        go_to(page, right)  # the page of the other node, from the list
        slider(page, "/process/canny_t1").fill("250")
        wait_for(lambda: right.value(CANNY) == 250)
        page.locator("#models").select_option("other")  # its model menu drives it too
        wait_for(lambda: right.model() == "other")
        assert left.value(CANNY) == default and left.model() == "small"

        go_to(page, left)  # and back, from the other node's list
        slider(page, "/process/canny_t1").fill("123")
        wait_for(lambda: left.value(CANNY) == 123)
        assert right.value(CANNY) == 250 and right.model() == "other"
        assert not problems, problems
    finally:
        context.close()


class FakeDevice(BaseHTTPRequestHandler):
    """What a hostile OSCQuery service answers: its text made to look like HTML."""

    answers: ClassVar[dict[str, Any]] = {}

    def do_GET(self) -> None:
        body = json.dumps(self.answers.get(self.path, {})).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hostile_services() -> Iterator[None]:
    """Two services on the show network whose every text is markup: a 'node' (without a page)
    whose model is an <img>, and another OSCQuery device whose name is and whose answer
    carries one (never shown)."""
    FakeDevice.answers = {
        "/node/status?VALUE": {"VALUE": [12.5, 40.0, "<img src=y onerror=alert(2)>", "s", ""]},
        "/?HOST_INFO": {"error": "<img src=z onerror=alert(3)>"},
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeDevice)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    # made on a thread of its own: Playwright's sync API runs an asyncio loop on this one, and
    # a Zeroconf made here would attach to it and wait on it forever
    with ThreadPoolExecutor(1) as pool:
        zc = pool.submit(zeroconf.Zeroconf, interfaces=["127.0.0.1"]).result(timeout=30)
    here = [socket.inet_aton("127.0.0.1")]
    services = [
        zeroconf.ServiceInfo(
            OSCJSON,
            f"hostile node.{OSCJSON}",
            addresses=here,
            port=port,
            server="hostile.local.",
            properties={"app": "pix2pix-node", "name": HOSTILE, "id": "hostile0001", "osc": "9"},
        ),
        zeroconf.ServiceInfo(
            OSCJSON,
            f"<b>device</b>.{OSCJSON}",
            addresses=here,
            port=port,
            server="hostile.local.",
            properties={"txtvers": "1"},
        ),
    ]
    try:
        for info in services:
            zc.register_service(info)
        yield
    finally:
        zc.unregister_all_services()
        zc.close()
        server.shutdown()
        server.server_close()


def test_names_from_the_network_show_as_text(
    stage: tuple[PageNode, PageNode],
    browser: Any,  # noqa: F811 (the fixture)
    hostile_services: None,
) -> None:
    left, _ = stage
    context = new_context(browser, viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    try:
        page = open_page(context, left.url, problems)
        hostile = entry(page, "node", HOSTILE)
        hostile.wait_for(timeout=WAIT_MS)
        page.wait_for_function(  # its status has been read
            "[...document.querySelectorAll('.node-info')]"
            ".some(e => e.textContent.includes('12.5'))",
            timeout=WAIT_MS,
        )
        assert hostile.locator(".node-name").inner_text() == HOSTILE
        info = hostile.locator(".node-info").inner_text()
        assert info == "<img src=y onerror=alert(2)> · 12.5 fps"
        assert hostile.evaluate("e => e.tagName") == "SPAN"  # no page: listed, not selectable
        assert hostile.get_attribute("aria-disabled") == "true"
        assert "its own machine only" in hostile.locator(".node-why").inner_text()
        device = entry(page, "device", "<b>device</b>")
        device.wait_for(timeout=WAIT_MS)
        # its own words ({"error": "<img ...>"}) are never shown: a stranger's text stays off
        # the stage page; the node's own "no page" note is all that is said of it
        assert "alert(3)" not in page.locator("#nodes").inner_text()
        assert page.locator("#nodes .nodes-divider").count() == 1  # devices apart from nodes
        assert page.locator("#nodes img, #nodes b").count() == 0  # no markup became elements
        assert entry(page, "node", "stage right").count() == 1  # the real node is still listed
        screenshot(page, "control_page_nodes.png")
        page.wait_for_timeout(500)
        assert not problems, problems
    finally:
        context.close()


def test_a_failed_poll_keeps_the_list_and_an_old_node_hides_it(
    stage: tuple[PageNode, PageNode],
    browser: Any,  # noqa: F811 (the fixture)
) -> None:
    left, _ = stage
    context = new_context(browser, viewport={"width": 390, "height": 844}, is_mobile=True)
    problems: list[str] = []
    try:
        page = open_page(context, left.url, problems)
        entry(page, "node", "stage right").wait_for(timeout=WAIT_MS)
        page.route("**/network", lambda route: route.abort())  # the node stops answering
        page.wait_for_function(
            "document.getElementById('nodes-state').textContent.startsWith('not updated')",
            timeout=WAIT_MS,
        )
        assert entry(page, "node", "stage right").count() == 1  # the last list stays
        assert page.locator("#nodes").is_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px phone"
        page.unroute("**/network")
        page.route("**/network", lambda route: route.fulfill(status=404, body="not found"))
        page.reload()  # a node older than the show network: no list, the page works
        page.wait_for_selector("body[data-state=live]", timeout=WAIT_MS)
        page.wait_for_timeout(500)
        assert page.locator("#nodes").is_hidden()
        slider(page, "/process/canny_t1").fill("7")
        wait_for(lambda: left.value(CANNY) == 7)
    finally:
        context.close()
        left.node.params.update({CANNY: SPECS[CANNY].default}, "test")
