"""The ``livegate`` command. Bad input exits with status 2 and a message naming the culprit."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import ssl
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from livegate import __version__
from livegate.errors import ConfigError
from livegate.logs import configure

if TYPE_CHECKING:
    from livegate.tls import SelfSigned

__all__ = ["main"]

log = logging.getLogger("livegate")


def _positive(kind: type[float] | type[int]) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"must not be negative, got {text!r}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livegate", description=__doc__)
    parser.add_argument("--version", action="version", version=f"livegate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the gateway: OpenAI Realtime clients on Gemini Live",
        description=(
            "Serve the OpenAI Realtime API (GA and beta) on /v1/realtime and /realtime, translated to Gemini Live "
            "on Vertex AI or Google AI Studio. Without --config every model is served by the embedded Gemini "
            "Live emulator, so the first run needs no Google account."
        ),
    )
    serve.add_argument("--config", help="a YAML file in LiteLLM's model_list shape (see the README)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=_positive(int), default=4000, help="port to listen on (default: 4000)")
    serve.add_argument(
        "--master-key",
        help="the key clients must present (also LIVEGATE_MASTER_KEY or general_settings.master_key); without one "
        "the gateway accepts any key and listens on loopback only",
    )
    serve.add_argument(
        "--workers",
        type=_positive(int),
        default=1,
        help="gateway processes sharing the port, one per core (default 1; Linux SO_REUSEPORT)",
    )
    serve.add_argument(
        "--certfile",
        metavar="PEM",
        help="serve https:// and wss:// on --port with this certificate chain; it may hold the private key too",
    )
    serve.add_argument("--keyfile", metavar="PEM", help="the private key of --certfile, unless --certfile holds it")
    serve.add_argument(
        "--self-signed",
        action="store_true",
        help="serve https:// and wss:// with a fresh self-signed certificate for localhost, 127.0.0.1, ::1 and "
        "--host, for local use; its file and SHA-256 fingerprint are logged, and it is removed when livegate stops",
    )
    serve.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"], help="log verbosity (default: info)"
    )
    serve.add_argument(
        "--log-format", default="text", choices=["text", "json"], help="text for people, json (one object per line) for log pipelines"
    )
    serve.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one of --workers' processes
    serve.add_argument("--embedded-emulator", help=argparse.SUPPRESS)  # the parent's emulator, for workers

    keys = commands.add_parser("keys", help="virtual keys: create, list, revoke", description="Virtual keys, stored hashed in the database of --config (general_settings.database_url), LIVEGATE_DATABASE_URL, or ./livegate.db.")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = key_commands.add_parser("create", help="issue a key; it is shown once")
    create.add_argument("--name", required=True, help="a name to find the key by")
    create.add_argument("--models", help="comma-separated model names the key may use (default: all)")
    create.add_argument("--budget", type=_positive(float), metavar="USD", help="spending limit in US dollars")
    create.add_argument("--expires-in", type=_positive(float), metavar="SECONDS", help="the key stops working after this long")
    create.add_argument("--max-sessions", type=_positive(int), help="concurrent sessions allowed")
    create.add_argument("--minutes-per-day", type=_positive(float), help="session-minutes allowed per UTC day")
    listing = key_commands.add_parser("list", help="the keys, without their secrets")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    revoke = key_commands.add_parser("revoke", help="revoke a key by name, prefix or the key itself; live sessions on it end within seconds")
    revoke.add_argument("key", help="the key's name, the prefix shown by list, or the full key")
    for sub in (create, listing, revoke):
        sub.add_argument("--config", help="the gateway's config.yaml (for general_settings.database_url)")
    usage = commands.add_parser("usage", help="usage and cost by key, model and day", description="Usage and cost recorded by the gateway, by key, model and UTC day.")
    usage.add_argument("--config", help="the gateway's config.yaml (for general_settings.database_url)")
    usage.add_argument("--json", action="store_true", help="JSON instead of a table")
    usage.add_argument("--by", choices=("day", "session"), default="day", help="by key, model and day (default), or summed per session")

    emulator = commands.add_parser(
        "emulator",
        help="run the Gemini Live emulator (a test double of Google's service, not a model)",
        description=(
            "Serve a protocol-faithful emulator of Gemini Live (BidiGenerateContent) on the Google AI Studio "
            "and Vertex AI paths. It is a test double, not a model: it answers with a deterministic script: it repeats the user's words "
            "(\"You said: ...\"), calls a declared function whose name the user says, and speaks with a "
            "synthetic voice whose audio it can also hear back. Also serves POST /token (OAuth for "
            "service accounts and user credentials), POST /v1alpha/auth_tokens (ephemeral tokens) and "
            "GET /emulator/sessions (per-session counters)."
        ),
    )
    emulator.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    emulator.add_argument("--port", type=_positive(int), default=4001, help="plain ws:// and http:// port (default: 4001)")
    emulator.add_argument("--tls-port", type=_positive(int), help="also serve wss:// and https:// on this port")
    emulator.add_argument("--certfile", help="TLS certificate chain (PEM) for --tls-port")
    emulator.add_argument("--keyfile", help="TLS private key (PEM) for --tls-port")
    emulator.add_argument(
        "--api-key",
        help="the key AI Studio clients must present (x-goog-api-key or ?key=); without it any non-empty key is accepted",
    )
    emulator.add_argument(
        "--connection-lifetime",
        type=_positive(float),
        metavar="SECONDS",
        help="close each connection after this long with 1011, sending goAway first (real service: about 600)",
    )
    emulator.add_argument(
        "--go-away-lead",
        type=_positive(float),
        default=60.0,
        metavar="SECONDS",
        help="send goAway this long before the connection lifetime ends (default 60, at most half the lifetime)",
    )
    emulator.add_argument(
        "--session-limit",
        type=_positive(float),
        default=900.0,
        metavar="SECONDS",
        help="end sessions without context window compression after this long (default 900: 15 minutes of audio)",
    )
    emulator.add_argument(
        "--latency-ms", type=_positive(float), default=0.0, help="delay before the first frame of every reply (default 0)"
    )
    emulator.add_argument(
        "--audio-pace",
        type=_positive(float),
        default=0.0,
        help="send reply audio at this multiple of real time; 0 sends it as fast as it is made (default 0)",
    )
    emulator.add_argument(
        "--no-playback-delay",
        action="store_true",
        help="send turnComplete at once instead of after the reply audio would have played",
    )
    emulator.add_argument(
        "--scenario",
        default="echo",
        help="a named script (echo, flaky) or a YAML/JSON file with 'turns' and 'faults' (see the README)",
    )
    emulator.add_argument("--lenient", action="store_true", help="ignore unknown fields instead of closing with 1007")
    emulator.add_argument(
        "--any-model", action="store_true", help="serve any model name instead of the catalogue of real Live models"
    )
    emulator.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"], help="log verbosity (default: info)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure(getattr(args, "log_level", "warning"), getattr(args, "log_format", "text"))
    commands = {"emulator": _run_emulator, "serve": _run_serve, "keys": _run_keys, "usage": _run_usage}
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(commands[args.command](args))
    except ConfigError as exc:
        print(f"livegate: {exc}", file=sys.stderr)
        return ConfigError.exit_code
    except KeyboardInterrupt:
        return 130


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop (libuv) where it is installed: asyncio's own loop costs more per frame than the gateway does."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


@dataclass(frozen=True)
class ServeTLS:
    context: ssl.SSLContext
    certfile: str
    keyfile: str | None
    self_signed: SelfSigned | None = None


async def _run_serve(args: argparse.Namespace) -> int:
    if args.self_signed and (args.certfile or args.keyfile):
        raise ConfigError("--self-signed makes its own certificate and key: give it without --certfile and --keyfile")
    if args.keyfile and not args.certfile:
        raise ConfigError("--keyfile needs --certfile")
    with contextlib.ExitStack() as cleanup:
        return await _serve(args, _serve_tls(args, cleanup))


def _serve_tls(args: argparse.Namespace, cleanup: contextlib.ExitStack) -> ServeTLS | None:
    """The context for --certfile, or for a self-signed certificate made once (in the parent of workers)."""
    import datetime
    import tempfile
    from pathlib import Path

    from livegate.tls import self_signed, server_context

    if args.certfile:
        return ServeTLS(server_context(args.certfile, args.keyfile), args.certfile, args.keyfile)
    if not args.self_signed:
        return None
    # mkdtemp makes the folder private to this user; the key never outlives the process.
    folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="livegate-tls-")))
    made = self_signed(folder, args.host, datetime.datetime.now(datetime.UTC))
    return ServeTLS(server_context(str(made.certfile), str(made.keyfile)), str(made.certfile), str(made.keyfile), made)


def _log_tls(tls: ServeTLS | None) -> None:
    if tls is None:
        return
    if tls.self_signed is None:
        from pathlib import Path

        from livegate.tls import fingerprint

        log.info("TLS: certificate %s (SHA-256 %s)", tls.certfile, fingerprint(Path(tls.certfile).read_bytes()))
        return
    made = tls.self_signed
    log.info(
        "TLS: a self-signed certificate for %s (SHA-256 %s) in %s, removed when livegate stops",
        ", ".join(made.names), made.fingerprint, made.certfile,
    )  # fmt: skip
    log.info(
        "trust it: SSL_CERT_FILE=%s for Python clients (openai, websockets, httpx), NODE_EXTRA_CA_CERTS=%s for Node "
        "(the openai JS SDK)",
        made.certfile, made.certfile,
    )  # fmt: skip


async def _serve(args: argparse.Namespace, tls: ServeTLS | None) -> int:
    from livegate.config import embedded_config, load_config
    from livegate.emulator.server import EmulatorServer
    from livegate.emulator.state import EmulatorConfig
    from livegate.gateway.app import Gateway

    config = load_config(args.config) if args.config else None
    master_key = args.master_key or os.environ.get("LIVEGATE_MASTER_KEY") or (config.master_key if config else None)
    if master_key is None and args.host not in LOOPBACK and not args.host.startswith("127."):
        raise ConfigError(f"refusing to listen on {args.host} without a master key (--master-key or LIVEGATE_MASTER_KEY)")
    if args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    emulator = None
    if config is None and args.embedded_emulator:
        config = embedded_config(args.embedded_emulator)
    elif config is None:
        emulator = EmulatorServer(EmulatorConfig())
        await emulator.start()
        config = embedded_config(emulator.url)
    if args.workers > 1:
        try:
            return await _run_workers(args, emulator.url if emulator else None, tls)
        finally:
            if emulator is not None:
                await emulator.stop()
    gateway = Gateway(
        config, host=args.host, port=args.port, master_key=master_key, reuse_port=args.worker,
        ssl_context=tls.context if tls else None,
    )  # fmt: skip
    try:
        await gateway.start()
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    if args.worker:
        await _wait_for_signal()
        await gateway.stop(grace_s=config.limits.shutdown_grace_s)
        return 0
    log.info("livegate on %s: OpenAI Realtime (GA and beta) at %s/realtime", gateway.url, gateway.ws_url)
    _log_tls(tls)
    if emulator is not None:
        log.info(
            "no --config: every model is served by the embedded Gemini Live emulator at %s "
            "(a test double that answers \"You said: ...\", not a model)",
            emulator.url,
        )
    else:
        for name, deployment in config.deployments.items():
            log.info("model %s -> %s/%s", name, deployment.route.flavour.value, deployment.route.model_id)
    if master_key is None:
        log.info("no master key: any API key is accepted, listening on loopback only")
    log.info(
        "connect: AsyncOpenAI(api_key=..., websocket_base_url=%r).realtime.connect(model=\"gpt-realtime\")",
        gateway.ws_url,
    )
    await _wait_for_signal()
    log.info("stopping: no new sessions; live ones get %g s to finish", config.limits.shutdown_grace_s)
    await gateway.stop(grace_s=config.limits.shutdown_grace_s)
    if emulator is not None:
        await emulator.stop()
    return 0


async def _run_workers(args: argparse.Namespace, emulator_url: str | None, tls: ServeTLS | None) -> int:
    """N processes on one port: the kernel spreads connections over them (SO_REUSEPORT)."""
    argv = [sys.executable, "-m", "livegate", "serve", "--worker", "--host", args.host, "--port", str(args.port)]
    argv += ["--log-level", args.log_level, "--log-format", args.log_format]
    if args.config:
        argv += ["--config", args.config]
    if args.master_key:
        argv += ["--master-key", args.master_key]
    if emulator_url:
        argv += ["--embedded-emulator", emulator_url]
    if tls is not None:  # a self-signed certificate too: made once here, so every worker serves the same
        argv += ["--certfile", tls.certfile] + (["--keyfile", tls.keyfile] if tls.keyfile else [])
    children = [await asyncio.create_subprocess_exec(*argv) for _ in range(args.workers)]
    scheme = "http" if tls is None else "https"
    log.info("livegate on %s://%s:%d with %d worker processes: OpenAI Realtime at /v1/realtime", scheme, args.host, args.port, args.workers)
    _log_tls(tls)
    if emulator_url:
        log.info("no --config: every model is served by the embedded Gemini Live emulator at %s", emulator_url)
    stop = asyncio.ensure_future(_wait_for_signal())
    exits = [asyncio.ensure_future(child.wait()) for child in children]
    done, _ = await asyncio.wait([stop, *exits], return_when=asyncio.FIRST_COMPLETED)
    failed = stop not in done
    for child in children:
        if child.returncode is None:
            child.terminate()
    await asyncio.gather(*exits)
    stop.cancel()
    if failed:
        raise ConfigError(f"a worker stopped with exit code {next(c.returncode for c in children if c.returncode is not None)}")
    return 0


async def _open_store(args: argparse.Namespace) -> Any:
    from livegate.config import database_url, load_config
    from livegate.store import open_store

    config = load_config(args.config) if args.config else None
    url = database_url(config)
    try:
        return await open_store(url)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot open the database {url}: {exc}") from None


async def _run_keys(args: argparse.Namespace) -> int:
    import time

    from livegate.keys import create_key_record, hash_key, new_key

    store = await _open_store(args)
    try:
        if args.keys_command == "create":
            key = new_key()
            models = tuple(m.strip() for m in args.models.split(",") if m.strip()) if args.models else ()
            expires = time.time() + args.expires_in if args.expires_in else None
            record = create_key_record(
                key, args.name, models=models, budget_usd=args.budget, expires_at=expires,
                max_sessions=args.max_sessions, minutes_per_day=args.minutes_per_day,
            )  # fmt: skip
            await store.add_key(record)
            print(key)
            print(f"key {record.prefix} ({args.name}) created; the key is shown only this once", file=sys.stderr)
        elif args.keys_command == "list":
            rows = [
                {"name": k.name, "prefix": k.prefix, "models": list(k.models), "budget_usd": k.budget_usd, "spent_usd": round(await store.spent(k.id), 6),
                 "expires_at": k.expires_at, "max_sessions": k.max_sessions, "minutes_per_day": k.minutes_per_day, "revoked": k.revoked}
                for k in await store.keys()
            ]  # fmt: skip
            print(json.dumps(rows, indent=2) if args.json else _table(rows))
        else:
            # The full key is found by its hash, as the gateway finds it; it is never echoed back.
            revoked = await store.revoke(args.key, key_id=hash_key(args.key))
            if not revoked:
                raise ConfigError(f"no active key matches {_echoed(args.key)} by name, prefix or full key")
            names = ", ".join(f"{k.name} ({k.prefix})" for k in revoked)
            print(f"revoked {len(revoked)} key{'s' if len(revoked) > 1 else ''}: {names}")
    finally:
        await store.close()
    return 0


def _echoed(name_or_key: str) -> str:
    """An operator's argument fit for a message: a full key only by its display prefix."""
    from livegate.keys import KEY_PREFIX, shown

    short = shown(name_or_key)
    return short if name_or_key.startswith(KEY_PREFIX) and len(name_or_key) >= len(short) else repr(name_or_key)


