"""The playground in a real browser: headless Chromium (Debian's packages) drives /playground against
the emulator, with a WAV file of the emulator's own voice as the fake microphone (issue 9)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from livegate.config import embedded_config
from livegate.emulator.server import EmulatorServer
from livegate.emulator.state import EmulatorConfig
from livegate.emulator.voice import speak
from livegate.gateway.app import Gateway

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402

MIC_RATE = 48000
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082"
)
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def shoot(driver: Any, name: str) -> None:
    """With LIVEGATE_SCREENSHOTS=DIR, the page's states as PNGs (the README's come from here)."""
    folder = os.environ.get("LIVEGATE_SCREENSHOTS")
    if folder:
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(Path(folder) / f"playground-{name}.png"))
SPOKEN = "hello there"


def microphone(path: Path) -> Path:
    """Half a second of silence, the words, and a pause; Chromium plays it in a loop, so the words come
    again while the reply is playing: a barge-in."""
    silence = bytes(int(MIC_RATE * 0.5) * 2)
    audio = silence + speak(SPOKEN, MIC_RATE, amplitude=0.5) + bytes(int(MIC_RATE * 0.6) * 2)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(MIC_RATE)
        out.writeframes(audio)
    return path


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are missing: scripts/test installs them from Debian's packages")
        pytest.skip("chromium is not installed (scripts/test installs it)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone(tmp_path / 'mic.wav')}", "--autoplay-policy=no-user-gesture-required",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
async def stack() -> AsyncIterator[tuple[EmulatorServer, Gateway]]:
    async with (
        EmulatorServer(EmulatorConfig()) as emulator,
        Gateway(embedded_config(emulator.url), port=0) as gateway,
    ):
        yield emulator, gateway


async def until(driver: Any, script: str, within: float = 20) -> Any:
    """Poll a JavaScript expression in the page until it is truthy; returns its value."""
    async with asyncio.timeout(within):
        while True:
            value = await asyncio.to_thread(driver.execute_script, f"return {script}")
            if value:
                return value
            await asyncio.sleep(0.1)


def type_and_send(driver: Any, text: str) -> None:
    box = driver.find_element(By.ID, "text")
    box.send_keys(text)
    driver.find_element(By.ID, "send").click()


async def typed_tool_call(driver: Any) -> None:
    """A typed turn that calls the tool, answered from the page, and the answer's words."""
    await asyncio.to_thread(type_and_send, driver, "get_weather city=Paris")
    await until(driver, "window.livegatePlayground.stats.toolCalls.length > 0")
    call = (await asyncio.to_thread(page_state, driver))["stats"]["toolCalls"][0]
    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == {"city": "Paris"}
    await asyncio.to_thread(lambda: driver.find_element(By.CSS_SELECTOR, "#calls button.answer").click())
    await until(driver, "window.livegatePlayground.transcript().some(l => l.role === 'assistant' && l.text.includes('get_weather returned'))")


def page_state(driver: Any) -> dict[str, Any]:
    return dict(driver.execute_script("return {stats: window.livegatePlayground.stats, transcript: window.livegatePlayground.transcript()}"))


