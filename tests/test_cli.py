"""The command line: help for every option, exit code 2 on bad input, a real emulator process."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import re
import shutil
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import websockets

from livegate.cli import build_parser, main
from livegate.errors import HandshakeError
from livegate.keys import Accounts, new_key, shown
from livegate.store import open_store
from livegate.tls import self_signed
from tests.conftest import CertificateAuthority
from tests.net import free_port, wait_for_port

EMULATOR_OPTIONS = [
    "--host", "--port", "--tls-port", "--certfile", "--keyfile", "--api-key", "--connection-lifetime", "--go-away-lead",
    "--session-limit", "--latency-ms", "--audio-pace", "--no-playback-delay", "--scenario", "--lenient", "--any-model",
    "--log-level",
]


def test_emulator_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["emulator", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "It is a test double, not a model" in text
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices["emulator"]  # type: ignore[union-attr]
    for action in sub._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, action.option_strings
    for option in EMULATOR_OPTIONS:
        assert option in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["emulator", "--port", "-1"], "must not be negative"),
        (["emulator", "--latency-ms", "fast"], "expected a number"),
        (["emulator", "--scenario", "/no/such/file.yaml"], "neither a named scenario"),
        (["emulator", "--tls-port", "4443"], "--tls-port needs --certfile and --keyfile"),
        (["bogus"], "invalid choice"),
    ],
)
def test_bad_input_exits_with_2_and_says_why(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as exited:
        code = int(exited.code or 0)
    assert code == 2
    assert message in capsys.readouterr().err


def test_a_port_in_use_exits_with_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main(["emulator", "--port", str(busy.getsockname()[1])]) == 2
    assert "cannot listen on" in capsys.readouterr().err


async def test_livegate_emulator_serves_both_paths_as_a_process() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livegate", "emulator", "--port", str(port), "--api-key", "k", "--no-playback-delay",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        url = f"ws://127.0.0.1:{port}/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent?key=k"
        await wait_for_port(port)
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"setup": {"model": "models/gemini-3.8-live", "outputAudioTranscription": {}}}))
            assert json.loads(await ws.recv()) == {"setupComplete": {}}
            await ws.send(json.dumps({"realtimeInput": {"text": "from a process"}}))
            said = ""
            while True:
                message = json.loads(await ws.recv())
                said += message.get("serverContent", {}).get("outputTranscription", {}).get("text", "")
                if message.get("serverContent", {}).get("turnComplete"):
                    break
        assert said == "You said: from a process"
    finally:
        process.terminate()
        output, _ = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0
    assert "test double, not a model" in output.decode()


def test_serve_refuses_a_public_address_without_a_master_key(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIVEGATE_MASTER_KEY", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", str(free_port())]) == 2
    assert "refusing to listen on 0.0.0.0 without a master key" in capsys.readouterr().err


def test_serve_stops_on_bad_configuration_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("model_list: [{model_name: x, litellm_params: {model: azure/gpt}}]")
    assert main(["serve", "--config", str(config), "--port", str(free_port())]) == 2
    assert f"{config}: model_list[0] (x): litellm_params.model" in capsys.readouterr().err


def test_serve_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    for option in (
        "--config", "--host", "--port", "--master-key", "LIVEGATE_MASTER_KEY", "embedded Gemini Live emulator",
        "--certfile", "--keyfile", "--self-signed", "SHA-256 fingerprint",
    ):  # fmt: skip
        assert option in " ".join(text.split())


async def test_readme_quickstart_gets_a_text_reply_through_the_openai_sdk() -> None:
    """The README's first command, `livegate serve`, then the README's client snippet."""
    from openai import AsyncOpenAI

    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livegate", "serve", "--port", str(port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        await wait_for_port(port)
        client = AsyncOpenAI(api_key="anything", websocket_base_url=f"ws://127.0.0.1:{port}/v1")
        reply = await realtime_turn(client, "hello")
    finally:
        process.terminate()
        output, _ = await asyncio.wait_for(process.communicate(), 10)
    assert reply == "You said: hello"
    banner = output.decode()
    assert "embedded Gemini Live emulator" in banner
    assert "no master key: any API key is accepted, listening on loopback only" in banner


async def test_the_master_key_from_the_environment_guards_the_gateway() -> None:
    import os

    import aiohttp

    port = free_port()
    env = dict(os.environ, LIVEGATE_MASTER_KEY="sk-from-env")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livegate", "serve", "--port", str(port), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await wait_for_port(port)
        url = f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime"
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(url, headers={"Authorization": "Bearer wrong"})
            assert refused.value.status == 401
            async with http.ws_connect(url, headers={"Authorization": "Bearer sk-from-env"}) as ws:
                assert (await ws.receive_json())["type"] == "session.created"
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)


async def worker_pids(url: str, workers: int, trust: ssl.SSLContext | None = None) -> set[int]:
    """The process ids behind ``url``'s /health, asked until ``workers`` different ones have answered."""
    import aiohttp

    pids: set[int] = set()
    connector = aiohttp.TCPConnector(force_close=True, ssl=trust if trust is not None else True)  # a new connection each time: the kernel picks a worker
    async with aiohttp.ClientSession(connector=connector) as http, asyncio.timeout(20):
        while len(pids) < workers:
            try:
                pids.add((await (await http.get(f"{url}/health")).json())["pid"])
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)  # the second worker may still be starting
    return pids


