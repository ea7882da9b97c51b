"""``python -m bench``: livegate against two pass-throughs measured in the same run.

With no ``--url`` it starts the Gemini Live emulator in this process, then livegate, the baseline
(bench/passthrough.py: aiohttp on asyncio's loop) and the floor (bench/passthrough_picows.py: the same
work on picows callbacks under uvloop) as processes pinned to core 0, and drives each in turn from
core 1 with the load generator (bench/load.py). Every figure is livegate's next to both
pass-throughs', with its ratio to each; the ramp measures every level, 300 sessions included.

Latency is measured on one clock: a frame from the client's send to the emulator's receipt; a turn
from the emulator sending the reply's first audio to the client receiving it. The emulator stays in
this process on purpose. On two cores it would share core 1 with the generator whatever process it
ran in, and two busy processes on one core put the scheduler's delays into the receipt times; in one
event loop a frame is timed when the loop reaches it, in order. What the harness adds is then the same
for every server, and bounded by the floor's own latency ("added" is a server's latency minus a
pass-through's). That holds only while core 1 keeps up, so each run also reports how late the
generator's timer fired, how busy this process kept core 1 (both after the warm-up), and how much of
each core other processes took. Two things keep the harness cheap: the generator (one timer, frames
framed and masked once, picows readers) and the emulator's shell (bench/emulator.py: its own model on
picows callbacks). At 300 sessions against the floor on a quiet machine the harness kept core 1 about
62 % busy and ran 1-2 ms late at p99; at 500 it saturates, and the capacity line says the harness,
not the server, stopped the ramp.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.util
import json
import os
import platform
import shlex
import signal
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
import uvloop

from bench.emulator import PicowsEmulator
from bench.load import Load, LoadResult
from livegate.emulator.state import EmulatorConfig

WARMUP_S = 1.0  # frames sent before this are left out: the upstream is being opened
LATENCY_LIMIT_MS = 20.0
NOISE_PERCENT = 15.0  # of a core, taken by other processes during a run: with --retries, measured again
QUIET_PERCENT = 10.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
REALTIME_PATH = "/v1/realtime?model=gpt-realtime"
LIVEGATE, BASELINE, FLOOR = "livegate", "baseline", "floor"


@dataclass
class Server:
    name: str
    process: asyncio.subprocess.Process
    url: str
    startup_s: float

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def pids(self) -> list[int]:
        """The server and every process under it (a server may fork workers)."""
        found, queue = [], [self.pid]
        while queue:
            pid = queue.pop()
            found.append(pid)
            with contextlib.suppress(OSError):
                for task in Path(f"/proc/{pid}/task").iterdir():
                    queue += [int(child) for child in (task / "children").read_text().split()]
        return found

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / CLOCK_TICKS

    def rss_kib(self) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pin(pid: int, cpu: int) -> None:
    """Every thread of ``pid`` to one core (sched_setaffinity alone moves only the one thread)."""
    cpus = {cpu % (os.cpu_count() or 1)}
    try:
        tasks = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        tasks = [pid]
    for task in tasks:
        with contextlib.suppress(OSError, AttributeError):
            os.sched_setaffinity(task, cpus)


async def start_server(name: str, argv: list[str], port: int, ready_within: float = 30) -> Server:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    pin(process.pid, 0)
    async with asyncio.timeout(ready_within):
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"{name} exited with {process.returncode} before listening: {shlex.join(argv)}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.01)
                continue
            writer.close()
            break
    return Server(name, process, f"ws://127.0.0.1:{port}{REALTIME_PATH}", time.perf_counter() - started)


async def stop_server(server: Server) -> None:
    with contextlib.suppress(ProcessLookupError):
        server.process.terminate()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(server.process.wait(), 10)


async def settle(server: Server, within: float = 20.0) -> None:
    """Wait until a server has worked off what an overloaded run left it, so the next run has its core."""
    deadline = time.monotonic() + within
    before = server.cpu_seconds()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        now = server.cpu_seconds()
        if now - before < 0.02:
            return
        before = now


def commands(emulator: PicowsEmulator, config: Path, args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """Each server's command line, with ``{port}`` where its port goes."""
    python = sys.executable
    passthrough = ["--port", "{port}", "--upstream", emulator.url]
    targets = [
        (LIVEGATE, [python, "-m", "livegate", "serve", "--config", str(config), "--port", "{port}", "--log-level", "warning"]),
        (BASELINE, [python, "-m", "bench.passthrough", *passthrough]),
        (FLOOR, [python, "-m", "bench.passthrough_picows", *passthrough]),
    ]
    if args.stacks:
        targets.append(("aiohttp-uvloop", [python, "-m", "bench.passthrough", *passthrough, "--uvloop"]))
        if importlib.util.find_spec("granian") is not None:
            targets.append(("granian", [python, "-m", "bench.passthrough_granian", *passthrough]))
    fields = {"python": python, "upstream": emulator.url, "upstream_http": emulator.http_url, "config": str(config)}
    for name, command in args.also:
        targets.append((name, [part.replace("{port}", "\0").format(**fields).replace("\0", "{port}") for part in shlex.split(command)]))
    return targets


