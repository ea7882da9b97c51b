"""The gateway over TLS (issue 14): https:// and wss:// on one port, for clients that dial only wss://
(the openai JS SDK 7.x, the Python SDK's beta namespace). Real sockets on 127.0.0.1, the real openai SDK."""

from __future__ import annotations

import asyncio
import datetime
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from openai import AsyncOpenAI, DefaultAsyncHttpxClient

from livegate.config import embedded_config
from livegate.emulator.server import EmulatorServer
from livegate.emulator.state import EmulatorConfig
from livegate.errors import ConfigError
from livegate.gateway.app import Gateway
from livegate.tls import SelfSigned, fingerprint, self_signed, server_context
from tests.conftest import CertificateAuthority

MASTER_KEY = "sk-livegate-tls"
NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)


@dataclass
class TLSStack:
    gateway: Gateway
    cert: SelfSigned

    def trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert.certfile))

    def client(self, key: str = MASTER_KEY) -> AsyncOpenAI:
        return AsyncOpenAI(
            api_key=key, base_url=self.gateway.url + "/v1", websocket_base_url=self.gateway.ws_url,
            http_client=DefaultAsyncHttpxClient(verify=self.trust()),
        )  # fmt: skip


@pytest.fixture
async def tls_stack(tmp_path: Path) -> AsyncIterator[TLSStack]:
    cert = self_signed(tmp_path, "127.0.0.1", datetime.datetime.now(datetime.UTC))
    async with EmulatorServer(EmulatorConfig(turn_complete_after_playback=False)) as emulator:
        context = server_context(str(cert.certfile), str(cert.keyfile))
        async with Gateway(embedded_config(emulator.url), port=0, master_key=MASTER_KEY, ssl_context=context) as gateway:
            yield TLSStack(gateway, cert)


async def text_turn(connection: Any, text: str, *, beta: bool) -> str:
    await connection.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    )
    await connection.response.create()
    said = ""
    delta = "response.text.delta" if beta else "response.output_text.delta"
    async for event in connection:
        assert event.type != "error", event
        if event.type == delta:
            said += event.delta
        if event.type == "response.done":
            return said
    raise AssertionError("no response.done")


# ---- the certificate, without a gateway ----------------------------------------------------------


def test_a_self_signed_certificate_names_the_loopback_addresses_and_the_host(tmp_path: Path) -> None:
    made = self_signed(tmp_path, "gateway.internal", NOW)
    cert = x509.load_pem_x509_certificate(made.certfile.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost", "gateway.internal"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    assert made.names == ("localhost", "127.0.0.1", "::1", "gateway.internal")
    assert cert.not_valid_before_utc < NOW < cert.not_valid_after_utc
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_a_self_signed_key_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    made = self_signed(tmp_path, "127.0.0.1", NOW)
    assert made.keyfile.stat().st_mode & 0o777 == 0o600
    assert made.names == ("localhost", "127.0.0.1", "::1")


def test_the_fingerprint_is_sha256_of_the_certificate_in_openssl_notation(tmp_path: Path) -> None:
    made = self_signed(tmp_path, "127.0.0.1", NOW)
    from cryptography.hazmat.primitives import hashes

    digest = x509.load_pem_x509_certificate(made.certfile.read_bytes()).fingerprint(hashes.SHA256())
    assert made.fingerprint == fingerprint(made.certfile.read_bytes()) == digest.hex(":").upper()
    assert len(made.fingerprint) == 32 * 3 - 1


async def test_a_self_signed_certificate_validates_for_127_0_0_1_localhost_and_ipv6_loopback(tmp_path: Path) -> None:
    made = self_signed(tmp_path, "127.0.0.1", datetime.datetime.now(datetime.UTC))
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=server_context(str(made.certfile), str(made.keyfile)))
    port = server.sockets[0].getsockname()[1]
    trust = ssl.create_default_context(cafile=str(made.certfile))
    trust.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13's default: RFC 5280 to the letter
    try:
        for name in ("127.0.0.1", "localhost", "::1"):
            _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=trust, server_hostname=name)
            writer.close()
        with pytest.raises(ssl.SSLCertVerificationError, match=r"not valid for 'example\.com'"):
            await asyncio.open_connection("127.0.0.1", port, ssl=trust, server_hostname="example.com")
        with pytest.raises(ssl.SSLCertVerificationError, match="self-signed certificate"):
            await asyncio.open_connection("127.0.0.1", port, ssl=ssl.create_default_context(), server_hostname="localhost")
    finally:
        server.close()
        await server.wait_closed()