async def test_workers_share_one_port_and_stop_together() -> None:
    from openai import AsyncOpenAI

    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livegate", "serve", "--workers", "2", "--port", str(port),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await wait_for_port(port)
        assert process.pid not in await worker_pids(f"http://127.0.0.1:{port}", 2)
        client = AsyncOpenAI(api_key="any", websocket_base_url=f"ws://127.0.0.1:{port}/v1")
        assert await realtime_turn(client, "workers") == "You said: workers"
    finally:
        process.terminate()
        _, errors = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 0, errors.decode()


# ---- TLS (issue 14) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--self-signed", "--certfile", "cert.pem"], "--self-signed makes its own certificate and key"),
        (["--self-signed", "--keyfile", "key.pem"], "--self-signed makes its own certificate and key"),
        (["--keyfile", "key.pem"], "--keyfile needs --certfile"),
        (["--certfile", "/no/such/cert.pem"], "--certfile /no/such/cert.pem: no such file"),
        (["--certfile", "CERT", "--keyfile", "/no/such/key.pem"], "--keyfile /no/such/key.pem: no such file"),
        (["--certfile", "CERT"], "no private key in it; pass --keyfile"),
        (["--certfile", "KEY", "--keyfile", "KEY"], "no PEM certificate in it"),
        (["--certfile", "CERT", "--keyfile", "OTHER_KEY"], "does not hold the key of --certfile"),
    ],
)
def test_serve_refuses_bad_tls_flags_with_exit_code_2(
    argv: list[str], message: str, test_ca: CertificateAuthority, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = self_signed(tmp_path, "127.0.0.1", datetime.datetime.now(datetime.UTC))
    files = {"CERT": str(test_ca.cert_file), "KEY": str(test_ca.key_file), "OTHER_KEY": str(other.keyfile)}
    assert main(["serve", "--port", str(free_port()), *(files.get(a, a) for a in argv)]) == 2
    assert message in capsys.readouterr().err


async def read_until(stream: asyncio.StreamReader, marker: str) -> str:
    """The process's output up to and including the line holding ``marker``."""
    text = ""
    async with asyncio.timeout(15):
        while marker not in text:
            line = await stream.readline()
            assert line, f"the process ended before saying {marker!r}:\n{text}"
            text += line.decode()
    return text


async def realtime_turn(client: Any, text: str) -> str:
    async with client.realtime.connect(model="gpt-realtime") as connection:
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await connection.conversation.item.create(item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
        await connection.response.create()
        reply = ""
        async for event in connection:
            if event.type == "response.output_text.delta":
                reply += event.delta
            if event.type == "response.done":
                return reply
    raise AssertionError("no response.done")


def peer_fingerprint(port: int, server_hostname: str, trust: ssl.SSLContext) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, trust.wrap_socket(raw, server_hostname=server_hostname) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return hashlib.sha256(der).digest().hex(":").upper()


async def test_serve_self_signed_says_where_its_certificate_is_and_serves_wss_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """`livegate serve --self-signed`, then the banner's advice: SSL_CERT_FILE=<its file> for the openai SDK."""
    from openai import AsyncOpenAI

    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livegate", "serve", "--self-signed", "--port", str(port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        banner = await read_until(process.stdout, "trust it: SSL_CERT_FILE=")
        certfile = Path(re.search(r"SSL_CERT_FILE=(\S+)", banner)[1])  # type: ignore[index]
        shown = re.search(r"\(SHA-256 ([0-9A-F:]{95})\)", banner)[1]  # type: ignore[index]
        assert f"livegate on https://127.0.0.1:{port}: OpenAI Realtime (GA and beta) at wss://127.0.0.1:{port}/v1/realtime" in banner
        assert "self-signed certificate for localhost, 127.0.0.1, ::1 " in banner
        assert certfile.parent.stat().st_mode & 0o777 == 0o700
        trust = ssl.create_default_context(cafile=str(certfile))
        for name in ("127.0.0.1", "localhost"):
            assert peer_fingerprint(port, name, trust) == shown
        monkeypatch.setenv("SSL_CERT_FILE", str(certfile))  # read by websockets' default context and httpx's
        async with AsyncOpenAI(api_key="anything", websocket_base_url=f"wss://127.0.0.1:{port}/v1", base_url=f"https://127.0.0.1:{port}/v1") as client:
            assert "gpt-realtime" in [model.id async for model in client.models.list()]
            assert await realtime_turn(client, "over wss") == "You said: over wss"
    finally:
        process.terminate()
        output, _ = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0, output.decode()
    assert not certfile.parent.exists()  # the key is gone with the process


async def test_serve_with_certfile_and_keyfile_serves_the_beta_namespace_over_wss(test_ca: CertificateAuthority) -> None:
    from openai import AsyncOpenAI

    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livegate", "serve", "--certfile", str(test_ca.cert_file), "--keyfile", str(test_ca.key_file),
        "--port", str(port), "--master-key", "sk-tls",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        banner = await read_until(process.stdout, "connect: ")
        assert f"websocket_base_url='wss://127.0.0.1:{port}/v1'" in banner
        assert f"TLS: certificate {test_ca.cert_file} (SHA-256 " in banner
        client = AsyncOpenAI(api_key="sk-tls", websocket_base_url=f"wss://127.0.0.1:{port}/v1")
        options: Any = {"ssl": test_ca.client_context()}
        async with client.beta.realtime.connect(model="gpt-realtime", websocket_connection_options=options) as connection:
            assert (await connection.recv()).type == "session.created"
            await connection.session.update(session={"modalities": ["text"]})
            await connection.conversation.item.create(item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "beta"}]})
            await connection.response.create()
            reply = ""
            async for event in connection:
                if event.type == "response.text.delta":
                    reply += event.delta
                if event.type == "response.done":
                    break
        assert reply == "You said: beta"
    finally:
        process.terminate()
        output, _ = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0, output.decode()


