"""Changes to a session's setup after the client sent it: an ephemeral token's locked fields
(gemini-live.md §9), a ``contextUpdate`` (§4.7), and the any-model mode of the embedded emulator."""

from __future__ import annotations

import dataclasses
from typing import Any

from livegate.emulator.messages import FunctionDeclaration, Setup
from livegate.emulator.models import Flavour, ModelInfo

__all__ = ["any_model", "apply_locks", "replace_setup"]


def apply_locks(setup: dict[str, Any], locked: dict[str, Any], mask: tuple[str, ...] | None) -> dict[str, Any]:
    """The token's constraints override the client's setup: all of it without a field mask."""
    if mask is None:
        return dict(locked)
    merged = dict(setup)
    for path in mask:
        keys = path.split(".")
        source: Any = locked
        for key in keys:
            source = source.get(key) if isinstance(source, dict) else None
        target = merged
        for key in keys[:-1]:
            target[key] = dict(target.get(key) or {})
            target = target[key]
        if source is None:
            target.pop(keys[-1], None)
        else:
            target[keys[-1]] = source
    return merged


def replace_setup(setup: Setup, **changes: Any) -> Setup:
    """``setup`` with a new system instruction and/or functions, its raw form kept in step."""
    raw = dict(setup.raw)
    if "system_instruction" in changes:
        raw["systemInstruction"] = {"role": "user", "parts": [{"text": changes["system_instruction"]}]}
    if "functions" in changes:
        functions: tuple[FunctionDeclaration, ...] = changes["functions"]
        raw["tools"] = [
            {
                "functionDeclarations": [
                    {"name": f.name, "description": f.description, "parameters": f.parameters} for f in functions
                ]
            }
        ]
    return dataclasses.replace(setup, raw=raw, **changes)


def any_model(name: str) -> ModelInfo:
    """A model the catalogue does not know, served as asked (the gateway's embedded default upstream)."""
    model_id = name.rsplit("/", 1)[-1]
    return ModelInfo(model_id, frozenset(Flavour), native_audio="native-audio" in model_id or "live" in model_id)
