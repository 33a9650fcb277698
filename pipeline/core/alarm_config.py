"""An ``[[alarms]]`` target's settings: a webhook or an MQTT broker told of events.

Declared like every section (``settings.setting``); the site's file lists them
under ``alarms`` (``config.SiteFile``). Secrets stay out of the file as
``${NAME}``, read from the environment when the alarm role starts.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import PlainValidator, PrivateAttr, WithJsonSchema, model_validator

from declared.blocks import NAME_PATTERN, Labels, Section, checked, matching, setting, words
from declared.problems import refuse, refuse_all
from pipeline.core.camera_config import CAMERA_ID_PATTERN
from pipeline.core.settings import ConfigError
from pipeline.core.urls import redact_url

ALARM_NAME_PATTERN = NAME_PATTERN
MQTT_TOPIC_PATTERN = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
CameraIds = words(CAMERA_ID_PATTERN)
ALARM_KINDS = {"http": "webhook", "https": "webhook", "mqtt": "mqtt", "mqtts": "mqtt"}
WEBHOOK_ONLY = ("headers", "secret", "plain_http")
MQTT_ONLY = ("topic", "clear_s")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
# Repeats of a camera's label held back: a phone is not told every second, while a
# home-automation system gets every event (its states say what is going on).
DEFAULT_COOLDOWN_S = {"webhook": 30.0, "mqtt": 0.0}


def _alarm_url_problem(value: str) -> str | None:
    if ALARM_KINDS.get(value.partition("://")[0].lower()) is None or "://" not in value:
        return f"must be an http(s):// or mqtt(s):// URL, got {redact_url(value)!r}"
    return None


def _topic_problem(value: str) -> str | None:
    if len(value) <= 128 and MQTT_TOPIC_PATTERN.fullmatch(value):
        return None
    return "must be an MQTT topic prefix: words of letters, digits, '_' and '-' between '/'"


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(value, tuple):  # made in code: (name, value) pairs
        value = dict(value)
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise refuse("must be a table of strings")
    return tuple(value.items())


class AlarmConfig(Section):
    """One ``[[alarms]]`` target: a webhook (http, https) or an MQTT broker (mqtt, mqtts).

    ``url``, ``headers`` and ``secret`` may name environment variables as
    ``${NAME}``, so that no secret is written in a config file; the alarm role
    resolves them when it starts (``resolved``).
    """

    name: Annotated[str, matching(ALARM_NAME_PATTERN)] = setting(
        "alarm", "the target's name in logs and metrics (default alarm-<n>)"
    )
    url: Annotated[str, checked(_alarm_url_problem)] = setting(
        ..., "http(s):// for a webhook, mqtt(s):// for MQTT"
    )
    labels: Labels = setting((), "labels that raise it; empty: every label")
    cameras: CameraIds = setting((), "cameras it hears; empty: every camera")
    cooldown_s: float = setting(
        DEFAULT_COOLDOWN_S["webhook"],
        "at most one alarm per camera and label in this time (by default: webhooks "
        f"{DEFAULT_COOLDOWN_S['webhook']:g}, MQTT {DEFAULT_COOLDOWN_S['mqtt']:g})",
        0, 86_400,
    )  # fmt: skip
    attempts: int = setting(20, "tries, the wait doubling from 1 s to 30 s (about 8 min)", 1, 1000)
    timeout_s: float = setting(5.0, "the whole of one attempt", 0.1, 120)
    max_age_s: float = setting(3600.0, "an alarm not delivered by then is dropped", 1, 7 * 86_400)
    headers: Annotated[
        tuple[tuple[str, str], ...],
        PlainValidator(_headers),
        WithJsonSchema({"type": "object", "additionalProperties": {"type": "string"}}),
    ] = setting((), "webhooks: extra HTTP headers (${NAME} from the environment)")
    secret: str = setting(
        "", "webhooks: HMAC-SHA256 key of X-Rabbitcam-Signature (${NAME} allowed)"
    )
    plain_http: bool = setting(
        False, "webhooks: allow secret or headers over plain http:// to another host"
    )
    topic: Annotated[
        str,
        checked(_topic_problem),
    ] = setting("rabbitcam", "MQTT: topic prefix")
    clear_s: float = setting(
        30.0, "MQTT: a label's state goes OFF this long after its event", 1, 86_400
    )
    # Where it was configured (``alarms[2]``), for messages.
    _key: str = PrivateAttr("alarms[0]")

    @model_validator(mode="before")
    @classmethod
    def _cooldown_by_kind(cls, data: Any) -> Any:
        if isinstance(data, dict) and "cooldown_s" not in data and isinstance(data.get("url"), str):
            kind = ALARM_KINDS.get(data["url"].partition("://")[0].lower(), "webhook")
            data = {**data, "cooldown_s": DEFAULT_COOLDOWN_S[kind]}
        return data

    @model_validator(mode="after")
    def _settings_fit_the_kind(self) -> AlarmConfig:
        other = MQTT_ONLY if self.kind == "webhook" else WEBHOOK_ONLY
        problems = [(key, f"does not apply to {self.kind} alarms")
                    for key in other if key in self.model_fields_set]  # fmt: skip
        # A secret or header sent over plain http:// to another host can be read (and
        # the signature of anything replayed) on the way: refused unless said so.
        carries = [key for key in ("secret", "headers") if getattr(self, key)]
        try:
            host = urlsplit(self.url).hostname
        except ValueError:
            host = None
        plain = self.url.lower().startswith("http://") and host not in LOOPBACK_HOSTS
        if carries and plain and not self.plain_http:
            problems.append(("url", f"sends {' and '.join(carries)} over plain http:// to {host}: "
                             "use https:// (or set plain_http = true where the network is "
                             "trusted)"))  # fmt: skip
        if problems:
            raise refuse_all(problems)
        return self

    @property
    def kind(self) -> str:
        """``"webhook"`` or ``"mqtt"``."""
        return ALARM_KINDS[self.url.partition("://")[0].lower()]

    @property
    def key(self) -> str:
        return self._key

    def wants(self, camera: str, label: str) -> bool:
        return (not self.cameras or camera in self.cameras) and (
            not self.labels or label in self.labels
        )

    def resolved(self, file: Path, environ: dict[str, str] | None = None) -> AlarmConfig:
        """The same target with every ``${NAME}`` taken from the environment;
        ConfigError naming the key when a variable is not set."""
        environ = dict(os.environ) if environ is None else environ
        problems: list[str] = []

        def expand(text: str, where: str) -> str:
            def value(match: re.Match[str]) -> str:
                name = match.group(1)
                if not environ.get(name):
                    problems.append(f"{file}: {self.key}.{where}: environment variable {name} "
                                    "is not set")  # fmt: skip
                    return ""
                return environ[name]

            return ENV_REFERENCE.sub(value, text)

        resolved = self.model_copy(
            update={
                "url": expand(self.url, "url"),
                "headers": tuple((k, expand(v, f"headers.{k}")) for k, v in self.headers),
                "secret": expand(self.secret, "secret"),
            }
        )
        resolved._key = self.key
        if problems:
            raise ConfigError(problems)
        return resolved