async def test_workers_serve_the_one_self_signed_certificate_their_parent_made(monkeypatch: pytest.MonkeyPatch) -> None:
    from openai import AsyncOpenAI

    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livegate", "serve", "--workers", "2", "--self-signed", "--port", str(port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        banner = await read_until(process.stdout, "trust it: SSL_CERT_FILE=")
        assert f"livegate on https://127.0.0.1:{port} with 2 worker processes" in banner
        certfile = Path(re.search(r"SSL_CERT_FILE=(\S+)", banner)[1])  # type: ignore[index]
        trust = ssl.create_default_context(cafile=str(certfile))
        await wait_for_port(port)
        assert process.pid not in await worker_pids(f"https://127.0.0.1:{port}", 2, trust)
        monkeypatch.setenv("SSL_CERT_FILE", str(certfile))
        client = AsyncOpenAI(api_key="any", websocket_base_url=f"wss://127.0.0.1:{port}/v1")
        assert await realtime_turn(client, "workers over wss") == "You said: workers over wss"
    finally:
        process.terminate()
        output, _ = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 0, output.decode()
    assert not certfile.parent.exists()


def keys_config(tmp_path: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        "model_list: [{model_name: live, litellm_params: {model: gemini/gemini-3.8-live, api_key: studio-key}}]\n"
        f"general_settings: {{master_key: sk-master, database_url: 'sqlite:///{tmp_path}/keys.db'}}\n"
    )
    return config