@contextlib.asynccontextmanager
async def servers(emulator: PicowsEmulator, workdir: Path, args: argparse.Namespace) -> AsyncIterator[list[Server]]:
    config = workdir / "config.yaml"
    config.write_text(
        "model_list:\n  - model_name: gpt-realtime\n    litellm_params:\n"
        f"      model: gemini/gemini-3.8-live\n      api_key: bench\n      api_base: {emulator.http_url}\n"
    )
    started: list[Server] = []
    try:
        for name, argv in commands(emulator, config, args):
            port = free_port()
            argv = [part.replace("{port}", str(port)) for part in argv]
            started.append(await start_server(name, argv, port, args.start_timeout))
        yield started
    finally:
        for server in started:
            await stop_server(server)


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None}
    array = np.asarray(values) * 1000
    return {"p50": round(float(np.percentile(array, 50)), 3), "p99": round(float(np.percentile(array, 99)), 3)}


def latencies(emulator: PicowsEmulator, result: LoadResult) -> tuple[list[float], list[float]]:
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


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def core_busy_seconds() -> dict[int, float]:
    """Each core's busy time so far, whoever used it (/proc/stat: all but idle and iowait)."""
    busy = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name != "cpu":
            ticks = [int(f) for f in fields]
            busy[int(name[3:])] = (sum(ticks[:8]) - ticks[3] - ticks[4]) / CLOCK_TICKS
    return busy


async def measure(emulator: PicowsEmulator, server: Server, sessions: int, duration: float, label: str) -> dict[str, Any]:
    load = Load(server.url, "bench", f"{label}-{server.name}")
    cpu_before, own_before, cores_before, wall_before = server.cpu_seconds(), own_cpu_seconds(), core_busy_seconds(), time.monotonic()
    # No collection while frames are timed: the emulator keeps every session it has seen, and a full
    # collection over them stopped this process for 20-60 ms, at any load.
    gc.collect()
    gc.freeze()
    gc.disable()
    streaming: list[float] = []  # the server's CPU once every session is open: setup is counted apart
    try:
        result = await load.run(sessions, duration, WARMUP_S, connected=lambda: streaming.append(server.cpu_seconds()))
    finally:
        gc.enable()
    await settle(server)  # what an overloaded server still had to do for the run is the run's cost
    cpu, own = server.cpu_seconds() - cpu_before, own_cpu_seconds() - own_before
    wall = time.monotonic() - wall_before
    cores = core_busy_seconds()
    others = {core: (cores[core] - cores_before.get(core, 0.0)) for core in cores}
    others[0] = others.get(0, 0.0) - cpu
    others[1] = others.get(1, 0.0) - own
    frames, turns = latencies(emulator, result)
    sent = sum(len(s.sent) for s in result.sessions)
    return {
        "sessions": sessions,
        "frames_sent": sent,
        "frames_matched": len(frames),
        "frame_latency_ms": percentiles(frames),
        "first_audio_ms": percentiles(turns),
        "turns": len(turns),
        "cpu_us_per_input_frame": round(cpu / sent * 1e6, 2) if sent else None,
        # The same without opening the sessions (the handshake, session.created and session.update):
        # what a frame costs a session already streaming, and what each session cost to open.
        "streaming_cpu_us_per_input_frame": round((cpu_before + cpu - streaming[0]) / sent * 1e6, 2) if sent and streaming else None,
        "setup_cpu_ms_per_session": round((streaming[0] - cpu_before) / sessions * 1e3, 3) if streaming else None,
        "errors": sum(s.errors for s in result.sessions),
        "generator_late_ms_p99": percentiles(result.tick_lateness)["p99"],
        "generator_late_ms_max": round(max(result.tick_lateness, default=0.0) * 1000, 3),
        # This process (generator and emulator) while the measured frames went out: 100 is all of core 1.
        "harness_cpu_percent": result.cpu_percent,
        # What anything else on the machine took of the server's core and the harness's: a shared machine
        # shows here, and a run it disturbed can be told from one it did not.
        "other_cpu_percent": {f"core{core}": max(0.0, round(busy / wall * 100, 1)) for core, busy in sorted(others.items())},
    }


