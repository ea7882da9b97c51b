"""Prometheus metrics for ``/metrics``.

Frames and bytes are plain integers on each Pump, summed at scrape time, and the added latency is a
plain tally of bucket counts, so the audio path pays an addition per frame and no lock
(prometheus_client's own metrics take a lock per change). The scrape runs on the gateway's event loop,
the only thread that counts. Each Gateway has its own registry: several can share a process.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

__all__ = ["Metrics", "Traffic"]

# Added latency is translation plus the write to the client: tens of microseconds to milliseconds.
LATENCY_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)


@dataclass(slots=True)
class Traffic:
    """One session's frames and bytes each way; text frames are counted in characters (JSON is ASCII
    but for non-ASCII text, so this is the byte count of every audio frame)."""

    client_in_frames: int = 0
    client_in_bytes: int = 0
    client_out_frames: int = 0
    client_out_bytes: int = 0
    upstream_out_frames: int = 0
    upstream_out_bytes: int = 0
    upstream_in_frames: int = 0
    upstream_in_bytes: int = 0

    def add(self, other: Traffic) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class Latency:
    """A histogram as Prometheus reads it (cumulative ``le`` buckets, a count and a sum), kept as plain
    numbers: ``observe`` is one bisection and two additions."""

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = buckets
        self.counts = [0] * (len(buckets) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    def family(self) -> HistogramMetricFamily:
        cumulative, total = [], 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += count
            cumulative.append((floatToGoString(bound), total))  # type: ignore[no-untyped-call]
        return HistogramMetricFamily(self.name, self.documentation, buckets=cumulative, sum_value=self.sum)


class _SessionsCollector(Collector):
    """Traffic, reconnects and error events of finished sessions plus the live ones, read at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        traffic, reconnects, errors = self.metrics.totals()
        frames = CounterMetricFamily("livegate_frames", "WebSocket frames, by direction.", labels=["direction"])
        sizes = CounterMetricFamily("livegate_bytes", "WebSocket payload bytes, by direction.", labels=["direction"])
        for direction in ("client_in", "client_out", "upstream_out", "upstream_in"):
            frames.add_metric([direction], getattr(traffic, f"{direction}_frames"))
            sizes.add_metric([direction], getattr(traffic, f"{direction}_bytes"))
        yield frames
        yield sizes
        yield self.metrics.latency.family()
        family = CounterMetricFamily("livegate_upstream_reconnects", "Upstream connections after a session's first, by reason.", labels=["reason"])
        for reason, count in sorted(reconnects.items()):
            family.add_metric([reason], count)
        yield family
        family = CounterMetricFamily("livegate_errors", "error events sent to clients, by code.", labels=["code"])
        for code, count in sorted(errors.items()):
            family.add_metric([code], count)
        yield family


class Metrics:
    def __init__(self, live: Callable[[], Iterable[tuple[Traffic, Counter[str], Counter[str]]]]) -> None:
        self.registry = CollectorRegistry()
        self._live = live
        self._traffic = Traffic()
        self._reconnects: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self.sessions_open = Gauge("livegate_sessions_open", "Client sessions open.", registry=self.registry)
        self.sessions = PromCounter("livegate_sessions", "Client sessions accepted.", registry=self.registry)
        self.transport_sessions = PromCounter(
            "livegate_transport_sessions", "Client sessions accepted, by transport: websocket, webrtc, gemini-live.", ["transport"], registry=self.registry
        )
        self.transport_open = Gauge("livegate_transport_sessions_open", "Client sessions open, by transport.", ["transport"], registry=self.registry)
        self.refusals = PromCounter("livegate_refusals", "Connections refused before the upgrade, by HTTP status and code.", ["status", "code"], registry=self.registry)
        self.tokens = PromCounter("livegate_tokens", "Tokens used, by model and direction.", ["model", "direction"], registry=self.registry)
        self.cost = PromCounter("livegate_cost_usd", "Cost in US dollars of priced responses, by model.", ["model"], registry=self.registry)
        self.unpriced = PromCounter("livegate_unpriced_responses", "Responses of models with no price, by model.", ["model"], registry=self.registry)
        self.latency = Latency(
            "livegate_added_latency_seconds",
            "Time from a Gemini message's arrival to its events being written to the client.",
            LATENCY_BUCKETS,
        )
        self.registry.register(_SessionsCollector(self))

    def retire(self, traffic: Traffic, reconnects: Counter[str], errors: Counter[str]) -> None:
        """A session ended: its figures join the totals (and leave the live set in the same step)."""
        self._traffic.add(traffic)
        self._reconnects.update(reconnects)
        self._errors.update(errors)

    def totals(self) -> tuple[Traffic, Counter[str], Counter[str]]:
        traffic = Traffic()
        traffic.add(self._traffic)
        reconnects, errors = Counter(self._reconnects), Counter(self._errors)
        for live_traffic, live_reconnects, live_errors in self._live():
            traffic.add(live_traffic)
            reconnects.update(live_reconnects)
            errors.update(live_errors)
        return traffic, reconnects, errors