def test_keys_revoke_takes_the_full_key_and_shows_only_its_prefix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = keys_config(tmp_path)
    assert main(["keys", "create", "--name", "team-a", "--config", str(config)]) == 0
    key = capsys.readouterr().out.strip()
    assert main(["keys", "revoke", key, "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"revoked 1 key: team-a ({shown(key)})"
    assert key not in out + err

    async def authorize() -> HandshakeError:
        store = await open_store(f"sqlite:///{tmp_path}/keys.db")
        try:
            with pytest.raises(HandshakeError) as refused:
                await Accounts(store, master_key="sk-master").authorize(key, "live", 0.0)
            return refused.value
        finally:
            await store.close()

    refused = asyncio.run(authorize())
    assert (refused.status, refused.message) == (401, "This API key has been revoked.")


@pytest.mark.parametrize("revoked_before", [False, True], ids=["unknown", "already-revoked"])
def test_keys_revoke_of_a_key_it_cannot_revoke_exits_2_without_echoing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], revoked_before: bool
) -> None:
    config = keys_config(tmp_path)
    assert main(["keys", "create", "--name", "team-a", "--config", str(config)]) == 0
    key = capsys.readouterr().out.strip() if revoked_before else new_key()
    if revoked_before:
        assert main(["keys", "revoke", "team-a", "--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["keys", "revoke", key, "--config", str(config)]) == 2
    out, err = capsys.readouterr()
    assert key not in out + err
    assert f"livegate: no active key matches {shown(key)} by name, prefix or full key" in err


def test_keys_revoke_of_a_shared_name_revokes_every_key_with_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = keys_config(tmp_path)
    keys = []
    for _ in range(2):
        assert main(["keys", "create", "--name", "team-b", "--config", str(config)]) == 0
        keys.append(capsys.readouterr().out.strip())
    assert main(["keys", "revoke", "team-b", "--config", str(config)]) == 0
    assert capsys.readouterr().out.strip() == f"revoked 2 keys: team-b ({shown(keys[0])}), team-b ({shown(keys[1])})"
    assert main(["keys", "revoke", "team-b", "--config", str(config)]) == 2
    assert "no active key matches 'team-b' by name, prefix or full key" in capsys.readouterr().err


def test_sqlite_wal_files_beside_the_default_database_are_ignored_by_git() -> None:
    root = Path(__file__).resolve().parents[1]
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    if subprocess.run([git, "-C", str(root), "rev-parse"], capture_output=True).returncode != 0:
        pytest.skip(f"{root} is not a git checkout")
    # store.py opens SQLite with journal_mode=WAL, which keeps these two files beside livegate.db.
    names = ["livegate.db", "livegate.db-wal", "livegate.db-shm"]
    checked = subprocess.run([git, "-C", str(root), "check-ignore", *names], capture_output=True, text=True)
    assert checked.stdout.split() == names, checked.stderr
