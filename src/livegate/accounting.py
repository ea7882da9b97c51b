"""What a response costs: OpenAI usage (converted from Gemini's usageMetadata) times a price table.

Prices are per token, in US dollars, in LiteLLM's field names so a LiteLLM price entry can be pasted
into ``litellm_params``. A model with no price is recorded as unpriced and warned about, never as free
(LiteLLM bills unknown models at $0: lessons-from-peers.md (b) 14).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_PRICES", "PRICE_FIELDS", "Price", "cost"]

PRICE_FIELDS = (
    "input_cost_per_token",
    "input_cost_per_audio_token",
    "input_cost_per_image_token",
    "output_cost_per_token",
    "output_cost_per_audio_token",
)


@dataclass(frozen=True, slots=True)
class Price:
    input_cost_per_token: float
    output_cost_per_token: float
    input_cost_per_audio_token: float | None = None  # None: the text price
    input_cost_per_image_token: float | None = None
    output_cost_per_audio_token: float | None = None


# The Live API's published prices for the native-audio Flash models (per million tokens: text in 0.50,
# audio in 3.00, text out 2.00, audio out 12.00). Other models are priced from configuration.
_NATIVE_AUDIO_FLASH = Price(0.50e-6, 2.00e-6, input_cost_per_audio_token=3.00e-6, output_cost_per_audio_token=12.00e-6)
DEFAULT_PRICES: dict[str, Price] = {
    "gemini-2.5-flash-native-audio-preview-12-2025": _NATIVE_AUDIO_FLASH,
    "gemini-2.5-flash-native-audio-preview-09-2025": _NATIVE_AUDIO_FLASH,
    "gemini-2.5-flash-native-audio-latest": _NATIVE_AUDIO_FLASH,
    "gemini-live-2.5-flash-native-audio": _NATIVE_AUDIO_FLASH,
}


def cost(usage: dict[str, Any], price: Price | None) -> float | None:
    """The cost of one response's usage, or None when the model has no price."""
    if price is None:
        return None
    inputs, outputs = usage.get("input_token_details") or {}, usage.get("output_token_details") or {}
    text_in = inputs.get("text_tokens", 0)
    audio_in = inputs.get("audio_tokens", 0)
    image_in = inputs.get("image_tokens", 0)
    text_out = outputs.get("text_tokens", 0)
    audio_out = outputs.get("audio_tokens", 0)
    text_price = price.input_cost_per_token
    return float(
        text_in * text_price
        + audio_in * (price.input_cost_per_audio_token if price.input_cost_per_audio_token is not None else text_price)
        + image_in * (price.input_cost_per_image_token if price.input_cost_per_image_token is not None else text_price)
        + text_out * price.output_cost_per_token
        + audio_out * (price.output_cost_per_audio_token if price.output_cost_per_audio_token is not None else price.output_cost_per_token)
    )
