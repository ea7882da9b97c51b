"""Function calls between the two protocols: OpenAI's ``call_id`` for each Gemini call, and the
client's outputs as Gemini's ``toolResponse`` (openai-realtime.md §5.3; gemini-live.md §4.6, §6.4)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

__all__ = ["ToolCalls"]

REFUSAL = {"error": "Function calling is disabled (tool_choice is none)."}


class ToolCalls:
    def __init__(self, ids: Callable[[str], str]) -> None:
        self.ids = ids
        self._calls: dict[str, tuple[str, str]] = {}  # OpenAI call_id -> (Gemini call id, name)
        self._cancelled: set[str] = set()

    def called(self, call: dict[str, Any]) -> str:
        """A Gemini function call; its new OpenAI ``call_id``."""
        call_id = self.ids("call")
        self._calls[call_id] = (str(call.get("id", "")), call["name"])
        return call_id

    def cancelled(self, gemini_ids: Iterable[Any]) -> None:
        """Gemini's ``toolCallCancellation``: it would refuse an answer to these calls."""
        ids = {str(i) for i in gemini_ids if isinstance(i, str | int)}
        self._cancelled |= {call_id for call_id, (gemini_id, _) in self._calls.items() if gemini_id in ids}

    def responses(self, outputs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The client's ``function_call_output`` items as Gemini's ``functionResponses``: both id and
        name, on both backends (gemini-live.md §4.6); the output as is when it is a JSON object."""
        results = []
        for item in outputs:
            call = self._calls.pop(item["call_id"], None)
            if call is None or item["call_id"] in self._cancelled:
                continue  # Gemini cancelled the call or never made it: it would refuse the answer
            try:
                output = orjson.loads(item["output"])
            except orjson.JSONDecodeError:
                output = item["output"]
            response = output if isinstance(output, dict) else {"output": output}
            results.append({"id": call[0], "name": call[1], "response": response})
        return results

    @staticmethod
    def refusals(calls: Iterable[dict[str, Any]]) -> bytes:
        """Gemini has no "no tools" switch: livegate answers for a client that asked for none."""
        responses = [{"id": c.get("id", ""), "name": c["name"], "response": REFUSAL} for c in calls]
        return orjson.dumps({"toolResponse": {"functionResponses": responses}})
