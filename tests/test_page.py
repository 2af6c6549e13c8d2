"""The browser control page in a real headless Chromium (Playwright driving Debian's `chromium`)
against a real `pix2pix-node run` on 127.0.0.1: the page, OSC, OSCQuery and feedback together.

Screenshots go to build/test-artifacts/ (or $TEST_ARTIFACTS).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import wait_for
from osc_helpers import Inbox, start_page_node, stop_page_node
from pythonosc.udp_client import SimpleUDPClient

from node.app import Node
from node.state.params import MOD_SLOTS, PARAMS, QUANTS, SPECS
from node.state.presets import Preset, PresetLibrary

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is missing: pip install -e '.[dev]'"
)
CHROMIUM = (
    os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium: apt-get install chromium chromium-driver (.ci/run installs them)",
)
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "build" / "test-artifacts"))
WAIT_MS = 15000
PRESET_VALUES = {"process.canny_t1": 123, "process.invert": True, "predict.post_time_lerp": 0.25}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveNode:
    proc: subprocess.Popen[str]
    osc: int
    oscquery: int
    http: int
    presets: Path
    feedback: Inbox
    token: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http}/" + (f"?token={self.token}" if self.token else "")

    def client(self) -> SimpleUDPClient:
        return SimpleUDPClient("127.0.0.1", self.osc)

    def value(self, address: str) -> Any:
        """Read back over OSCQuery (its own port), as TouchDesigner would."""
        url = f"http://127.0.0.1:{self.oscquery}{address}?VALUE"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)["VALUE"][0]

    def wait_value(self, address: str, expected: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while (got := self.value(address)) != expected:
            assert time.monotonic() < deadline, f"{address} is {got!r}, expected {expected!r}"
            time.sleep(0.05)

    def reset(self) -> None:
        self.client().send_message("/node/reset", [])
        self.wait_value("/process/canny_t1", SPECS["process.canny_t1"].default)


def start_node(
    tmp: Path, *extra: str, token: str = "", ports: tuple[int, int, int] | None = None
) -> LiveNode:
    presets = tmp / "presets"
    if not (presets / "page test.json").exists():
        PresetLibrary(presets).save(Preset("page test", PRESET_VALUES))
    feedback = Inbox()
    osc, query, http = ports or (free_port(), free_port(), free_port())
    args = [
        *("--source", "synthetic?fps=15", "--no-restore-last", "--no-zeroconf"),
        *("--osc-bind", "127.0.0.1", "--osc-port", str(osc), "--oscquery-port", str(query)),
        *("--osc-feedback-port", str(feedback.port), "--http-port", str(http)),
        *("--presets-dir", str(presets), *(("--http-token", token) if token else ())),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "node", "run", *args, *extra],
        cwd=ROOT,
        env={**os.environ, "HOME": str(tmp)},
        stderr=subprocess.PIPE,
        text=True,
    )
    node = LiveNode(proc, osc, query, http, presets, feedback, token)
    deadline = time.monotonic() + 90
    prefix = extra[extra.index("--osc-prefix") + 1] if "--osc-prefix" in extra else ""
    while True:
        assert proc.poll() is None, f"the node stopped: {proc.communicate()[1][-2000:]}"
        try:
            node.value(prefix + "/process/canny_t1")
            return node
        except (urllib.error.URLError, ConnectionError):
            assert time.monotonic() < deadline, "the node did not start in 90 s"
            time.sleep(0.3)


def stop_node(node: LiveNode) -> None:
    node.proc.terminate()
    try:
        node.proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        node.proc.kill()
        node.proc.communicate()
    node.feedback.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    node = start_node(tmp_path_factory.mktemp("page"))
    yield node
    stop_node(node)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live: LiveNode) -> Iterator[Any]:
    live.reset()
    context = new_context(browser, viewport={"width": 1280, "height": 900})
    page = open_page(context, live.url)
    yield page
    context.close()


def new_context(browser: Any, **options: Any) -> Any:
    """A browser context whose test probes (string expressions) pass the page's CSP, which
    forbids eval - as it should for the page's own scripts."""
    return browser.new_context(bypass_csp=True, **options)


def open_page(context: Any, url: str) -> Any:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.wait_for_selector("body[data-state=live]", timeout=WAIT_MS)
    assert not errors, errors
    return page


def slider(page: Any, address: str) -> Any:
    return page.locator(f'input[type=range][data-address="{address}"]')