async def test_the_playground_holds_a_spoken_and_a_typed_turn_answers_a_tool_and_stops_on_barge_in(
    browser: Any, stack: tuple[EmulatorServer, Gateway], tmp_path: Path
) -> None:
    emulator, gateway = stack
    await asyncio.to_thread(browser.get, f"{gateway.url}/playground")
    await until(browser, "document.getElementById('model').options.length > 0")
    assert await asyncio.to_thread(lambda: browser.find_element(By.ID, "model").get_attribute("value")) == "gpt-realtime"

    await asyncio.to_thread(shoot, browser, "start")

    def connect_with(tool: str) -> None:
        Select(browser.find_element(By.ID, "transport")).select_by_value("websocket")
        box = browser.find_element(By.ID, "tool")
        box.clear()
        box.send_keys(tool)
        browser.find_element(By.ID, "connect").click()

    # A mistake is said in plain words, and nothing is sent.
    await asyncio.to_thread(connect_with, '{"type": "function", "name": ')
    message = await until(browser, "!document.getElementById('error').hidden && document.getElementById('error').textContent")
    assert message.startswith("The tool is not valid JSON")
    await asyncio.to_thread(shoot, browser, "error")
    assert emulator.state.sessions == {}

    await asyncio.to_thread(lambda: browser.find_element(By.ID, "echo").click())  # the fake microphone is not a room
    await asyncio.to_thread(connect_with, json.dumps(WEATHER_TOOL))
    await until(browser, "document.getElementById('status').dataset.state === 'connected'")
    await asyncio.to_thread(lambda: browser.find_element(By.ID, "mic").click())

    # A spoken turn: the user's transcript, the reply's transcript and its audio, then the words coming
    # round again in the loop interrupt the reply.
    await until(browser, "window.livegatePlayground.transcript().some(l => l.role === 'user' && l.text.includes('hello there'))")
    await until(browser, "window.livegatePlayground.transcript().some(l => l.role === 'assistant' && l.text.includes('You said: hello there'))")
    await until(browser, "window.livegatePlayground.stats.playedSamples > 0")
    await until(browser, "window.livegatePlayground.stats.bargeIns > 0")
    state = await asyncio.to_thread(page_state, browser)
    assert state["stats"]["appended"] > 10
    assert state["stats"]["playedSamples"] < state["stats"]["scheduledSamples"]  # the cut reply was not all played
    assert emulator.session().counters.interruptions >= 1
    await asyncio.to_thread(lambda: browser.find_element(By.ID, "mic").click())  # stop the microphone
    await until(browser, "!window.livegatePlayground.stats.playing", within=10)

    # A typed turn that calls the tool, answered from the page.
    await typed_tool_call(browser)
    state = await asyncio.to_thread(page_state, browser)
    assert any(line["role"] == "user" and "get_weather city=Paris" in line["text"] for line in state["transcript"])
    rows = await asyncio.to_thread(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#usage tbody tr")))
    assert rows == state["stats"]["responses"] > 0

    # An image from a file and a frame from the (fake) camera reach Gemini with the next turn.
    png = tmp_path / "red.png"
    png.write_bytes(PNG_1X1)
    await asyncio.to_thread(lambda: browser.find_element(By.ID, "image").send_keys(str(png)))
    await asyncio.to_thread(lambda: browser.find_element(By.ID, "camera").click())
    await until(browser, "window.livegatePlayground.transcript().filter(l => l.text === '[image]').length === 2")
    await asyncio.to_thread(type_and_send, browser, "what do you see")
    await until(browser, "window.livegatePlayground.transcript().some(l => l.role === 'assistant' && l.text.includes('what do you see'))")
    session = emulator.session()
    assert sum(h.images + h.video_frames for h in session.history) + session.counters.video_frames >= 2
    assert (await asyncio.to_thread(page_state, browser))["stats"]["errors"] == []

    # The real key never stays in the page, and the page fetched nothing but the gateway.
    assert await asyncio.to_thread(lambda: browser.find_element(By.ID, "key").get_attribute("value")) == ""
    hosts = await asyncio.to_thread(browser.execute_script, "return performance.getEntries().map(e => e.name).filter(n => n.startsWith('http'))")
    assert hosts and all(name.startswith(gateway.url) for name in hosts)
    await asyncio.to_thread(shoot, browser, "conversation")
    await asyncio.to_thread(browser.set_window_size, 412, 915)
    await asyncio.to_thread(shoot, browser, "phone")


async def test_the_playground_is_served_from_the_package_with_a_strict_policy(stack: tuple[EmulatorServer, Gateway]) -> None:
    _, gateway = stack
    async with aiohttp.ClientSession() as http:
        for name, kind in (("", "text/html"), ("playground.js", "text/javascript"), ("capture-worklet.js", "text/javascript"), ("playground.css", "text/css")):
            response = await http.get(f"{gateway.url}/playground/{name}")
            assert response.status == 200 and response.content_type == kind
            assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert (await http.get(f"{gateway.url}/playground/app.py")).status == 404
        redirect = await http.get(f"{gateway.url}/playground", allow_redirects=False)
        assert redirect.status == 302 and redirect.headers["Location"] == "/playground/"


async def test_push_to_talk_sends_what_is_said_while_the_button_is_held(browser: Any, stack: tuple[EmulatorServer, Gateway]) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    emulator, gateway = stack
    await asyncio.to_thread(browser.get, f"{gateway.url}/playground/")
    await until(browser, "document.getElementById('model').options.length > 0")

    def connect() -> None:
        Select(browser.find_element(By.ID, "transport")).select_by_value("websocket")
        browser.find_element(By.CSS_SELECTOR, 'input[name="turns"][value="push_to_talk"]').click()
        browser.find_element(By.ID, "echo").click()
        browser.find_element(By.ID, "connect").click()

    await asyncio.to_thread(connect)
    await until(browser, "document.getElementById('status').dataset.state === 'connected'")
    assert await until(browser, "!document.getElementById('ptt').hidden")
    await asyncio.sleep(1)  # nothing is sent while the button is up
    assert (await asyncio.to_thread(page_state, browser))["stats"]["appended"] == 0

    ptt = await asyncio.to_thread(browser.find_element, By.ID, "ptt")
    await asyncio.to_thread(lambda: ActionChains(browser).click_and_hold(ptt).perform())
    await until(browser, "window.livegatePlayground.stats.appended > 100")  # two seconds: the phrase comes round at least once
    await asyncio.to_thread(lambda: ActionChains(browser).release(ptt).perform())
    await until(browser, "window.livegatePlayground.transcript().some(l => l.role === 'assistant' && l.text.includes('You said:') && l.text.includes('hello there'))")
    sent = (await asyncio.to_thread(page_state, browser))["stats"]["appended"]
    await asyncio.sleep(0.5)
    assert (await asyncio.to_thread(page_state, browser))["stats"]["appended"] == sent  # released: the microphone is not sent
    assert emulator.session().setup.raw["realtimeInputConfig"]["automaticActivityDetection"]["disabled"] is True


async def test_the_playground_on_webrtc_holds_a_spoken_and_a_typed_turn_stops_on_barge_in_and_answers_a_tool(
    browser: Any, stack: tuple[EmulatorServer, Gateway]
) -> None:
    """The default transport: Chromium's own WebRTC, its Opus and its audio pipeline, to livegate's
    /v1/realtime/calls (issue 16)."""
    _, gateway = stack
    await asyncio.to_thread(browser.get, f"{gateway.url}/playground/")
    await until(browser, "document.getElementById('model').options.length > 0")
    assert await asyncio.to_thread(lambda: browser.find_element(By.ID, "transport").get_attribute("value")) == "webrtc"

    def connect() -> None:
        browser.find_element(By.ID, "echo").click()  # the fake microphone is not a room
        box = browser.find_element(By.ID, "tool")
        box.clear()
        box.send_keys(json.dumps(WEATHER_TOOL))
        browser.find_element(By.ID, "connect").click()

    await asyncio.to_thread(connect)
    await until(browser, "document.getElementById('status').dataset.state === 'connected'")
    assert gateway._calls, "the page did not open a WebRTC call"
    await asyncio.to_thread(lambda: browser.find_element(By.ID, "mic").click())

    # A spoken turn on the microphone track, its reply on the remote track; the words coming round
    # again in the fake microphone's loop cut the reply, and the server says so.
    await until(browser, "window.livegatePlayground.transcript().some(l => l.role === 'user' && l.text.includes('hello there'))", within=30)
    await until(browser, "window.livegatePlayground.transcript().some(l => l.role === 'assistant' && l.text.includes('You said: hello there'))")
    await until(browser, "window.livegatePlayground.stats.buffer.includes('started')")
    await until(browser, "window.livegatePlayground.audioEnergy().then(e => window.__energy = e) && window.__energy > 0")
    await until(browser, "window.livegatePlayground.stats.buffer.includes('cleared')", within=30)
    state = await asyncio.to_thread(page_state, browser)
    assert state["stats"]["appended"] == 0 and state["stats"]["transport"] == "webrtc"  # no audio in events
    assert state["stats"]["bargeIns"] >= 1
    await asyncio.to_thread(lambda: browser.find_element(By.ID, "mic").click())  # mute the microphone
    await until(browser, "!window.livegatePlayground.stats.playing", within=15)

    # A typed turn on the data channel that calls the tool, answered from the page.
    await typed_tool_call(browser)
    assert (await asyncio.to_thread(page_state, browser))["stats"]["errors"] == []
    await asyncio.to_thread(lambda: browser.find_element(By.ID, "disconnect").click())
    async with asyncio.timeout(10):
        while gateway._calls:  # noqa: ASYNC110 (the gateway's state, which has no event)
            await asyncio.sleep(0.1)
