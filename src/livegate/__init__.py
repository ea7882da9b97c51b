"""livegate: OpenAI Realtime API clients on Google's Gemini Live API."""

__version__ = "0.1.0"
