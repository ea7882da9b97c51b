"""What a Gemini Live close means (gemini-live.md §7, lessons-from-peers.md (d) 4): a fault to ride
out by reconnecting, or a final answer for the client, with a hint where Google's reason needs one."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BACKOFF_S", "Verdict", "classify", "parse_duration"]

# Delays before each reconnect attempt; after the last one the client is told (lessons-from-peers.md (d) 2).
BACKOFF_S = (0.0, 0.5, 1.0, 2.0, 4.0)
RETRIED = {1000, 1001, 1006, 1011, 1012, 1013, 1014}


@dataclass(frozen=True, slots=True)
class Verdict:
    retry: bool
    hint: str = ""


def classify(code: int, reason: str, *, model: str, vertex: bool, location: str | None) -> Verdict:
    if code in RETRIED:
        return Verdict(retry=True)
    if code == 1008 and ("not found" in reason or "not supported" in reason):
        if vertex:
            where = f"in {location}" if location else "in this location"
            return Verdict(False, f"Vertex AI does not serve {model} {where}: check the model name and vertex_location.")
        return Verdict(False, f"The Gemini API does not serve {model} for Live: check the model name (Vertex-only models need vertex_ai/).")
    return Verdict(retry=False)


MAX_DURATION_S = 3600.0


def parse_duration(text: str) -> float:
    """A google.protobuf.Duration in proto3 JSON ("50s", "0.500s"); 0 when unreadable."""
    try:
        seconds = float(text.rstrip("s"))
    except (AttributeError, ValueError):
        return 0.0
    # A connection lives about ten minutes (gemini-live.md §8): nothing longer, negative or NaN is real.
    return min(max(seconds, 0.0), MAX_DURATION_S) if seconds == seconds else 0.0