def menu(page: Any, address: str) -> Any:
    return page.locator(f'select[data-address="{address}"]')


def option_texts(select: Any) -> list[str]:
    """A menu's names (textContent: a folded group's options have no innerText)."""
    return list(select.locator("option").evaluate_all("o => o.map(e => e.textContent)"))


def is_open(page: Any, group: str) -> bool:
    return bool(page.locator(f'details[data-group="{group}"]').evaluate("d => d.open"))


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000  # a page, not a blank
    return path


@pytest.mark.slow
def test_the_page_shows_every_parameter_the_models_and_presets(page: Any, live: LiveNode) -> None:
    for spec in PARAMS:
        row = page.locator(f'.param[data-address="{spec.address}"]')
        assert row.count() == 1, spec.address
        if spec.type == "bool":
            assert row.locator("input[type=checkbox]").is_checked() == live.value(spec.address)
        elif spec.choices:  # a menu of its names, each sending its index
            select = row.locator("select")
            assert option_texts(select) == list(spec.choices), spec.address
            assert int(select.input_value()) == live.value(spec.address), spec.address
        elif spec.type == "text":  # a modulator's target: a menu of addresses
            assert row.locator("select").input_value() == live.value(spec.address)
        else:
            control = row.locator("input[type=range]")
            assert float(control.get_attribute("min")) == spec.min, spec.address
            assert float(control.get_attribute("max")) == spec.max, spec.address
            assert float(control.input_value()) == pytest.approx(live.value(spec.address))
    groups = page.locator("details[data-group]").evaluate_all("e => e.map(d => d.dataset.group)")
    mods = [f"mod{n}" for n in range(1, MOD_SLOTS + 1)]
    assert groups == ["capture", "process", "predict", "tempo", *mods]
    models = page.locator("#models option").all_inner_texts()
    assert models[0] == "none" and "demo_canny_256" in models
    assert page.locator("#model-state").get_attribute("data-status") == "ready"
    assert page.locator('.pads button[data-preset="page test"]').count() == 1
    assert page.locator("#access").inner_text() == "this machine only"
    page.wait_for_function("document.getElementById('fps').textContent !== '-'", timeout=WAIT_MS)
    page.wait_for_function(  # the preview shows frames
        "document.getElementById('preview').naturalWidth > 0", timeout=WAIT_MS
    )
    screenshot(page, "control_page.png")


@pytest.mark.slow
def test_moving_a_slider_changes_the_node_and_its_controllers(page: Any, live: LiveNode) -> None:
    live.client().send_message("/process/canny_t2", 10)  # a controller: the last UDP sender
    live.wait_value("/process/canny_t2", 10)
    live.feedback.clear()
    slider(page, "/process/canny_t1").fill("250")
    live.wait_value("/process/canny_t1", 250)
    assert live.feedback.wait("/process/canny_t1", lambda args: args == [250]) == [250]
    canny_t2 = slider(page, "/process/canny_t2")
    canny_t2.focus()
    page.keyboard.press("End")  # as a person does it: the handle to the end of its range
    live.wait_value("/process/canny_t2", 500)
    page.locator('.param[data-address="/process/invert"] input').click()
    live.wait_value("/process/invert", True)
    lerp = slider(page, "/predict/post_time_lerp")
    lerp.scroll_into_view_if_needed()
    box = lerp.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
    deadline = time.monotonic() + 10
    while live.value("/predict/post_time_lerp") < 0.7:
        assert time.monotonic() < deadline, "a click near the end did not move the slider"
        time.sleep(0.05)


@pytest.mark.slow
def test_an_osc_message_moves_the_slider_on_the_page(page: Any, live: LiveNode) -> None:
    client = live.client()
    client.send_message("/process/canny_t1", 77)
    page.wait_for_function(
        "document.querySelector('input[data-address=\"/process/canny_t1\"]').value === '77'",
        timeout=WAIT_MS,
    )
    client.send_message("/process/pre_blur/norm", 0.5)  # the /norm twin moves it too
    page.wait_for_function(
        "document.querySelector('input[data-address=\"/process/pre_blur\"]').value === '25'",
        timeout=WAIT_MS,
    )
    client.send_message("/capture/freeze", 1)
    page.wait_for_function("document.getElementById('freeze').ariaPressed === 'true'")
    assert page.locator('.param[data-address="/capture/freeze"] input').is_checked()