async def _run_usage(args: argparse.Namespace) -> int:
    store = await _open_store(args)
    try:
        rows = await store.report() if args.by == "day" else await store.report_sessions()
    finally:
        await store.close()
    print(json.dumps(rows, indent=2) if args.json else _table(rows))
    return 0


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(none)"
    columns = list(rows[0])
    cells = [[("" if row[c] is None else str(row[c])) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _run_emulator(args: argparse.Namespace) -> int:
    from livegate.emulator.script import load_scenario
    from livegate.emulator.server import EmulatorServer
    from livegate.emulator.state import EmulatorConfig

    context = None
    if args.tls_port is not None:
        if not args.certfile or not args.keyfile:
            raise ConfigError("--tls-port needs --certfile and --keyfile")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(args.certfile, args.keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"--certfile/--keyfile: cannot load the certificate: {exc}") from None
    config = EmulatorConfig(
        api_key=args.api_key,
        strict=not args.lenient,
        connection_lifetime_s=args.connection_lifetime,
        go_away_lead_s=args.go_away_lead,
        session_limit_s=args.session_limit,
        latency_ms=args.latency_ms,
        audio_pace=args.audio_pace,
        turn_complete_after_playback=not args.no_playback_delay,
        scenario=load_scenario(args.scenario),
        accept_any_model=args.any_model,
    )
    server = EmulatorServer(config, host=args.host, port=args.port, tls_port=args.tls_port, ssl_context=context)
    try:
        await server.start()
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    log.info("Gemini Live emulator (a test double, not a model) on %s", server.url)
    if context is not None:
        log.info("TLS on %s", server.tls_url)
    log.info(
        "AI Studio: %s/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent", server.url
    )
    log.info("Vertex AI: %s/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent", server.url)
    await _wait_for_signal()
    await server.stop()
    return 0
