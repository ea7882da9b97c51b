"""Configuration in LiteLLM's model_list shape: what it accepts and how it names every mistake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from livegate.config import embedded_config, load_config
from livegate.errors import ConfigError
from livegate.gemini.models import Flavour

SA = {"type": "service_account", "project_id": "from-key", "client_email": "a@b", "private_key": "x", "token_uri": "http://t"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_vertex_and_studio_entries_with_env_references(tmp_path: Path) -> None:
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps(SA))
    path = write(
        tmp_path,
        f"""
model_list:
  - model_name: gpt-realtime
    litellm_params:
      model: vertex_ai/gemini-live-2.5-flash-native-audio
      vertex_location: europe-west4
      vertex_credentials: {key_file}
  - model_name: studio
    litellm_params:
      model: gemini/gemini-3.8-live
      api_key: os.environ/MY_KEY
      api_base: http://127.0.0.1:9
  - model_name: inline
    litellm_params:
      model: vertex_ai/gemini-3.8-live
      vertex_project: p
      vertex_location: global
      vertex_credentials: '{json.dumps(SA)}'
general_settings:
  master_key: os.environ/MASTER
""",
    )
    config = load_config(path, env={"MY_KEY": "k", "MASTER": "sk-1"})
    vertex = config.deployment("gpt-realtime")
    assert vertex is not None
    assert (vertex.route.flavour, vertex.route.project, vertex.route.location) == (Flavour.VERTEX, "from-key", "europe-west4")
    assert vertex.vertex_credentials == SA
    studio = config.deployment("studio")
    assert studio is not None
    assert (studio.api_key, studio.api_base, studio.route.model_name) == ("k", "http://127.0.0.1:9", "models/gemini-3.8-live")
    inline = config.deployment("inline")
    assert inline is not None
    assert inline.route.model_name == "projects/p/locations/global/publishers/google/models/gemini-3.8-live"
    assert config.master_key == "sk-1"
    assert config.deployment("other") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model_list: []", "config.yaml: model_list: expected a non-empty list of models"),
        ("model_list: [{model_name: x, litellm_params: {model: openai/gpt-4o}}]", "config.yaml: model_list[0] (x): litellm_params.model: expected 'vertex_ai/<model>' or 'gemini/<model>', got 'openai/gpt-4o'"),
        ("model_list: [{litellm_params: {model: gemini/x}}]", "config.yaml: model_list[0]: model_name: expected a non-empty string"),
        ("model_list: [{model_name: x, litellm_params: {model: gemini/x}}]", "config.yaml: model_list[0] (x): litellm_params.api_key: required for gemini/ models"),
        ("model_list: [{model_name: x, litellm_params: {model: gemini/x, api_key: os.environ/NOPE}}]", "config.yaml: model_list[0] (x): litellm_params.api_key: environment variable NOPE is not set"),
        ("model_list: [{model_name: x, litellm_params: {model: vertex_ai/x}}]", "config.yaml: model_list[0] (x): litellm_params.vertex_project: required for vertex_ai/ models"),
        ("model_list: [{model_name: x, litellm_params: {model: vertex_ai/x, vertex_project: p, vertex_credentials: /no/such.json}}]", "config.yaml: model_list[0] (x): litellm_params.vertex_credentials: cannot read /no/such.json"),
        ("model_list: [{model_name: x, litellm_params: {model: vertex_ai/x, vertex_project: p, vertex_credentials: '{\"type\": \"wat\"}'}}]", "config.yaml: model_list[0] (x): litellm_params.vertex_credentials: expected service_account"),
        ("model_list: [{model_name: x, litellm_params: {model: gemini/x, api_key: k, api_base: ftp://h}}]", "config.yaml: model_list[0] (x): litellm_params.api_base: expected an http(s):// or ws(s):// URL"),
        ("model_list: [{model_name: x, litellm_params: {model: gemini/x, api_key: k}}, {model_name: x, litellm_params: {model: gemini/y, api_key: k}}]", "config.yaml: model_list[1] (x): model_name: listed twice"),
        ("model_list: [{model_name: x, litellm_params: {model: gemini/x, api_key: k}}]\ngeneral_settings: {master_key: ''}", "config.yaml: general_settings.master_key: expected a non-empty string"),
        ("model_list: [oops", "config.yaml: not valid YAML"),
    ],
)
def test_bad_configuration_names_the_file_the_entry_and_the_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, text), env={})
    assert str(raised.value).replace(str(tmp_path) + "/", "").startswith(message)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration"):
        load_config(tmp_path / "absent.yaml")


def test_gemini_api_key_comes_from_the_environment_like_litellm(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "model_list: [{model_name: x, litellm_params: {model: gemini/gemini-3.8-live}}]"), env={"GEMINI_API_KEY": "env-key"})
    deployment = config.deployment("x")
    assert deployment is not None
    assert deployment.api_key == "env-key"


def test_the_embedded_emulator_serves_every_name() -> None:
    config = embedded_config("ws://127.0.0.1:1")
    anything = config.deployment("gpt-realtime")
    live = config.deployment("gemini-3.1-flash-live-preview")
    vertex_only = config.deployment("gemini-live-2.5-flash")
    assert anything is not None and live is not None and vertex_only is not None
    assert (anything.model_name, anything.route.model_id, anything.embedded) == ("gpt-realtime", "gemini-3.8-live", True)
    assert live.route.model_id == "gemini-3.1-flash-live-preview"
    assert vertex_only.route.model_id == "gemini-3.8-live"  # AI Studio does not serve this Vertex model


def test_vertex_locations_and_limits(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "model_list: [{model_name: v, litellm_params: {model: vertex_ai/m, vertex_project: p, vertex_location: 'us-east5, europe-west4', context_window_compression: false}}]\n"
            "general_settings: {idle_timeout_seconds: 300, max_session_seconds: 3600, max_frame_bytes: 1048576, shutdown_grace_seconds: 5}\n",
        ),
        env={},
    )
    deployment = config.deployment("v")
    assert deployment is not None
    assert (deployment.route.location, deployment.route.fallbacks, deployment.route.compression) == ("us-east5", ("europe-west4",), False)
    limits = config.limits
    assert (limits.idle_timeout_s, limits.max_session_s, limits.max_frame_bytes, limits.shutdown_grace_s) == (300.0, 3600.0, 1048576, 5.0)
    with pytest.raises(ConfigError, match=r"general_settings.idle_timeout_seconds: expected a positive number, got -1"):
        load_config(write(tmp_path, "model_list: [{model_name: v, litellm_params: {model: gemini/m, api_key: k}}]\ngeneral_settings: {idle_timeout_seconds: -1}"), env={})


def test_prices_in_litellm_notation_including_yaml_strings(tmp_path: Path) -> None:
    entry = """
model_list:
  - model_name: m
    litellm_params:
      model: gemini/gemini-3.8-live
      api_key: k
      input_cost_per_token: 1e-06
      output_cost_per_token: 0.000004
      output_cost_per_audio_token: {audio}
"""
    price = load_config(write(tmp_path, entry.format(audio="1.2e-05"))).deployments["m"].price
    assert price is not None
    assert (price.input_cost_per_token, price.output_cost_per_token, price.output_cost_per_audio_token) == (1e-6, 4e-6, 1.2e-5)
    for bad in ("cheap", "-1e-06", "nan"):
        with pytest.raises(ConfigError, match="output_cost_per_audio_token: expected a price per token in dollars"):
            load_config(write(tmp_path, entry.format(audio=bad)))
