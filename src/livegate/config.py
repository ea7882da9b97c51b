"""The gateway's configuration: a YAML file in LiteLLM's ``model_list`` shape, so that a LiteLLM
``config.yaml`` for Gemini Live runs unchanged (seed 000). Every error names the file, the entry and
the field, and stops the start with exit code 2."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from livegate.accounting import PRICE_FIELDS, Price
from livegate.errors import ConfigError
from livegate.gemini.models import CATALOGUE, DEFAULT_MODEL, Flavour
from livegate.gemini.route import UpstreamRoute

__all__ = ["Deployment", "GatewayConfig", "Limits", "database_url", "embedded_config", "load_config", "redis_url"]

ENV_PREFIX = "os.environ/"
PROVIDERS = {"vertex_ai": Flavour.VERTEX, "vertex_ai_beta": Flavour.VERTEX, "gemini": Flavour.AI_STUDIO}
DEFAULT_VERTEX_LOCATION = "us-central1"


@dataclass(frozen=True)
class Deployment:
    """One ``model_list`` entry: the name clients ask for and the Gemini model that serves it."""

    model_name: str
    route: UpstreamRoute
    api_key: str | None = None
    api_base: str | None = None
    vertex_credentials: dict[str, Any] | None = None  # service-account or user JSON; None: ADC
    vertex_credentials_file: str | None = None
    embedded: bool = False  # served by the embedded emulator
    price: Price | None = None  # from litellm_params' *_cost_per_*token fields; None: the defaults
    # LiteLLM answers every user item at once; OpenAI waits for response.create. None: the gateway's setting.
    respond_to_user_items: bool | None = None


@dataclass(frozen=True)
class Limits:
    """Bounds on what one client may cost (general_settings); None means no limit."""

    max_frame_bytes: int = 16 * 1024 * 1024  # OpenAI allows 15 MiB of audio in one append (base64: 20 MiB)
    idle_timeout_s: float | None = None  # no client event for this long ends the session
    max_session_s: float | None = None  # sessions end after this long
    client_write_timeout_s: float = 30.0  # a client that reads nothing for this long is disconnected
    shutdown_grace_s: float = 30.0  # on SIGTERM, live sessions get this long to finish
    upstream_ping_s: float = 60.0  # keepalive pings to Gemini; a pong may take half of it (Gemini's are slow)
    lease_s: float = 30.0  # with Redis: a dead instance's sessions stop counting against limits after this


@dataclass(frozen=True)
class IceSettings:
    """Where WebRTC calls' ICE host candidates live (gateway.ice)."""

    ports: tuple[int, int] | None = None  # general_settings.webrtc_udp_ports, inclusive
    addresses: tuple[str, ...] = ()  # general_settings.webrtc_host_addresses; empty: every interface's
    advertised: str | None = None  # general_settings.webrtc_advertised_address: the NAT's public side

    @property
    def default(self) -> bool:
        return self.ports is None and not self.addresses and self.advertised is None


LIMIT_FIELDS = {
    "max_frame_bytes": "max_frame_bytes",
    "idle_timeout_seconds": "idle_timeout_s",
    "max_session_seconds": "max_session_s",
    "client_write_timeout_seconds": "client_write_timeout_s",
    "shutdown_grace_seconds": "shutdown_grace_s",
    "upstream_ping_seconds": "upstream_ping_s",
    "lease_seconds": "lease_s",
}


@dataclass
class GatewayConfig:
    deployments: dict[str, Deployment] = field(default_factory=dict)
    master_key: str | None = None
    source: str = "(no configuration)"
    limits: Limits = field(default_factory=Limits)
    database_url: str | None = None  # general_settings.database_url; else LIVEGATE_DATABASE_URL; else ./livegate.db
    max_session_cost_usd: float | None = None  # a session costing more ends with an error event
    redis_url: str | None = None  # general_settings.redis_url; else LIVEGATE_REDIS_URL; else limits per instance
    respond_to_user_items: bool = False  # general_settings.respond_to_user_items (LiteLLM's behaviour)
    ice: IceSettings = field(default_factory=IceSettings)

    def respond(self, deployment: Deployment) -> bool:
        """Whether user items get a response without response.create: the deployment's setting, else the gateway's."""
        own = deployment.respond_to_user_items
        return self.respond_to_user_items if own is None else own

    def deployment(self, model: str) -> Deployment | None:
        found = self.deployments.get(model)
        wildcard = self.deployments.get("*")
        if found is not None or wildcard is None:
            return found
        # The embedded emulator serves every name: a Gemini Live model id as itself, others as the default.
        known = CATALOGUE.get(model)
        model_id = model if known is not None and wildcard.route.flavour in known.backends else wildcard.route.model_id
        return dataclasses.replace(wildcard, model_name=model, route=dataclasses.replace(wildcard.route, model_id=model_id))


