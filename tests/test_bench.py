"""A short run of the benchmark, so it cannot rot: every figure is produced (not how good it is)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYS = (
    "cpu_us_per_input_frame",
    "added_latency_ms_p50",
    "added_latency_ms_p99",
    "first_audio_added_ms_p50",
    "idle_session_kib",
    "startup_s",
    "cpu_bound_sessions_per_core",
)


async def test_a_short_benchmark_run_produces_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench", "--sessions", "3", "--duration", "3", "--ramp", "2,3", "--ramp-duration", "2",
        "--idle-sessions", "5", "--json", str(out),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode == 0, output.decode()
    report = json.loads(out.read_text())
    for key in KEYS:
        assert isinstance(report[key], int | float), (key, report[key])
    # The ramp's first level can already miss the latency bound on a loaded machine: then there is no
    # capacity, and the report says what bound it; any other outcome is a number of sessions.
    capacity, bound = report["max_sessions_per_core"], report["max_sessions_bound_by"]
    assert isinstance(capacity, int) or (capacity is None and bound != "not reached"), (capacity, bound)
    assert report["livegate"]["turns"] > 0
    assert report["baseline"]["turns"] > 0
    assert report["livegate"]["errors"] == 0
    assert report["machine"]["cores"] >= 1
    lg, base = report["livegate"], report["baseline"]
    baselines = {
        "cpu_per_frame": base["cpu_us_per_input_frame"],
        "frame_latency_p50": base["frame_latency_ms"]["p50"],
        "frame_latency_p99": base["frame_latency_ms"]["p99"],
        "first_audio_p50": base["first_audio_ms"]["p50"],
        "idle_session_memory": base["idle_session_kib"],
        "startup": base["startup_s"],
    }
    assert set(report["ratios"]) == set(baselines)
    for name, denominator in baselines.items():
        # A baseline can measure 0 (an idle session's memory over a few sessions often does): its
        # ratio is then undefined, and said so with None; any other baseline gives a ratio.
        assert isinstance(denominator, int | float), (name, denominator)
        value = report["ratios"][name]
        assert (value is None) if denominator == 0 else isinstance(value, float), (name, value, denominator)
    assert lg["turns"] > 0
    # The floor (picows) is measured in the same run, with the same ratios and added figures.
    floor = report["floor"]
    assert floor["turns"] > 0
    assert set(report["ratios_to_floor"]) == set(baselines)
    for key in ("cpu_us_per_input_frame", "idle_session_kib", "startup_s"):
        assert isinstance(floor[key], int | float), (key, floor[key])
    for key, value in report["added_over_floor"].items():
        assert isinstance(value, int | float), (key, value)
    # Every ramp level reports what each server measured there, and how the harness kept up.
    assert [step["sessions"] for step in report["ramp"]] == [2, 3]
    for step in report["ramp"]:
        assert set(step["p99_ms"]) == {"livegate", "baseline", "floor"}
        assert all(isinstance(v, int | float) for v in step["p99_ms"].values()), step
        assert isinstance(step["added_p99_over_floor_ms"], int | float), step
        assert isinstance(step["generator_late_ms_p99"], int | float), step
        assert isinstance(step["harness_cpu_percent"], int | float), step
    assert set(report["added_p99_over_floor_ms_by_sessions"]) == {"2", "3"}
    assert isinstance(report["machine"]["livegate_c_kernel"], bool)
    text = output.decode()
    assert "livegate benchmark:" in text
    assert "sessions on one core with p99 added latency under 20 ms" in text