@pytest.mark.slow
def test_two_browsers_follow_each_other(page: Any, browser: Any, live: LiveNode) -> None:
    other = new_context(browser, viewport={"width": 800, "height": 700})
    try:
        second = open_page(other, live.url)
        slider(page, "/process/post_thresh").fill("200")
        second.wait_for_function(
            "document.querySelector('input[data-address=\"/process/post_thresh\"]').value"
            " === '200'",
            timeout=WAIT_MS,
        )
        second.locator('.param[data-address="/process/grayscale"] input').click()
        page.wait_for_function(
            "document.querySelector('input[data-address=\"/process/grayscale\"]').checked",
            timeout=WAIT_MS,
        )
    finally:
        other.close()
    live.wait_value("/process/post_thresh", 200)


@pytest.mark.slow
def test_a_preset_button_recalls_and_morphs(page: Any, live: LiveNode) -> None:
    page.locator('.pads button[data-preset="page test"]').click()
    for key, value in PRESET_VALUES.items():
        live.wait_value(SPECS[key].address, value)
    live.reset()
    page.wait_for_function(
        "document.querySelector('input[data-address=\"/process/canny_t1\"]').value === '1'"
    )
    page.locator("#morph-on").check()
    page.locator("#morph-seconds").fill("1.5")
    page.locator('.pads button[data-preset="page test"]').click()
    seen = set()
    deadline = time.monotonic() + 10
    while (value := live.value("/process/canny_t1")) != 123:  # it glides there
        assert time.monotonic() < deadline, f"the morph stopped at {value}"
        seen.add(value)
        time.sleep(0.02)
    assert any(1 < v < 123 for v in seen), f"no step between 1 and 123: {sorted(seen)}"


@pytest.mark.slow
def test_save_as_writes_a_preset_the_page_lists(page: Any, live: LiveNode) -> None:
    slider(page, "/process/canny_t1").fill("321")
    live.wait_value("/process/canny_t1", 321)
    page.locator("#save-name").fill("from the page")
    page.locator("#save-form button").click()
    page.wait_for_selector('.pads button[data-preset="from the page"]', timeout=WAIT_MS)
    saved = json.loads((live.presets / "from the page.json").read_text(encoding="utf-8"))
    assert saved["params"]["process.canny_t1"] == 321


@pytest.mark.slow
def test_the_model_menu_swaps_and_shows_the_state(page: Any, live: LiveNode) -> None:
    page.locator("#models").select_option("none")
    page.wait_for_function(
        "document.getElementById('model-state').textContent === 'ready: none'", timeout=WAIT_MS
    )
    assert live.value("/node/model") == "none"
    page.locator("#models").select_option("demo_canny_256")
    page.wait_for_function(
        "document.getElementById('model-state').textContent === 'ready: demo_canny_256'",
        timeout=WAIT_MS,
    )
    assert live.value("/node/model") == "demo_canny_256"