async def quiet(within: float = 120.0) -> bool:
    """Wait until other processes leave both cores alone (under QUIET_PERCENT each for a second)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        before = core_busy_seconds()
        await asyncio.sleep(1.0)
        after = core_busy_seconds()
        if all((after[core] - before.get(core, 0.0)) * 100 < QUIET_PERCENT for core in after):
            return True
    return False


async def measure_alone(emulator: PicowsEmulator, server: Server, sessions: int, duration: float, label: str, retries: int) -> dict[str, Any]:
    """``measure``, again after the machine is quiet when other processes took more than NOISE_PERCENT
    of a core during the run, up to ``retries`` times; the figures say how many attempts they took."""
    for attempt in range(retries + 1):
        figures = await measure(emulator, server, sessions, duration, f"{label}-{attempt}")
        figures["attempts"] = attempt + 1
        if attempt == retries or max(figures["other_cpu_percent"].values(), default=0.0) <= NOISE_PERCENT:
            return figures
        progress(f"{server.name} at {sessions} sessions: other processes took {figures['other_cpu_percent']} %; again when quiet")
        await quiet()
    raise AssertionError("unreachable")


async def idle_memory(server: Server, count: int) -> float:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def open_sessions(n: int) -> list[aiohttp.ClientWebSocketResponse]:
            sockets = []
            for _ in range(n):
                ws = await http.ws_connect(server.url, headers={"Authorization": "Bearer bench"})
                await ws.receive()
                await ws.send_str(json.dumps({"type": "session.update", "session": {"type": "realtime", "instructions": "idle"}}))
                await ws.receive()
                sockets.append(ws)
            return sockets

        for ws in await open_sessions(5):  # what the first session loads is not per session
            await ws.close()
        await asyncio.sleep(0.3)
        before = server.rss_kib()
        sockets = await open_sessions(count)
        await asyncio.sleep(0.3)
        after = server.rss_kib()
        for ws in sockets:
            await ws.close()
    return round((after - before) / count, 1)


def progress(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def added(server: dict[str, Any], reference: dict[str, Any], key: str, stat: str) -> float | None:
    a, b = server[key][stat], reference[key][stat]
    return round(a - b, 3) if a is not None and b is not None else None


def ratios(lg: dict[str, Any], reference: dict[str, Any]) -> dict[str, float | None]:
    return {
        "cpu_per_frame": ratio(lg["cpu_us_per_input_frame"], reference["cpu_us_per_input_frame"]),
        "frame_latency_p50": ratio(lg["frame_latency_ms"]["p50"], reference["frame_latency_ms"]["p50"]),
        "frame_latency_p99": ratio(lg["frame_latency_ms"]["p99"], reference["frame_latency_ms"]["p99"]),
        "first_audio_p50": ratio(lg["first_audio_ms"]["p50"], reference["first_audio_ms"]["p50"]),
        "idle_session_memory": ratio(lg["idle_session_kib"], reference["idle_session_kib"]),
        "startup": ratio(lg["startup_s"], reference["startup_s"]),
    }


def over(lg: dict[str, Any], reference: dict[str, Any]) -> dict[str, float | None]:
    return {
        "latency_ms_p50": added(lg, reference, "frame_latency_ms", "p50"),
        "latency_ms_p99": added(lg, reference, "frame_latency_ms", "p99"),
        "first_audio_ms_p50": added(lg, reference, "first_audio_ms", "p50"),
        "first_audio_ms_p99": added(lg, reference, "first_audio_ms", "p99"),
    }


async def ramp_step(emulator: PicowsEmulator, targets: list[Server], level: int, duration: float, retries: int) -> dict[str, Any]:
    step = {s.name: await measure_alone(emulator, s, level, duration, f"ramp{level}", retries) for s in targets}
    lg = step[LIVEGATE]
    return {
        "sessions": level,
        "added_p99_ms": added(lg, step[BASELINE], "frame_latency_ms", "p99"),
        "added_p99_over_floor_ms": added(lg, step[FLOOR], "frame_latency_ms", "p99"),
        "p99_ms": {name: figures["frame_latency_ms"]["p99"] for name, figures in step.items()},
        "p50_ms": {name: figures["frame_latency_ms"]["p50"] for name, figures in step.items()},
        "first_audio_p50_ms": {name: figures["first_audio_ms"]["p50"] for name, figures in step.items()},
        "cpu_us_per_input_frame": {name: figures["cpu_us_per_input_frame"] for name, figures in step.items()},
        "generator_late_ms_p99": max(figures["generator_late_ms_p99"] or 0 for figures in step.values()),
        "harness_cpu_percent": max(figures["harness_cpu_percent"] for figures in step.values()),
        "harness_by_server": {
            name: {"generator_late_ms_p99": f["generator_late_ms_p99"], "cpu_percent": f["harness_cpu_percent"], "attempts": f["attempts"]}
            for name, f in step.items()
        },
        "other_cpu_percent": {core: max(f["other_cpu_percent"].get(core, 0.0) for f in step.values()) for core in lg["other_cpu_percent"]},
    }


async def run_local(args: argparse.Namespace) -> dict[str, Any]:
    pin(os.getpid(), 1)
    emulator = PicowsEmulator(
        EmulatorConfig(record_timing=True, turn_complete_after_playback=False, session_limit_s=None, video_session_limit_s=None)
    )
    await emulator.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            async with servers(emulator, Path(folder), args) as targets:
                # Memory first, in fresh processes: after the ramp a server's heap has room from the big
                # runs, and idle sessions fit in it without growing the RSS.
                memory = {server.name: await idle_memory(server, args.idle_sessions) for server in targets}
                main = {s.name: await measure_alone(emulator, s, args.sessions, args.duration, "main", args.retries) for s in targets}
                progress(f"main run done ({args.sessions} sessions, {args.duration} s each)")
                ramp = []
                for level in args.ramp:
                    step = await ramp_step(emulator, targets, level, args.ramp_duration, args.retries)
                    ramp.append(step)
                    progress(
                        f"{level} sessions: p99 {step['p99_ms']} ms, livegate adds {step['added_p99_over_floor_ms']} ms over the floor; "
                        f"generator late p99 {step['generator_late_ms_p99']} ms, harness CPU {step['harness_cpu_percent']} %, others {step['other_cpu_percent']}"
                    )
                for server in targets:
                    main[server.name]["idle_session_kib"] = memory[server.name]
                    main[server.name]["startup_s"] = round(server.startup_s, 3)
    finally:
        await emulator.stop()
    capacity, bound = capacity_from(ramp)
    lg, base, floor = main.pop(LIVEGATE), main.pop(BASELINE), main.pop(FLOOR)
    return {
        "cpu_us_per_input_frame": lg["cpu_us_per_input_frame"],
        "added_latency_ms_p50": added(lg, base, "frame_latency_ms", "p50"),
        "added_latency_ms_p99": added(lg, base, "frame_latency_ms", "p99"),
        "first_audio_added_ms_p50": added(lg, base, "first_audio_ms", "p50"),
        "first_audio_added_ms_p99": added(lg, base, "first_audio_ms", "p99"),
        "added_over_floor": over(lg, floor),
        "max_sessions_per_core": capacity,
        "max_sessions_bound_by": bound,
        "added_p99_over_floor_ms_by_sessions": {str(step["sessions"]): step["added_p99_over_floor_ms"] for step in ramp},
        # What the CPU figure allows if nothing but the gateway's CPU counted.
        "cpu_bound_sessions_per_core": round(1e6 / (lg["cpu_us_per_input_frame"] * 50)) if lg["cpu_us_per_input_frame"] else None,
        "idle_session_kib": lg["idle_session_kib"],
        "startup_s": lg["startup_s"],
        "ratios": ratios(lg, base),
        "ratios_to_floor": ratios(lg, floor),
        LIVEGATE: lg,
        BASELINE: base,
        FLOOR: floor,
        "others": main,
        "ramp": ramp,
    }


def capacity_from(ramp: list[dict[str, Any]]) -> tuple[int | None, str]:
    """The most sessions up to which every level kept livegate's added p99 (over the floor) under the
    limit, and what stopped it: that latency, or a harness that could not keep up."""
    capacity: int | None = None
    for step in ramp:
        # The harness's lateness while livegate and the floor were measured: a saturated server elsewhere
        # sends its backlog in bursts that the emulator takes in at once, which says nothing of livegate.
        late = max(step["harness_by_server"][name]["generator_late_ms_p99"] or 0.0 for name in (LIVEGATE, FLOOR))
        level, extra = step["sessions"], step["added_p99_over_floor_ms"]
        if late > LATENCY_LIMIT_MS:
            return capacity, f"the harness on core 1 (the load generator ran {late:.0f} ms late at {level} sessions)"
        if extra is None or extra >= LATENCY_LIMIT_MS:
            return capacity, f"added p99 latency {extra} ms at {level} sessions"
        capacity = level
    return capacity, "not reached"


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
    lines = [
        f"livegate benchmark: {machine['cores']} cores, load {machine['loadavg']}, {machine['platform']}, Python {machine['python']}"
        f"{'' if machine.get('livegate_c_kernel', True) else ', WITHOUT the C audio kernel'}"
    ]
    if LIVEGATE not in report:
        return "\n".join([*lines, json.dumps(report["remote"], indent=2)])
    columns = {LIVEGATE: report[LIVEGATE], BASELINE: report[BASELINE], FLOOR: report[FLOOR], **report["others"]}
    to_base, to_floor = report["ratios"], report["ratios_to_floor"]
    rows = [
        ("frame latency p50 (ms)", lambda f: f["frame_latency_ms"]["p50"], "frame_latency_p50"),
        ("frame latency p99 (ms)", lambda f: f["frame_latency_ms"]["p99"], "frame_latency_p99"),
        ("first audio p50 (ms)", lambda f: f["first_audio_ms"]["p50"], "first_audio_p50"),
        ("CPU per input frame (us)", lambda f: f["cpu_us_per_input_frame"], "cpu_per_frame"),
        ("memory per idle session (KiB)", lambda f: f["idle_session_kib"], "idle_session_memory"),
        ("start to ready (s)", lambda f: f["startup_s"], "startup"),
    ]
    lines.append(f"{'':30}" + "".join(f"{name:>15}" for name in columns) + f"{'/baseline':>10}{'/floor':>8}")
    for label, get, key in rows:
        lines.append(f"{label:30}" + "".join(f"{get(f)!s:>15}" for f in columns.values()) + f"{to_base[key]!s:>10}{to_floor[key]!s:>8}")
    busiest = {core: max(f["other_cpu_percent"].get(core, 0.0) for f in columns.values()) for core in report[LIVEGATE]["other_cpu_percent"]}
    lines.append(f"most CPU other processes took during a main run, per core (%): {busiest}")
    lg, floor = report[LIVEGATE], report["added_over_floor"]
    lines.append(
        f"added latency per frame over the baseline: p50 {report['added_latency_ms_p50']} ms, p99 {report['added_latency_ms_p99']} ms; "
        f"over the floor: p50 {floor['latency_ms_p50']} ms, p99 {floor['latency_ms_p99']} ms"
    )
    lines.append(
        f"added to first audio over the baseline: p50 {report['first_audio_added_ms_p50']} ms; over the floor: p50 "
        f"{floor['first_audio_ms_p50']} ms ({lg['sessions']} sessions, {lg['turns']} turns)"
    )
    if report["ramp"]:
        lines.append(
            "ramp: sessions, p99 frame latency per server (ms), livegate's added p99 over the floor, generator late p99, "
            "harness CPU, CPU other processes took per core (%)"
        )
        for step in report["ramp"]:
            p99 = ", ".join(f"{name} {value}" for name, value in step["p99_ms"].items())
            lines.append(
                f"  {step['sessions']:>4}: {p99}; added {step['added_p99_over_floor_ms']} ms; "
                f"late {step['generator_late_ms_p99']} ms; harness {step['harness_cpu_percent']} %; others {step['other_cpu_percent']}"
            )
    lines.append(f"sessions on one core with p99 added latency under 20 ms: {report['max_sessions_per_core']} (stopped by {report['max_sessions_bound_by']})")
    lines.append(f"sessions one core's CPU allows at 50 frames a second each: {report['cpu_bound_sessions_per_core']}")
    return "\n".join(lines)


def also(text: str) -> tuple[str, str]:
    name, sep, command = text.partition("=")
    if not sep or not name or not command or "{port}" not in command:
        raise argparse.ArgumentTypeError("--also takes NAME=COMMAND, the command with {port} where the server's port goes")
    if name in (LIVEGATE, BASELINE, FLOOR):
        raise argparse.ArgumentTypeError(f"--also: {name!r} is taken")
    return name, command


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=50, help="concurrent sessions in the main run (default 50)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of streaming per run (default 10)")
    parser.add_argument("--url", help="measure this OpenAI Realtime WebSocket URL instead of starting livegate")
    parser.add_argument("--key", default="bench", help="API key for --url")
    parser.add_argument("--model", default="gpt-realtime", help="model for --url (default gpt-realtime)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--ramp", default="50,100,200,300,400,500", help="session counts tried for capacity on one core")
    parser.add_argument("--ramp-duration", type=float, default=5.0, help="seconds per capacity step (default 5)")
    parser.add_argument("--idle-sessions", type=int, default=200, help="idle sessions for the memory figure (default 200)")
    parser.add_argument("--stacks", action="store_true", help="also measure the aiohttp pass-through on uvloop, and on granian where it is installed")
    parser.add_argument(
        "--also", type=also, action="append", default=[], metavar="NAME=COMMAND",
        help="also measure another OpenAI Realtime server, started with COMMAND (placeholders: {port}, {upstream} the "
        "emulator's ws:// URL, {upstream_http} its http:// URL, {config} a LiteLLM-style config for it, {python}); "
        f"it must serve ws://127.0.0.1:{{port}}{REALTIME_PATH}",
    )  # fmt: skip
    parser.add_argument(
        "--retries", type=int, default=0,
        help=f"on a shared machine: measure a run again, once the machine is quiet, when other processes took more than "
        f"{NOISE_PERCENT:.0f} %% of a core during it, up to this many times (default 0)",
    )  # fmt: skip
    parser.add_argument("--start-timeout", type=float, default=30.0, help="seconds a server may take to listen (default 30)")
    args = parser.parse_args(argv)
    try:
        args.ramp = [int(n) for n in args.ramp.split(",") if n]
    except ValueError:
        parser.error("--ramp takes comma-separated session counts")
    if args.sessions < 1 or args.duration <= WARMUP_S:
        parser.error(f"--sessions must be positive and --duration above {WARMUP_S} s")
    return args


def c_kernel() -> bool:
    from livegate.audio import resample

    return resample.ACCELERATED


def interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # a terminated benchmark still stops the servers it started


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, interrupted)
    report = uvloop.run(run_remote(args) if args.url else run_local(args))
    report["machine"] = {
        "cores": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "livegate_c_kernel": c_kernel(),
    }
    print(table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