def test_a_chain_and_key_in_one_file_load_without_keyfile(tmp_path: Path, test_ca: CertificateAuthority) -> None:
    combined = tmp_path / "combined.pem"
    combined.write_bytes(test_ca.cert_file.read_bytes() + test_ca.key_file.read_bytes())
    assert isinstance(server_context(str(combined)), ssl.SSLContext)


def test_a_key_of_another_certificate_is_refused_naming_both_files(tmp_path: Path, test_ca: CertificateAuthority) -> None:
    other = self_signed(tmp_path, "127.0.0.1", NOW)
    with pytest.raises(ConfigError, match=re.escape(f"--keyfile {other.keyfile} does not hold the key of --certfile {test_ca.cert_file}")):
        server_context(str(test_ca.cert_file), str(other.keyfile))


def test_the_urls_say_https_and_wss_only_with_a_context(tmp_path: Path) -> None:
    made = self_signed(tmp_path, "127.0.0.1", NOW)
    config = embedded_config("ws://127.0.0.1:1")
    plain = Gateway(config, port=4000)
    secure = Gateway(config, port=4443, ssl_context=server_context(str(made.certfile), str(made.keyfile)))
    assert (plain.url, plain.ws_url) == ("http://127.0.0.1:4000", "ws://127.0.0.1:4000/v1")
    assert (secure.url, secure.ws_url) == ("https://127.0.0.1:4443", "wss://127.0.0.1:4443/v1")


# ---- the openai SDK over wss:// and https:// -----------------------------------------------------


async def test_openai_sdk_ga_text_turn_over_wss(tls_stack: TLSStack) -> None:
    assert tls_stack.gateway.ws_url.startswith("wss://127.0.0.1:")
    client = tls_stack.client()
    options: Any = {"ssl": tls_stack.trust()}  # passed on to websockets.connect
    async with client.realtime.connect(model="gpt-realtime", websocket_connection_options=options) as connection:
        assert (await connection.recv()).type == "session.created"
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        assert (await connection.recv()).type == "session.updated"
        assert await text_turn(connection, "over wss", beta=False) == "You said: over wss"


async def test_openai_sdk_beta_text_turn_over_wss_from_the_https_base_url(tls_stack: TLSStack) -> None:
    # The beta namespace turns base_url into wss:// whatever its scheme: without TLS it cannot reach
    # a gateway unless websocket_base_url is set as well.
    client = AsyncOpenAI(api_key=MASTER_KEY, base_url=tls_stack.gateway.url + "/v1")
    options: Any = {"ssl": tls_stack.trust()}
    async with client.beta.realtime.connect(model="gpt-realtime", websocket_connection_options=options) as connection:
        assert (await connection.recv()).type == "session.created"
        assert (await connection.recv()).type == "conversation.created"
        await connection.session.update(session={"modalities": ["text"]})
        assert (await connection.recv()).type == "session.updated"
        assert await text_turn(connection, "beta over wss", beta=True) == "You said: beta over wss"


async def test_models_and_a_client_secret_over_https_then_the_secret_over_wss(tls_stack: TLSStack) -> None:
    async with tls_stack.client() as client:
        models = [model.id async for model in client.models.list()]
        secret = await client.realtime.client_secrets.create(session={"type": "realtime", "model": "gpt-realtime", "instructions": "Be brief."})
    assert "gpt-realtime" in models
    assert secret.value.startswith("ek_")
    options: Any = {"ssl": tls_stack.trust()}
    async with tls_stack.client(secret.value).realtime.connect(model="gpt-realtime", websocket_connection_options=options) as connection:
        created = await connection.recv()
        assert created.type == "session.created"
        assert created.session.instructions == "Be brief."


@pytest.mark.parametrize(("path", "status"), [("/health", 200), ("/ready", 200), ("/metrics", 200), ("/playground/", 200), ("/playground", 302)])
async def test_the_operations_endpoints_and_the_playground_answer_over_https(tls_stack: TLSStack, path: str, status: int) -> None:
    async with aiohttp.ClientSession() as http:
        response = await http.get(tls_stack.gateway.url + path, ssl=tls_stack.trust(), allow_redirects=False)
        assert response.status == status
        assert response.url.scheme == "https"


async def test_a_tls_port_does_not_answer_plain_http(tls_stack: TLSStack) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientError):
            plain = tls_stack.gateway.url.replace("https://", "http://")
            await http.get(plain + "/health", timeout=aiohttp.ClientTimeout(total=5))


async def test_a_client_that_does_not_trust_the_certificate_is_refused_by_its_own_check(tls_stack: TLSStack) -> None:
    client = AsyncOpenAI(api_key=MASTER_KEY, websocket_base_url=tls_stack.gateway.ws_url)
    with pytest.raises(ssl.SSLCertVerificationError):
        async with client.realtime.connect(model="gpt-realtime"):
            pass
