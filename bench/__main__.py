"""``python -m bench``: livegate against a baseline measured in the same run.

With no ``--url`` it starts the Gemini Live emulator in this process, livegate and the baseline
pass-through (bench/passthrough.py) as processes pinned to one core, and this load generator on the
other: every figure is livegate's next to the baseline's, and their ratio. Latency is measured on
one clock (the generator and the emulator share a process): a frame from the client's send to the
emulator's receipt; a turn from the emulator sending the reply's first audio to the client receiving it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from bench.load import Load, LoadResult
from livegate.emulator.server import EmulatorServer
from livegate.emulator.state import EmulatorConfig

WARMUP_S = 1.0  # frames sent before this are left out: the upstream is being opened
LATENCY_LIMIT_MS = 20.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    name: str
    process: asyncio.subprocess.Process
    url: str
    startup_s: float

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pin(pid: int, cpu: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setaffinity(pid, {cpu % (os.cpu_count() or 1)})


async def start_server(name: str, argv: list[str], port: int, path: str) -> Server:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    pin(process.pid, 0)
    async with asyncio.timeout(30):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.01)
                continue
            writer.close()
            break
    return Server(name, process, f"ws://127.0.0.1:{port}{path}", time.perf_counter() - started)


async def stop_server(server: Server) -> None:
    with contextlib.suppress(ProcessLookupError):
        server.process.terminate()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(server.process.wait(), 10)


@contextlib.asynccontextmanager
async def servers(emulator: EmulatorServer, workdir: Path) -> AsyncIterator[tuple[Server, Server]]:
    config = workdir / "config.yaml"
    config.write_text(
        "model_list:\n  - model_name: gpt-realtime\n    litellm_params:\n"
        f"      model: gemini/gemini-3.8-live\n      api_key: bench\n      api_base: {emulator.http_url}\n"
    )
    port = free_port()
    livegate = await start_server(
        "livegate",
        [sys.executable, "-m", "livegate", "serve", "--config", str(config), "--port", str(port), "--log-level", "warning"],
        port,
        "/v1/realtime?model=gpt-realtime",
    )
    port = free_port()
    baseline = await start_server(
        "baseline", [sys.executable, "-m", "bench.passthrough", "--port", str(port), "--upstream", emulator.url], port, "/v1/realtime?model=gpt-realtime"
    )
    try:
        yield livegate, baseline
    finally:
        await stop_server(livegate)
        await stop_server(baseline)


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None}
    array = np.asarray(values) * 1000
    return {"p50": round(float(np.percentile(array, 50)), 3), "p99": round(float(np.percentile(array, 99)), 3)}


def latencies(emulator: EmulatorServer, result: LoadResult) -> tuple[list[float], list[float]]:
    """Per-frame and per-turn latencies of one run, matched to the emulator's own timestamps."""
    by_marker = {s.setup.system_instruction: s for s in emulator.state.sessions.values()}
    frames: list[float] = []
    turns: list[float] = []
    cutoff = result.started + WARMUP_S
    for stats in result.sessions:
        session = by_marker.get(stats.marker)
        if session is None:
            continue
        frames += [arrived - sent for sent, arrived in zip(stats.sent, session.audio_arrivals, strict=False) if sent >= cutoff]
        turns += [received - sent for sent, received in zip(session.first_audio_sent, stats.first_audio, strict=False)]
    return frames, turns


async def measure(emulator: EmulatorServer, server: Server, sessions: int, duration: float, label: str) -> dict[str, Any]:
    load = Load(server.url, "bench", f"{label}-{server.name}")
    cpu_before = server.cpu_seconds()
    result = await load.run(sessions, duration)
    cpu = server.cpu_seconds() - cpu_before
    frames, turns = latencies(emulator, result)
    sent = sum(len(s.sent) for s in result.sessions)
    return {
        "sessions": sessions,
        "frames_sent": sent,
        "frame_latency_ms": percentiles(frames),
        "first_audio_ms": percentiles(turns),
        "turns": len(turns),
        "cpu_us_per_input_frame": round(cpu / sent * 1e6, 2) if sent else None,
        "errors": sum(s.errors for s in result.sessions),
        "generator_late_ms_p99": percentiles(result.tick_lateness)["p99"],
    }


