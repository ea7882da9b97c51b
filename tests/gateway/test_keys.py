"""Virtual keys and usage over real sockets: keys made with the CLI, refused before the upgrade with the
statuses OpenAI clients know, live sessions ended on revocation, and the cost of every response
recorded from Gemini's usageMetadata in each backend's field names (issue 8)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import websockets
from openai import AsyncOpenAI

from livegate import cli
from livegate.config import database_url, load_config
from livegate.emulator.server import EmulatorServer
from livegate.emulator.state import EmulatorConfig
from livegate.gateway import app as gateway_app
from livegate.gateway.app import Gateway
from livegate.keys import create_key_record, new_key
from livegate.store import open_store

MASTER_KEY = "sk-livegate-master"
VERTEX_PRICE = {"input_cost_per_token": 1e-6, "output_cost_per_token": 4e-6}


@dataclass
class Stack:
    emulator: EmulatorServer
    gateway: Gateway
    config: Path
    clients: list[AsyncOpenAI] = field(default_factory=list)

    def url(self, model: str) -> str:
        return f"ws://127.0.0.1:{self.gateway.port}/v1/realtime?model={model}"

    def client(self, key: str) -> AsyncOpenAI:
        client = AsyncOpenAI(api_key=key, base_url=self.gateway.url + "/v1", websocket_base_url=self.gateway.ws_url, max_retries=0)
        self.clients.append(client)
        return client


def write_config(tmp_path: Path, emulator: EmulatorServer, extra: str = "") -> Path:
    key_file = tmp_path / "sa.json"
    emulator.write_service_account(key_file, project="vertex-proj")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
model_list:
  - model_name: vertex-live
    litellm_params:
      model: vertex_ai/gemini-live-2.5-flash
      vertex_project: vertex-proj
      vertex_location: us-central1
      vertex_credentials: {key_file}
      api_base: {emulator.http_url}
      input_cost_per_token: {VERTEX_PRICE["input_cost_per_token"]}
      output_cost_per_token: {VERTEX_PRICE["output_cost_per_token"]}
  - model_name: studio-live
    litellm_params:
      model: gemini/gemini-2.5-flash-native-audio-preview-12-2025
      api_key: studio-key
      api_base: {emulator.http_url}
  - model_name: unpriced-live
    litellm_params:
      model: gemini/gemini-3.8-live
      api_key: studio-key
      api_base: {emulator.http_url}
general_settings:
  master_key: {MASTER_KEY}
  database_url: sqlite:///{tmp_path}/keys.db
{extra}"""
    )
    return config


@pytest.fixture
async def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Stack]:
    monkeypatch.setattr(gateway_app, "KEY_CHECK_S", 0.2)
    async with EmulatorServer(EmulatorConfig(api_key="studio-key", turn_complete_after_playback=False)) as emulator:
        config = write_config(tmp_path, emulator)
        async with Gateway(load_config(config), port=0) as gateway:
            stack = Stack(emulator, gateway, config)
            yield stack
            for client in stack.clients:
                await client.close()


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def make_key(stack: Stack, name: str, **limits: Any) -> str:
    """Through the same store as the CLI: the CLI itself runs its own event loop, so async tests use this."""
    store = await open_store(database_url(load_config(stack.config)))
    try:
        key = new_key()
        await store.add_key(create_key_record(key, name, **limits))
        return key
    finally:
        await store.close()


async def refused(url: str, key: str) -> tuple[int, dict[str, Any]]:
    with pytest.raises(websockets.InvalidStatus) as exc:
        await websockets.connect(url, additional_headers={"Authorization": f"Bearer {key}"})
    response = exc.value.response
    return response.status_code, json.loads(response.body or b"{}")


async def text_turn(ws: websockets.ClientConnection, text: str) -> dict[str, Any]:
    """One text response over a raw socket; returns response.done's response."""
    await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}))
    await ws.send(json.dumps({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}))
    await ws.send(json.dumps({"type": "response.create"}))
    async with asyncio.timeout(10):
        while True:
            event = json.loads(await ws.recv())
            assert event["type"] != "error", event
            if event["type"] == "response.done":
                return dict(event["response"])