def _resolve(value: Any, where: str, env: Mapping[str, str]) -> Any:
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :]
        if name not in env:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        return env[name]
    return value


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> GatewayConfig:
    env = os.environ if env is None else env
    source = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the configuration: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with model_list and general_settings")
    entries = data.get("model_list")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{source}: model_list: expected a non-empty list of models")
    config = GatewayConfig(source=source)
    for index, entry in enumerate(entries):
        deployment = _deployment(entry, f"{source}: model_list[{index}]", env)
        if deployment.model_name in config.deployments:
            raise ConfigError(f"{source}: model_list[{index}] ({deployment.model_name}): model_name: listed twice")
        config.deployments[deployment.model_name] = deployment
    settings = data.get("general_settings") or {}
    if not isinstance(settings, dict):
        raise ConfigError(f"{source}: general_settings: expected a mapping")
    master = _resolve(settings.get("master_key"), f"{source}: general_settings.master_key", env)
    if master is not None and (not isinstance(master, str) or not master):
        raise ConfigError(f"{source}: general_settings.master_key: expected a non-empty string")
    config.master_key = master
    values: dict[str, Any] = {}
    for key, name in LIMIT_FIELDS.items():
        if key in settings:
            value = _resolve(settings[key], f"{source}: general_settings.{key}", env)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"{source}: general_settings.{key}: expected a positive number, got {value!r}")
            values[name] = int(value) if name == "max_frame_bytes" else float(value)
    config.limits = Limits(**values)
    database = _resolve(settings.get("database_url"), f"{source}: general_settings.database_url", env)
    if database is not None and (not isinstance(database, str) or not database.startswith(("sqlite:///", "postgresql://", "postgres://"))):
        raise ConfigError(f"{source}: general_settings.database_url: expected sqlite:///path or postgresql://…, got {database!r}")
    config.database_url = database
    redis_url = _resolve(settings.get("redis_url"), f"{source}: general_settings.redis_url", env)
    if redis_url is not None and (not isinstance(redis_url, str) or not redis_url.startswith(("redis://", "rediss://", "unix://"))):
        raise ConfigError(f"{source}: general_settings.redis_url: expected redis://host:port, got {redis_url!r}")
    config.redis_url = redis_url
    cap = settings.get("max_session_cost_usd")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int | float) or cap <= 0):
        raise ConfigError(f"{source}: general_settings.max_session_cost_usd: expected a positive number, got {cap!r}")
    config.max_session_cost_usd = float(cap) if cap is not None else None
    respond = settings.get("respond_to_user_items", False)
    if not isinstance(respond, bool):
        raise ConfigError(f"{source}: general_settings.respond_to_user_items: expected true or false, got {respond!r}")
    config.respond_to_user_items = respond
    config.ice = _ice(settings, source)
    return config