async def idle_memory(server: Server, count: int) -> float:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        await asyncio.sleep(0.3)
        before = server.rss_kib()
        sockets = []
        for _ in range(count):
            ws = await http.ws_connect(server.url, headers={"Authorization": "Bearer bench"})
            await ws.receive()
            await ws.send_str(json.dumps({"type": "session.update", "session": {"type": "realtime", "instructions": "idle"}}))
            await ws.receive()
            sockets.append(ws)
        await asyncio.sleep(0.3)
        after = server.rss_kib()
        for ws in sockets:
            await ws.close()
    return round((after - before) / count, 1)


def progress(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def added(livegate: dict[str, Any], baseline: dict[str, Any], key: str, stat: str) -> float | None:
    a, b = livegate[key][stat], baseline[key][stat]
    return round(a - b, 3) if a is not None and b is not None else None


async def run_local(args: argparse.Namespace) -> dict[str, Any]:
    pin(os.getpid(), 1)
    emulator = EmulatorServer(
        EmulatorConfig(record_timing=True, turn_complete_after_playback=False, session_limit_s=None, video_session_limit_s=None)
    )
    await emulator.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            async with servers(emulator, Path(folder)) as (livegate, baseline):
                main = {
                    server.name: await measure(emulator, server, args.sessions, args.duration, "main")
                    for server in (livegate, baseline)
                }
                progress(f"main run done ({args.sessions} sessions, {args.duration} s each)")
                ramp = []
                capacity: int | None = None
                bound = "not reached"
                for level in args.ramp:
                    step = {s.name: await measure(emulator, s, level, args.ramp_duration, f"ramp{level}") for s in (livegate, baseline)}
                    extra = added(step["livegate"], step["baseline"], "frame_latency_ms", "p99")
                    late = max(step["livegate"]["generator_late_ms_p99"] or 0, step["baseline"]["generator_late_ms_p99"] or 0)
                    ramp.append({"sessions": level, "added_p99_ms": extra, "generator_late_ms_p99": late})
                    progress(f"{level} sessions: added p99 {extra} ms, generator late p99 {late} ms")
                    if late > LATENCY_LIMIT_MS:
                        bound = f"the load generator (it ran {late:.0f} ms late at {level} sessions)"
                        break
                    if extra is None or extra >= LATENCY_LIMIT_MS:
                        bound = f"added p99 latency {extra} ms at {level} sessions"
                        break
                    capacity = level
                memory = {s.name: await idle_memory(s, args.idle_sessions) for s in (livegate, baseline)}
                startup = {s.name: round(s.startup_s, 3) for s in (livegate, baseline)}
    finally:
        await emulator.stop()
    lg, base = main["livegate"], main["baseline"]
    return {
        "cpu_us_per_input_frame": lg["cpu_us_per_input_frame"],
        "added_latency_ms_p50": added(lg, base, "frame_latency_ms", "p50"),
        "added_latency_ms_p99": added(lg, base, "frame_latency_ms", "p99"),
        "first_audio_added_ms_p50": added(lg, base, "first_audio_ms", "p50"),
        "first_audio_added_ms_p99": added(lg, base, "first_audio_ms", "p99"),
        "max_sessions_per_core": capacity,
        "max_sessions_bound_by": bound,
        # What the CPU figure allows when the load generator, not the gateway, stops the measurement.
        "cpu_bound_sessions_per_core": round(1e6 / (lg["cpu_us_per_input_frame"] * 50)) if lg["cpu_us_per_input_frame"] else None,
        "idle_session_kib": memory["livegate"],
        "startup_s": startup["livegate"],
        "ratios": {
            "cpu_per_frame": ratio(lg["cpu_us_per_input_frame"], base["cpu_us_per_input_frame"]),
            "frame_latency_p50": ratio(lg["frame_latency_ms"]["p50"], base["frame_latency_ms"]["p50"]),
            "frame_latency_p99": ratio(lg["frame_latency_ms"]["p99"], base["frame_latency_ms"]["p99"]),
            "first_audio_p50": ratio(lg["first_audio_ms"]["p50"], base["first_audio_ms"]["p50"]),
            "idle_session_memory": ratio(memory["livegate"], memory["baseline"]),
            "startup": ratio(startup["livegate"], startup["baseline"]),
        },
        "livegate": lg | {"idle_session_kib": memory["livegate"], "startup_s": startup["livegate"]},
        "baseline": base | {"idle_session_kib": memory["baseline"], "startup_s": startup["baseline"]},
        "ramp": ramp,
    }


async def run_remote(args: argparse.Namespace) -> dict[str, Any]:
    """Any OpenAI Realtime endpoint: what a client sees, with no server-side timestamps or baseline."""
    url = args.url if "model=" in args.url else f"{args.url}{'&' if '?' in args.url else '?'}model={args.model}"
    result = await Load(url, args.key, "remote").run(args.sessions, args.duration)
    return {
        "cpu_us_per_input_frame": None,
        "added_latency_ms_p50": None,
        "added_latency_ms_p99": None,
        "first_audio_added_ms_p50": None,
        "max_sessions_per_core": None,
        "idle_session_kib": None,
        "startup_s": None,
        "remote": {
            "sessions": args.sessions,
            "responses_with_audio": sum(len(s.first_audio) for s in result.sessions),
            "errors": sum(s.errors for s in result.sessions),
            "generator_late_ms_p99": percentiles(result.tick_lateness)["p99"],
        },
    }


def table(report: dict[str, Any]) -> str:
    machine = report["machine"]
    lines = [f"livegate benchmark: {machine['cores']} cores, load {machine['loadavg']}, {machine['platform']}, Python {machine['python']}"]
    if "livegate" not in report:
        return "\n".join([*lines, json.dumps(report["remote"], indent=2)])
    lg, base, ratios = report["livegate"], report["baseline"], report["ratios"]
    rows = [
        ("frame latency p50 (ms)", lg["frame_latency_ms"]["p50"], base["frame_latency_ms"]["p50"], ratios["frame_latency_p50"]),
        ("frame latency p99 (ms)", lg["frame_latency_ms"]["p99"], base["frame_latency_ms"]["p99"], ratios["frame_latency_p99"]),
        ("first audio p50 (ms)", lg["first_audio_ms"]["p50"], base["first_audio_ms"]["p50"], ratios["first_audio_p50"]),
        ("CPU per input frame (us)", lg["cpu_us_per_input_frame"], base["cpu_us_per_input_frame"], ratios["cpu_per_frame"]),
        ("memory per idle session (KiB)", lg["idle_session_kib"], base["idle_session_kib"], ratios["idle_session_memory"]),
        ("start to ready (s)", lg["startup_s"], base["startup_s"], ratios["startup"]),
    ]
    lines.append(f"{'':32} {'livegate':>10} {'baseline':>10} {'ratio':>7}")
    lines += [f"{name:32} {a!s:>10} {b!s:>10} {r!s:>7}" for name, a, b, r in rows]
    lines.append(
        f"added latency per frame: p50 {report['added_latency_ms_p50']} ms, p99 {report['added_latency_ms_p99']} ms; "
        f"added to first audio: p50 {report['first_audio_added_ms_p50']} ms ({lg['sessions']} sessions, {lg['turns']} turns)"
    )
    lines.append(f"sessions on one core with p99 added latency under 20 ms: {report['max_sessions_per_core']} (stopped by {report['max_sessions_bound_by']})")
    lines.append(f"sessions one core's CPU allows at 50 frames a second each: {report['cpu_bound_sessions_per_core']}")
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sessions", type=int, default=50, help="concurrent sessions in the main run (default 50)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of streaming per run (default 10)")
    parser.add_argument("--url", help="measure this OpenAI Realtime WebSocket URL instead of starting livegate")
    parser.add_argument("--key", default="bench", help="API key for --url")
    parser.add_argument("--model", default="gpt-realtime", help="model for --url (default gpt-realtime)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--ramp", default="50,100,200,300,400,500", help="session counts tried for capacity on one core")
    parser.add_argument("--ramp-duration", type=float, default=5.0, help="seconds per capacity step (default 5)")
    parser.add_argument("--idle-sessions", type=int, default=200, help="idle sessions for the memory figure (default 200)")
    args = parser.parse_args(argv)
    try:
        args.ramp = [int(n) for n in args.ramp.split(",") if n]
    except ValueError:
        parser.error("--ramp takes comma-separated session counts")
    if args.sessions < 1 or args.duration <= WARMUP_S:
        parser.error(f"--sessions must be positive and --duration above {WARMUP_S} s")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    report = asyncio.run(run_remote(args) if args.url else run_local(args))
    report["machine"] = {
        "cores": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    print(table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