async def test_a_virtual_key_made_by_the_cli_opens_its_model_and_nothing_else(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = await asyncio.to_thread(run_cli, capsys, "keys", "create", "--name", "team-a", "--models", "vertex-live", "--config", str(stack.config))
    assert code == 0, err
    key = out.strip()
    assert key.startswith("lg-") and "shown only this once" in err
    async with stack.client(key).realtime.connect(model="vertex-live") as connection:
        assert (await connection.recv()).type == "session.created"
    status, body = await refused(stack.url("studio-live"), key)
    assert status == 403
    assert body["error"]["code"] == "model_not_allowed"
    status, body = await refused(stack.url("vertex-live"), key[:-1] + ("A" if key[-1] != "A" else "B"))
    assert (status, body["error"]["code"]) == (401, "invalid_api_key")
    # The database holds the hash, never the key.
    assert key.encode() not in (stack.config.parent / "keys.db").read_bytes()


async def test_revoked_and_expired_keys_get_401(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    key = await make_key(stack, "leaver")
    expired = await make_key(stack, "old", expires_at=time.time() - 1)
    code, out, _ = await asyncio.to_thread(run_cli, capsys, "keys", "revoke", "leaver", "--config", str(stack.config))
    assert (code, out.strip()) == (0, f"revoked 1 key: leaver ({key[:10]}…)")
    for k, message in ((key, "revoked"), (expired, "expired")):
        status, body = await refused(stack.url("vertex-live"), k)
        assert status == 401
        assert body["error"]["code"] == "invalid_api_key" and message in body["error"]["message"]
    code, _, err = await asyncio.to_thread(run_cli, capsys, "keys", "revoke", "nobody", "--config", str(stack.config))
    assert code == 2 and "nobody" in err


async def test_a_live_session_ends_within_seconds_of_revocation(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    key = await make_key(stack, "revoked-live")
    async with websockets.connect(stack.url("vertex-live"), additional_headers={"Authorization": f"Bearer {key}"}) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        await text_turn(ws, "before")
        code, _, _ = await asyncio.to_thread(run_cli, capsys, "keys", "revoke", key[:10] + "…", "--config", str(stack.config))
        assert code == 0
        async with asyncio.timeout(5):
            event = json.loads(await ws.recv())
            assert event["type"] == "error"
            assert event["error"]["code"] == "invalid_api_key"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_over_budget_and_over_concurrency_get_429(stack: Stack) -> None:
    key = await make_key(stack, "thrifty", budget_usd=1e-9)
    async with websockets.connect(stack.url("vertex-live"), additional_headers={"Authorization": f"Bearer {key}"}) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        response = await text_turn(ws, "spend my budget")
        assert response["usage"]["total_tokens"] > 0
    status, body = await refused(stack.url("vertex-live"), key)
    assert (status, body["error"]["code"]) == (429, "insufficient_quota")

    single = await make_key(stack, "single", max_sessions=1)
    async with websockets.connect(stack.url("vertex-live"), additional_headers={"Authorization": f"Bearer {single}"}) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        status, body = await refused(stack.url("vertex-live"), single)
        assert (status, body["error"]["code"]) == (429, "rate_limit_exceeded")
    async with asyncio.timeout(5):  # the slot is free again once the first session has ended
        while True:
            try:
                async with websockets.connect(stack.url("vertex-live"), additional_headers={"Authorization": f"Bearer {single}"}) as ws:
                    assert json.loads(await ws.recv())["type"] == "session.created"
                    break
            except websockets.InvalidStatus:
                await asyncio.sleep(0.05)


async def test_minutes_per_day_are_enforced(stack: Stack) -> None:
    key = await make_key(stack, "minutes", minutes_per_day=0.5 / 60)  # half a second
    async with websockets.connect(stack.url("vertex-live"), additional_headers={"Authorization": f"Bearer {key}"}) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        await asyncio.sleep(0.6)
    status, body = await refused(stack.url("vertex-live"), key)
    assert (status, body["error"]["code"]) == (429, "rate_limit_exceeded")


async def test_usage_is_recorded_per_response_with_cost_from_each_backends_field_names(
    stack: Stack, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    key = await make_key(stack, "reporter")
    seen: dict[str, dict[str, Any]] = {}
    reported: dict[str, dict[str, Any]] = {}  # usageMetadata as the emulator sent it
    with caplog.at_level(logging.WARNING, logger="livegate.keys"):
        for model in ("vertex-live", "studio-live", "unpriced-live"):
            async with websockets.connect(stack.url(model), additional_headers={"Authorization": f"Bearer {key}"}) as ws:
                assert json.loads(await ws.recv())["type"] == "session.created"
                seen[model] = await text_turn(ws, f"count my tokens on {model}")
            reported[model] = stack.emulator.session().usage_sent[-1]
        async with asyncio.timeout(5):
            while True:  # usage is written a moment after the session ends (gateway/ledger.py)
                code, out, err = await asyncio.to_thread(run_cli, capsys, "usage", "--json", "--config", str(stack.config))
                assert code == 0, err
                rows = {row["model"]: row for row in json.loads(out)}
                if len(rows) == 3:
                    break
                await asyncio.sleep(0.05)
    assert "gemini-3.8-live has no price" in caplog.text
    # Vertex names the output candidatesTokenCount, AI Studio responseTokenCount (gemini-live.md §5.3).
    vertex, studio = reported["vertex-live"], reported["studio-live"]
    assert "candidatesTokenCount" in vertex and "responseTokenCount" not in vertex
    assert "responseTokenCount" in studio and "candidatesTokenCount" not in studio
    assert rows["vertex-live"]["key"] == "reporter"
    assert rows["vertex-live"]["input_tokens"] == vertex["promptTokenCount"]
    assert rows["vertex-live"]["output_tokens"] == vertex["candidatesTokenCount"] + vertex.get("thoughtsTokenCount", 0)
    expected = vertex["promptTokenCount"] * VERTEX_PRICE["input_cost_per_token"] + rows["vertex-live"]["output_tokens"] * VERTEX_PRICE["output_cost_per_token"]
    assert rows["vertex-live"]["cost_usd"] == pytest.approx(expected, abs=1e-6)
    assert rows["vertex-live"]["unpriced_responses"] == 0

    def modality(details: list[dict[str, Any]], name: str) -> int:
        return sum(d["tokenCount"] for d in details if d["modality"] == name)

    audio_out = modality(studio["responseTokensDetails"], "AUDIO")
    audio_in = modality(studio.get("promptTokensDetails", []), "AUDIO")
    assert audio_out > 0  # a native-audio model speaks even when asked for text
    assert rows["studio-live"]["input_tokens"] == studio["promptTokenCount"]
    assert rows["studio-live"]["output_tokens"] == studio["responseTokenCount"] + studio.get("thoughtsTokenCount", 0)
    assert rows["studio-live"]["output_audio_tokens"] == audio_out
    text_in, text_out = studio["promptTokenCount"] - audio_in, rows["studio-live"]["output_tokens"] - audio_out
    # The default price of the native-audio Flash models: text in 0.50, audio in 3.00, text out 2.00, audio out 12.00 per million.
    studio_cost = (text_in * 0.5 + audio_in * 3 + text_out * 2 + audio_out * 12) / 1e6
    assert rows["studio-live"]["cost_usd"] == pytest.approx(studio_cost, abs=1e-6)
    assert rows["unpriced-live"]["unpriced_responses"] == 1
    assert rows["unpriced-live"]["cost_usd"] == 0
    for model, response in seen.items():  # the client saw the same figures
        assert response["usage"]["input_tokens"] == rows[model]["input_tokens"]
    code, out, _ = await asyncio.to_thread(run_cli, capsys, "usage", "--by", "session", "--json", "--config", str(stack.config))
    sessions = {row["model"]: row for row in json.loads(out)}
    assert code == 0 and len(sessions) == 3
    assert all(row["session"].startswith("sess_") and row["key"] == "reporter" and row["responses"] == 1 for row in sessions.values())
    assert sessions["vertex-live"]["cost_usd"] == rows["vertex-live"]["cost_usd"]
    code, out, _ = await asyncio.to_thread(run_cli, capsys, "usage", "--config", str(stack.config))
    assert code == 0 and out.splitlines()[0].split()[:3] == ["key", "model", "day"]

    code, out, _ = await asyncio.to_thread(run_cli, capsys, "keys", "list", "--json", "--config", str(stack.config))
    listed = {k["name"]: k for k in json.loads(out)}
    assert listed["reporter"]["spent_usd"] == pytest.approx(rows["vertex-live"]["cost_usd"] + rows["studio-live"]["cost_usd"], abs=1e-6)
    assert all("lg-" not in json.dumps(v) or v["prefix"].endswith("…") for v in listed.values())


async def test_a_session_over_its_cost_cap_ends_with_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with EmulatorServer(EmulatorConfig(api_key="studio-key", turn_complete_after_playback=False)) as emulator:
        config = load_config(write_config(tmp_path, emulator, "  max_session_cost_usd: 0.000000001\n"))
        async with Gateway(config, port=0) as gateway:
            url = f"ws://127.0.0.1:{gateway.port}/v1/realtime?model=vertex-live"
            async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {MASTER_KEY}"}) as ws:
                assert json.loads(await ws.recv())["type"] == "session.created"
                await text_turn(ws, "expensive")
                async with asyncio.timeout(5):
                    event = json.loads(await ws.recv())
                    assert (event["type"], event["error"]["code"]) == ("error", "session_cost_limit")
                    with pytest.raises(websockets.ConnectionClosed) as closed:
                        await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


# ---- ephemeral client secrets (openai-realtime.md §7) ------------------------------------------


async def test_a_ga_client_secret_opens_one_session_of_its_model_with_its_configuration(stack: Stack) -> None:
    secret = await stack.client(MASTER_KEY).realtime.client_secrets.create(
        expires_after={"anchor": "created_at", "seconds": 120},
        session={"type": "realtime", "model": "vertex-live", "instructions": "Speak like a pirate.", "audio": {"output": {"voice": "marin"}}},
    )
    assert secret.value.startswith("ek_")
    assert 115 <= secret.expires_at - time.time() <= 121
    assert secret.session.instructions == "Speak like a pirate."
    # Another model: refused, and the secret is not spent by the refusal.
    status, body = await refused(stack.url("studio-live"), secret.value)
    assert (status, body["error"]["code"]) == (403, "model_not_allowed")
    async with stack.client(secret.value).realtime.connect(model="vertex-live") as connection:
        created = await connection.recv()
        assert created.type == "session.created"
        assert created.session.instructions == "Speak like a pirate."
        assert created.session.audio.output.voice == "marin"
    status, body = await refused(stack.url("vertex-live"), secret.value)
    assert status == 401 and "already been used" in body["error"]["message"]


async def test_a_beta_session_key_works_in_the_browser_subprotocol_and_is_never_echoed(stack: Stack) -> None:
    session = await stack.client(MASTER_KEY).beta.realtime.sessions.create(model="vertex-live", instructions="Be terse.", modalities=["text"])  # type: ignore[arg-type]
    assert session.client_secret.value.startswith("ek_")
    assert session.modalities == ["text"] and session.instructions == "Be terse."
    protocols = ["realtime", f"openai-insecure-api-key.{session.client_secret.value}", "openai-beta.realtime-v1"]
    async with websockets.connect(stack.url("vertex-live"), subprotocols=protocols) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == "realtime"
        created = json.loads(await ws.recv())
        assert created["session"]["instructions"] == "Be terse." and created["session"]["modalities"] == ["text"]
        assert json.loads(await ws.recv())["type"] == "conversation.created"
        await ws.send(json.dumps({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}}))
        await ws.send(json.dumps({"type": "response.create"}))
        async with asyncio.timeout(10):
            while (event := json.loads(await ws.recv()))["type"] != "response.done":
                assert event["type"] != "error", event
    assert stack.emulator.session().setup.system_instruction == "Be terse."
    assert ws.response is not None and ws.response.headers["Sec-WebSocket-Protocol"] == "realtime"


async def test_secrets_are_refused_when_expired_unauthenticated_or_badly_asked_for(stack: Stack) -> None:
    secret = await stack.client(MASTER_KEY).realtime.client_secrets.create(session={"type": "realtime", "model": "vertex-live"})
    store = await open_store(database_url(load_config(stack.config)))
    try:
        from livegate.keys import hash_key

        record = await store.secret(hash_key(secret.value))
        assert record is not None and not record.used
        assert 595 <= record.expires_at - time.time() <= 601  # the GA default of 600 s
        await store._execute("UPDATE secrets SET expires_at = ? WHERE id = ?", time.time() - 1, record.id)
    finally:
        await store.close()
    status, body = await refused(stack.url("vertex-live"), secret.value)
    assert status == 401 and "expired" in body["error"]["message"]

    import openai

    with pytest.raises(openai.AuthenticationError):
        await stack.client("wrong").realtime.client_secrets.create(session={"type": "realtime", "model": "vertex-live"})
    with pytest.raises(openai.BadRequestError, match=r"expires_after\.seconds"):
        await stack.client(MASTER_KEY).realtime.client_secrets.create(expires_after={"anchor": "created_at", "seconds": 5}, session={"type": "realtime", "model": "vertex-live"})
    with pytest.raises(openai.BadRequestError, match=r"session\.temperature"):
        await stack.client(MASTER_KEY).beta.realtime.sessions.create(model="vertex-live", temperature=5)  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError):
        await stack.client(MASTER_KEY).realtime.client_secrets.create(session={"type": "realtime", "model": "no-such-model"})
    # An ephemeral key cannot mint another.
    child = await stack.client(MASTER_KEY).realtime.client_secrets.create(session={"type": "realtime", "model": "vertex-live"})
    with pytest.raises(openai.AuthenticationError):
        await stack.client(child.value).realtime.client_secrets.create(session={"type": "realtime", "model": "vertex-live"})


async def test_minting_checks_the_key_before_the_body(stack: Stack) -> None:
    """As OpenAI does: a bad body with no key, or a wrong one, is a 401; only a caller it knows gets the 400."""
    import aiohttp

    bad_bodies = [b"{not json", json.dumps({"expires_after": {"anchor": "created_at", "seconds": 5}, "session": {"type": "realtime", "model": "vertex-live"}}).encode()]
    callers = [({}, 401, "missing_api_key"), ({"Authorization": "Bearer lg-wrong"}, 401, "invalid_api_key"), ({"Authorization": f"Bearer {MASTER_KEY}"}, 400, None)]
    async with aiohttp.ClientSession() as http:
        for path in ("/v1/realtime/client_secrets", "/v1/realtime/sessions"):
            for body in bad_bodies:
                for headers, status, code in callers:
                    async with http.post(stack.gateway.url + path, data=body, headers={"Content-Type": "application/json", **headers}) as response:
                        error = (await response.json())["error"]
                        assert response.status == status, (path, body, headers, error)
                        assert code is None or error["code"] == code


async def test_a_secret_minted_by_a_virtual_key_carries_its_limits_and_its_bill(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    key = await make_key(stack, "minter", models=("vertex-live",))
    import openai

    with pytest.raises(openai.PermissionDeniedError):
        await stack.client(key).realtime.client_secrets.create(session={"type": "realtime", "model": "studio-live"})
    secret = await stack.client(key).realtime.client_secrets.create(session={"type": "realtime", "model": "vertex-live"})
    async with websockets.connect(stack.url("vertex-live"), additional_headers={"Authorization": f"Bearer {secret.value}"}) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        await text_turn(ws, "bill my minter")
    async with asyncio.timeout(5):
        while True:
            code, out, err = await asyncio.to_thread(run_cli, capsys, "usage", "--json", "--config", str(stack.config))
            assert code == 0, err
            rows = json.loads(out)
            if rows:
                break
            await asyncio.sleep(0.05)
    assert [(r["key"], r["model"], r["responses"]) for r in rows] == [("minter", "vertex-live", 1)]
    # Revoking the minter voids the secrets it issued.
    other = await stack.client(key).realtime.client_secrets.create(session={"type": "realtime", "model": "vertex-live"})
    await asyncio.to_thread(run_cli, capsys, "keys", "revoke", "minter", "--config", str(stack.config))
    status, _ = await refused(stack.url("vertex-live"), other.value)
    assert status == 401


async def test_the_model_list_shows_what_a_key_may_use_with_backend_and_price(stack: Stack) -> None:
    import aiohttp

    key = await make_key(stack, "lister", models=("vertex-live",))
    async with aiohttp.ClientSession() as http:
        assert (await http.get(f"{stack.gateway.url}/v1/models")).status == 401
        everything = await (await http.get(f"{stack.gateway.url}/v1/models", headers={"Authorization": f"Bearer {MASTER_KEY}"})).json()
        mine = await (await http.get(f"{stack.gateway.url}/v1/models", headers={"Authorization": f"Bearer {key}"})).json()
    assert everything["object"] == "list"
    models = {m["id"]: m for m in everything["data"]}
    assert set(models) == {"vertex-live", "studio-live", "unpriced-live"}
    assert models["vertex-live"]["livegate"]["backend"] == "vertex"
    assert models["vertex-live"]["livegate"]["price"]["input_cost_per_token"] == VERTEX_PRICE["input_cost_per_token"]
    assert models["unpriced-live"]["livegate"]["price"] is None
    assert [m["id"] for m in mine["data"]] == ["vertex-live"]


async def test_a_cancelled_response_is_billed_with_the_usage_gemini_reported_for_its_turn(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    key = await make_key(stack, "canceller")
    async with websockets.connect(stack.url("vertex-live"), additional_headers={"Authorization": f"Bearer {key}"}) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a long answer please"}]}
        await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
        await ws.send(json.dumps({"type": "response.create"}))
        async with asyncio.timeout(10):
            while (event := json.loads(await ws.recv()))["type"] != "response.created":
                pass
            await ws.send(json.dumps({"type": "response.cancel"}))  # the client stops it at once
            while (event := json.loads(await ws.recv()))["type"] != "response.done":
                pass
        assert event["response"]["status"] == "cancelled"
        await asyncio.sleep(0.3)  # Gemini's turn runs to its end, and its turnComplete carries the usage
    reported = stack.emulator.session().usage_sent
    assert len(reported) == 1
    async with asyncio.timeout(5):
        while True:
            code, out, err = await asyncio.to_thread(run_cli, capsys, "usage", "--by", "session", "--json", "--config", str(stack.config))
            assert code == 0, err
            rows = [row for row in json.loads(out) if row["key"] == "canceller"]
            if rows:
                break
            await asyncio.sleep(0.05)
    assert rows[0]["responses"] == 1
    assert rows[0]["input_tokens"] == reported[0]["promptTokenCount"]
    assert rows[0]["output_tokens"] == reported[0]["candidatesTokenCount"] + reported[0].get("thoughtsTokenCount", 0) > 0
    assert rows[0]["cost_usd"] > 0