def _ice(settings: dict[str, Any], source: str) -> IceSettings:
    where = f"{source}: general_settings"
    ports = settings.get("webrtc_udp_ports")
    span = None
    if ports is not None:
        parts = ports.split("-") if isinstance(ports, str) else ports if isinstance(ports, list) else None
        try:
            low, high = (int(part) for part in parts) if parts is not None and len(parts) == 2 else (0, -1)
        except (TypeError, ValueError):
            low, high = 0, -1
        if not 1024 <= low <= high <= 65535:
            raise ConfigError(f"{where}.webrtc_udp_ports: expected a range like 40000-40199 within 1024-65535, got {ports!r}")
        span = (low, high)
    addresses = settings.get("webrtc_host_addresses", [])
    if not isinstance(addresses, list) or not all(isinstance(a, str) and _is_address(a) for a in addresses):
        raise ConfigError(f"{where}.webrtc_host_addresses: expected a list of IP addresses, got {addresses!r}")
    advertised = settings.get("webrtc_advertised_address")
    if advertised is not None and not (isinstance(advertised, str) and _is_address(advertised)):
        raise ConfigError(f"{where}.webrtc_advertised_address: expected an IP address, got {advertised!r}")
    return IceSettings(span, tuple(addresses), advertised)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def redis_url(config: GatewayConfig | None, env: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    return (config.redis_url if config else None) or env.get("LIVEGATE_REDIS_URL") or None


def database_url(config: GatewayConfig | None, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return (config.database_url if config else None) or env.get("LIVEGATE_DATABASE_URL") or "sqlite:///livegate.db"


def _price(params: dict[str, Any], where: str) -> Price | None:
    given = {name: params[name] for name in PRICE_FIELDS if params.get(name) is not None}
    if not given:
        return None
    prices: dict[str, float] = {}
    for name, value in given.items():
        # YAML 1.1 reads 1e-06 (LiteLLM's own notation) as a string.
        number = _number(value)
        if number is None or number < 0:
            raise ConfigError(f"{where}: litellm_params.{name}: expected a price per token in dollars, got {value!r}")
        prices[name] = number
    if "input_cost_per_token" not in prices or "output_cost_per_token" not in prices:
        raise ConfigError(f"{where}: litellm_params: a price needs input_cost_per_token and output_cost_per_token")
    return Price(**prices)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _deployment(entry: Any, where: str, env: Mapping[str, str]) -> Deployment:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping with model_name and litellm_params")
    name = entry.get("model_name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: model_name: expected a non-empty string")
    where = f"{where} ({name})"
    params = entry.get("litellm_params")
    if not isinstance(params, dict):
        raise ConfigError(f"{where}: litellm_params: expected a mapping")
    params = {key: _resolve(value, f"{where}: litellm_params.{key}", env) for key, value in params.items()}
    model = params.get("model")
    provider, _, model_id = str(model).partition("/") if isinstance(model, str) else ("", "", "")
    flavour = PROVIDERS.get(provider)
    if flavour is None or not model_id:
        raise ConfigError(f"{where}: litellm_params.model: expected 'vertex_ai/<model>' or 'gemini/<model>', got {model!r}")
    for key in ("api_key", "api_base", "vertex_project"):
        if params.get(key) is not None and not isinstance(params[key], str):
            raise ConfigError(f"{where}: litellm_params.{key}: expected a string")
    compression = params.get("context_window_compression", True)
    if not isinstance(compression, bool):
        raise ConfigError(f"{where}: litellm_params.context_window_compression: expected true or false")
    respond = params.get("respond_to_user_items")
    if respond is not None and not isinstance(respond, bool):
        raise ConfigError(f"{where}: litellm_params.respond_to_user_items: expected true or false, got {respond!r}")
    api_base = params.get("api_base")
    if api_base is not None and not api_base.startswith(("http://", "https://", "ws://", "wss://")):
        raise ConfigError(f"{where}: litellm_params.api_base: expected an http(s):// or ws(s):// URL, got {api_base!r}")
    if flavour is Flavour.AI_STUDIO:
        studio_key = params.get("api_key") or env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY")
        if not studio_key:
            raise ConfigError(f"{where}: litellm_params.api_key: required for gemini/ models (or set GEMINI_API_KEY)")
        route = UpstreamRoute(Flavour.AI_STUDIO, model_id, compression=compression)
        return Deployment(name, route, api_key=studio_key, api_base=api_base, price=_price(params, where), respond_to_user_items=respond)
    credentials, credentials_file = _vertex_credentials(params.get("vertex_credentials"), where)
    project = params.get("vertex_project") or (credentials or {}).get("project_id") or env.get("VERTEXAI_PROJECT")
    express_key = params.get("api_key")
    if not project and not express_key:
        raise ConfigError(f"{where}: litellm_params.vertex_project: required for vertex_ai/ models (or an api_key for express mode)")
    raw_locations = params.get("vertex_location") or env.get("VERTEXAI_LOCATION") or DEFAULT_VERTEX_LOCATION
    # Several locations, tried in order: models differ by region (seed 004, gemini-live.md §1.2).
    locations = [str(x).strip() for x in (raw_locations if isinstance(raw_locations, list) else str(raw_locations).split(",")) if str(x).strip()]
    if not locations:
        raise ConfigError(f"{where}: litellm_params.vertex_location: expected a location or a list of them")
    route = UpstreamRoute(
        Flavour.VERTEX, model_id, project=project or None, location=locations[0], compression=compression, fallbacks=tuple(locations[1:])
    )
    return Deployment(
        name, route, api_key=express_key, api_base=api_base, vertex_credentials=credentials,
        vertex_credentials_file=credentials_file, price=_price(params, where), respond_to_user_items=respond,
    )  # fmt: skip


def _vertex_credentials(value: Any, where: str) -> tuple[dict[str, Any] | None, str | None]:
    """``vertex_credentials``: a path to a JSON key file, the JSON itself, or a mapping."""
    if value is None:
        return None, None
    field_name = f"{where}: litellm_params.vertex_credentials"
    if isinstance(value, dict):
        info = value
        path = None
    elif isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            info = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{field_name}: not valid JSON: {exc}") from None
        path = None
    elif isinstance(value, str):
        path = value
        try:
            info = json.loads(Path(value).read_text())
        except OSError as exc:
            raise ConfigError(f"{field_name}: cannot read {value}: {exc.strerror or exc}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{field_name}: {value} is not valid JSON: {exc}") from None
    else:
        raise ConfigError(f"{field_name}: expected a file path or JSON")
    if not isinstance(info, dict) or info.get("type") not in ("service_account", "authorized_user", "external_account"):
        raise ConfigError(f"{field_name}: expected service_account, authorized_user or external_account credentials")
    return info, path


def embedded_config(emulator_url: str) -> GatewayConfig:
    """No configuration: every requested model is served by the embedded emulator (AI Studio flavour)."""
    return GatewayConfig(
        deployments={
            "*": Deployment("*", UpstreamRoute(Flavour.AI_STUDIO, DEFAULT_MODEL), api_key="embedded", api_base=emulator_url, embedded=True)
        },
        source="(no configuration: embedded emulator)",
    )