@pytest.mark.slow
def test_on_a_phone_freeze_and_reset_are_taps(browser: Any, live: LiveNode) -> None:
    live.reset()
    phone = new_context(
        browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    try:
        page = open_page(phone, live.url)
        page.locator("#freeze").tap()
        live.wait_value("/capture/freeze", True)
        page.locator("#freeze").tap()
        live.wait_value("/capture/freeze", False)
        live.client().send_message("/process/canny_t1", 99)
        live.wait_value("/process/canny_t1", 99)
        page.locator("#reset").tap()  # armed, nothing reset yet
        time.sleep(0.5)
        assert live.value("/process/canny_t1") == 99
        page.locator("#reset").tap()
        live.wait_value("/process/canny_t1", SPECS["process.canny_t1"].default)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px phone"
        page.wait_for_function("document.getElementById('preview').naturalWidth > 0")
        screenshot(page, "control_page_phone.png")
    finally:
        phone.close()


@pytest.mark.slow
def test_with_a_token_the_page_asks_for_it_and_follows_a_prefix(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    node = start_node(
        tmp_path_factory.mktemp("token"), "--osc-prefix", "/left", token="stage-door-42"
    )
    try:
        bare = f"http://127.0.0.1:{node.http}/"
        for url in (bare, bare + "oscquery/left/process/canny_t1", bare + "?token=wrong"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(url, timeout=5)
            assert refused.value.code == 401
            assert b"needs its token" in refused.value.read()
        context = new_context(browser)
        try:
            page = open_page(context, node.url)
            assert page.url == bare  # the token left the address bar; a cookie keeps it
            assert page.locator("#access").get_attribute("data-token") == "true"
            slider(page, "/left/process/canny_t1").fill("42")
            node.wait_value("/left/process/canny_t1", 42)
            node.client().send_message("/left/process/invert", 1)
            page.wait_for_function(
                "document.querySelector('input[data-address=\"/left/process/invert\"]').checked"
            )
            page.locator("#models").select_option("none")  # the /node commands carry it too
            node.wait_value("/left/node/model", "none")
            page.reload()  # the cookie, not the URL, lets it back in
            page.wait_for_selector("body[data-state=live]", timeout=WAIT_MS)
            page.wait_for_function("document.getElementById('preview').naturalWidth > 0")
        finally:
            context.close()
    finally:
        stop_node(node)


@pytest.mark.slow
def test_the_page_comes_back_by_itself_when_the_node_restarts(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp("restart")
    node = start_node(tmp, "--set", "process.canny_t1=5")
    context = new_context(browser)
    try:
        page = open_page(context, node.url)
        stop_node(node)
        page.wait_for_selector("body[data-state=reconnecting]", timeout=WAIT_MS)
        ports = (node.osc, node.oscquery, node.http)
        node = start_node(tmp, "--set", "process.canny_t1=7", ports=ports)
        page.wait_for_selector("body[data-state=live]", timeout=WAIT_MS)
        page.wait_for_function(  # the new node's values, not the old page's
            "document.querySelector('input[data-address=\"/process/canny_t1\"]').value === '7'"
        )
        page.wait_for_function(  # the stream is back too: a frame arrives after the restart
            """() => new Promise(done => {
                const img = document.getElementById('preview');
                img.addEventListener('load', () => done(true), {once: true});
                setTimeout(() => done(false), 8000);
            })""",
            timeout=WAIT_MS,
        )
        slider(page, "/process/canny_t1").fill("8")
        node.wait_value("/process/canny_t1", 8)
    finally:
        context.close()
        stop_node(node)


@pytest.mark.slow
def test_a_models_controls_come_and_go_on_the_page(browser: Any, tmp_path: Path) -> None:
    from helpers import GAIN, TINT, describe, gain_tint_onnx

    models = tmp_path / "models"
    models.mkdir()
    gain_tint_onnx(models / "tinted.onnx")
    describe(models, controls=[GAIN, TINT])
    gain_tint_onnx(models / "mixed.onnx", extra=("tint",))
    mix = {"name": "tint", "input": "tint", "kind": "mix", "count": 3, "default": 0}
    describe(models, "mixed", controls=[mix])
    node = start_node(tmp_path, "--models-dir", str(models))
    context = new_context(browser, viewport={"width": 1280, "height": 900})
    try:
        page = open_page(context, node.url)
        assert slider(page, "/model/gain").count() == 0
        node.client().send_message("/node/model", ["tinted"])
        slider(page, "/model/gain").wait_for(timeout=WAIT_MS)  # PATH_ADDED: a fader for it
        node.client().send_message("/model/gain", [1.5])
        page.wait_for_function(
            "document.querySelector('input[data-address=\"/model/gain\"]').value === '1.5'",
            timeout=WAIT_MS,
        )  # and it LISTENs to it
        node.client().send_message("/node/model", ["mixed"])  # a mix: a menu of its choices
        slider(page, "/model/gain").wait_for(state="detached", timeout=WAIT_MS)
        menu = page.locator('select[data-address="/model/tint"]')
        menu.wait_for(timeout=WAIT_MS)
        menu.select_option("2")
        deadline = time.monotonic() + 10
        while _vector(node, "/model/tint") != [0.0, 0.0, 1.0]:
            assert time.monotonic() < deadline, "the pick never arrived"
            time.sleep(0.1)
    finally:
        context.close()
        stop_node(node)


@pytest.mark.slow
def test_an_image_control_is_a_menu_of_style_pictures_on_the_page(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cv2
    import numpy as np
    from helpers import coded_onnx, coder_onnx, describe

    site = tmp_path / "site" / "pagecoders"
    (site / "models").mkdir(parents=True)
    (site / "__init__.py").write_text("")
    coder_onnx(site / "models" / "coder.onnx")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path / "site"), str(ROOT)]))
    styles = tmp_path / ".config" / "pix2pix-node" / "styles"  # the node's HOME is tmp_path
    styles.mkdir(parents=True)
    cv2.imwrite(str(styles / "blue.png"), np.full((32, 32, 3), (255, 0, 0), np.uint8))
    models = tmp_path / "models"
    models.mkdir()
    coded_onnx(models / "coded.onnx")
    helper = {"package": "pagecoders", "path": "models/coder.onnx", "side": 16}
    style = {"name": "style", "input": "code", "kind": "image", "size": 3,
             "shape": [1, 1, 1, 3], "default": "", "helper": helper}  # fmt: skip
    describe(models, "coded", controls=[style])
    node = start_node(tmp_path, "--models-dir", str(models))
    context = new_context(browser, viewport={"width": 1280, "height": 900})
    try:
        page = open_page(context, node.url)
        node.client().send_message("/node/model", ["coded"])
        menu = page.locator('select[data-address="/model/style_image"]')
        menu.wait_for(timeout=WAIT_MS)  # PATH_ADDED brought it
        menu.select_option("blue")
        deadline = time.monotonic() + 10
        while not _blue(node):
            assert time.monotonic() < deadline, "the picture's code never arrived"
            time.sleep(0.1)
    finally:
        context.close()
        stop_node(node)


def _vector(node: LiveNode, address: str) -> list[float]:
    url = f"http://127.0.0.1:{node.oscquery}{address}?VALUE"
    with urllib.request.urlopen(url, timeout=5) as response:
        return [round(float(v), 3) for v in json.load(response)["VALUE"]]


def _blue(node: LiveNode) -> bool:
    url = f"http://127.0.0.1:{node.oscquery}/model/style?VALUE"
    with urllib.request.urlopen(url, timeout=5) as response:
        code = json.load(response)["VALUE"]
    return bool(abs(code[2] - 1.0) < 1e-3 and abs(code[0]) < 1e-3)


@pytest.mark.slow
def test_a_menu_row_shows_its_names_sends_its_index_and_follows_the_node(
    page: Any, live: LiveNode
) -> None:
    quant = menu(page, "/tempo/quant")
    assert option_texts(quant) == list(QUANTS)
    quant.select_option("bar")
    live.wait_value("/tempo/quant", 2)
    live.client().send_message("/tempo/quant", "4bars")  # a name over OSC: the menu follows
    page.wait_for_function(
        "document.querySelector('select[data-address=\"/tempo/quant\"]').value === '4'",
        timeout=WAIT_MS,
    )
    assert quant.locator("option:checked").inner_text() == "4bars"
    live.client().send_message("/tempo/quant", 1)  # and an index
    page.wait_for_function(
        "document.querySelector('select[data-address=\"/tempo/quant\"]').value === '1'",
        timeout=WAIT_MS,
    )


@pytest.mark.slow
def test_a_modulator_chosen_on_the_page_moves_its_target_slider(page: Any, live: LiveNode) -> None:
    page.locator('details[data-group="mod1"] > summary').click()  # folded until opened
    target = menu(page, "/mod1/target")
    addresses = target.locator("option").evaluate_all("o => o.map(e => e.value)")
    assert addresses[0] == "" and "/process/canny_t1" in addresses
    assert "/predict/post_time_lerp" in addresses
    for never in ("/process/invert", "/tempo/bpm", "/tempo/quant", "/mod2/rate"):
        assert never not in addresses  # a bool, the band's tempo, a menu, a modulator
    target.select_option("/process/canny_t1")
    live.wait_value("/mod1/target", "/process/canny_t1")
    menu(page, "/mod1/shape").select_option("sine")
    live.wait_value("/mod1/shape", 1)
    summary = page.locator('details[data-group="mod1"] > summary small')
    assert summary.inner_text() == "sine \u2192 /process/canny_t1"
    canny = slider(page, "/process/canny_t1")
    seen: set[str] = set()
    deadline = time.monotonic() + 10
    while len(seen) < 4:  # nobody touches it: the modulator moves it
        assert time.monotonic() < deadline, f"the slider stayed at {sorted(seen)}"
        seen.add(canny.input_value())
        time.sleep(0.1)
    live.client().send_message("/mod1/target", "/process/canny_t2")  # the menu follows OSC
    page.wait_for_function(
        "document.querySelector('select[data-address=\"/mod1/target\"]').value"
        " === '/process/canny_t2'",
        timeout=WAIT_MS,
    )
    page.evaluate(  # a bool is not offered; forced in, the node refuses it ...
        """() => {
            const select = document.querySelector('select[data-address="/mod1/target"]');
            select.append(new Option('/process/invert', '/process/invert'));
            select.value = '/process/invert';
            select.dispatchEvent(new Event('change'));
        }"""
    )
    page.wait_for_function(  # ... and the menu shows the node's target again
        "document.querySelector('select[data-address=\"/mod1/target\"]').value"
        " === '/process/canny_t2'",
        timeout=WAIT_MS,
    )
    assert "a bool" in page.locator("#toast").inner_text()
    live.client().send_message("/mod1/shape", "off")
    live.wait_value("/process/canny_t1", SPECS["process.canny_t1"].default)


@pytest.mark.slow
def test_the_tap_button_taps_the_tempo_and_the_light_follows_the_beat(
    page: Any, live: LiveNode
) -> None:
    light = page.locator("#beat-light")
    page.wait_for_function(  # the beat reaches the page (LISTEN /tempo/beat)
        "Number(document.getElementById('beat-light').dataset.beats) >= 2", timeout=WAIT_MS
    )
    assert light.inner_text() in ("1", "2", "3", "4")  # the beat in the bar (/tempo/phase)
    tap = page.locator("#tap")
    for _ in range(6):
        tap.click()
        time.sleep(0.3)  # about 200 BPM
    live.wait_value("/tempo/source", 1)  # tap
    assert tap.get_attribute("data-taps") == "6"
    bpm = live.value("/tempo/bpm")
    assert 150 < bpm < 260, bpm
    page.wait_for_function(  # the source menu follows
        "document.querySelector('select[data-address=\"/tempo/source\"]').value === '1'",
        timeout=WAIT_MS,
    )
    beats = int(light.get_attribute("data-beats"))
    page.wait_for_function(
        f"Number(document.getElementById('beat-light').dataset.beats) >= {beats + 2}",
        timeout=WAIT_MS,
    )


@pytest.mark.slow
def test_the_fire_button_holds_an_envelope_open(page: Any, live: LiveNode) -> None:
    client = live.client()
    client.send_message("/mod2/target", "/process/canny_t2")
    client.send_message("/mod2/sustain", 1.0)
    client.send_message("/mod2/shape", "envelope")  # trigger osc: /mod2/fire
    live.wait_value("/mod2/shape", 7)
    base = SPECS["process.canny_t2"].default
    page.locator('details[data-group="mod2"] > summary').click()
    fire = page.locator('button[data-fire="mod2"]')
    fire.hover()
    page.mouse.down()  # the gate opens and stays open while held
    deadline = time.monotonic() + 10
    while live.value("/process/canny_t2") <= base:
        assert time.monotonic() < deadline, "the envelope never opened"
        time.sleep(0.05)
    time.sleep(0.5)
    assert live.value("/process/canny_t2") > base  # still open
    page.mouse.up()  # let go: it closes and falls back
    live.wait_value("/process/canny_t2", base)


@pytest.mark.slow
def test_the_modulators_start_folded_until_opened(page: Any, live: LiveNode) -> None:
    for n in range(1, MOD_SLOTS + 1):
        assert not is_open(page, f"mod{n}")
    assert is_open(page, "tempo") and is_open(page, "process")
    assert page.locator('input[data-address="/mod3/rate"]').is_hidden()
    page.locator('details[data-group="mod3"] > summary').click()
    page.locator('details[data-group="process"] > summary').click()
    assert is_open(page, "mod3") and not is_open(page, "process")
    page.reload()  # the page remembers what the user opened and closed
    page.wait_for_selector("body[data-state=live]", timeout=WAIT_MS)
    assert is_open(page, "mod3") and not is_open(page, "process")
    assert not is_open(page, "mod1") and is_open(page, "capture")


@pytest.fixture
def midi_node(tmp_path: Path) -> Iterator[Node]:
    """A node in this process with its page on, so a test can play the MIDI controller: the
    rtmidi thread's way in (`commands.midi._message`) with a real mido message."""
    page_node = start_page_node(tmp_path, network=False)
    try:
        yield page_node.node
    finally:
        stop_page_node(page_node)


def learn_button(page: Any, address: str) -> Any:
    return page.locator(f'button.learn[data-learn="{address}"]')


@pytest.mark.slow
def test_a_learn_button_beside_a_fader_maps_the_next_midi_control(
    browser: Any, midi_node: Node
) -> None:
    mido = pytest.importorskip("mido")
    assert midi_node.commands is not None
    midi = midi_node.commands.midi
    http = midi_node.config.control.http_port
    context = new_context(browser, viewport={"width": 1280, "height": 900})
    try:
        page = open_page(context, f"http://127.0.0.1:{http}/")
        # sliders, switches and menus have one; a modulator's target and the mix do not
        for address in ("/process/canny_t1", "/process/invert", "/tempo/source", "/mod1/rate"):
            assert learn_button(page, address).count() == 1, address
        assert learn_button(page, "/mod1/target").count() == 0
        button = learn_button(page, "/process/canny_t1")
        assert button.inner_text() == "MIDI"
        button.click()  # armed: the node waits for a control
        wait_for(lambda: midi.learner.armed == "/process/canny_t1")
        assert button.inner_text() == "waiting\u2026"
        button.click()  # again: it stops waiting
        wait_for(lambda: midi.learner.armed is None)
        assert button.inner_text() == "MIDI"
        learn_button(page, "/process/invert").click()
        wait_for(lambda: midi.learner.armed == "/process/invert")
        button.click()  # another row: the node waits for this one, the first one stops
        wait_for(lambda: midi.learner.armed == "/process/canny_t1")
        assert learn_button(page, "/process/invert").inner_text() == "MIDI"
        assert button.inner_text() == "waiting\u2026"
        midi._message(mido.Message("control_change", control=7, value=10), 0.0)  # a fader
        page.wait_for_function(  # the page hears /midi/learned and shows the control
            "document.querySelector('button[data-learn=\"/process/canny_t1\"]').textContent"
            " === 'cc 7 ch 0'",
            timeout=WAIT_MS,
        )
        assert midi.learner.armed is None
        assert midi.mappings() == ["cc 7 (channel 0) -> /process/canny_t1 absolute"]
        assert button.get_attribute("data-control") == "cc 7 (channel 0)"
        assert "cc 7 (channel 0)" in (button.get_attribute("title") or "")
        page.wait_for_function(  # a moment later: back to its word, the row marked mapped
            "document.querySelector('button[data-learn=\"/process/canny_t1\"]').textContent"
            " === 'MIDI'",
            timeout=WAIT_MS,
        )
        assert "mapped" in (button.get_attribute("class") or "")
        midi._message(mido.Message("control_change", control=7, value=127), 0.0)
        spec = SPECS["process.canny_t1"]
        wait_for(lambda: midi_node.params.get("process.canny_t1") == spec.max)
        page.wait_for_function(  # the controller moves the slider on the page too
            f"Number(document.querySelector('input[data-address=\"/process/canny_t1\"]').value)"
            f" === {spec.max}",
            timeout=WAIT_MS,
        )
        page.reload()  # a page opened later marks the mapped rows (/midi/mappings)
        page.wait_for_selector("body[data-state=live]", timeout=WAIT_MS)
        page.wait_for_selector('button.learn.mapped[data-learn="/process/canny_t1"]')
        assert learn_button(page, "/process/invert").get_attribute("class") == "learn"
    finally:
        context.close()


@pytest.mark.slow
def test_the_learn_buttons_fit_a_phone(browser: Any, live: LiveNode) -> None:
    live.reset()
    phone = new_context(
        browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    try:
        page = open_page(phone, live.url)
        button = learn_button(page, "/process/canny_t1")
        button.tap()
        page.wait_for_function(
            "document.querySelector('button[data-learn=\"/process/canny_t1\"]')"
            ".getAttribute('aria-pressed') === 'true'",
            timeout=WAIT_MS,
        )
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px phone"
        for address in ("/process/canny_t1", "/process/invert", "/tempo/source"):
            row = page.locator(f'.param[data-address="{address}"]').bounding_box()
            box = learn_button(page, address).bounding_box()
            assert box["height"] <= 30 and box["width"] <= 90, (address, box)
            assert box["x"] + box["width"] <= row["x"] + row["width"], address
        page.locator('.param[data-address="/process/canny_t1"]').scroll_into_view_if_needed()
        screenshot(page, "control_page_phone_learn.png")
        button.tap()  # stop waiting
        page.wait_for_function(
            "document.querySelector('button[data-learn=\"/process/canny_t1\"]')"
            ".getAttribute('aria-pressed') === 'false'",
            timeout=WAIT_MS,
        )
    finally:
        phone.close()
