"""What the config models say about themselves: a JSON Schema for editors and the
configuration reference in the docs, both generated so that neither can go stale."""

from __future__ import annotations

import json
import warnings
from typing import Any

from pydantic import BaseModel

from pipeline.core.alarm_config import AlarmConfig
from pipeline.core.camera_config import CameraConfig
from pipeline.core.config import (
    BrokerConfig,
    CaptureConfig,
    DetectConfig,
    LogConfig,
    RecordConfig,
    SiteFile,
    WebConfig,
)
from pipeline.core.environment import Environment

SCHEMA_ID = "https://rabbitcam.invalid/schema/{}.json"
# The tables of a site's file, in the order the reference shows them.
TABLES: list[tuple[str, type[BaseModel], str]] = [
    ("[broker]", BrokerConfig, "where RabbitMQ is"),
    ("[[cameras]]", CameraConfig, "one table per camera (or one file per camera in cameras_dir)"),
    ("[web]", WebConfig, "the streamer"),
    ("[record]", RecordConfig, "events kept with a snapshot and a clip"),
    ("[[alarms]]", AlarmConfig, "webhooks and MQTT brokers told of events"),
    ("[detect]", DetectConfig, "detector workers"),
    ("[capture]", CaptureConfig, "capture processes"),
    ("[log]", LogConfig, "logging"),
]
JSON_TYPES = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean",
              "array": "array", "object": "table"}  # fmt: skip


def config_schema(camera_file: bool = False) -> dict[str, Any]:
    """The JSON Schema of a site's file (or of one drop-in camera file), with every
    detector's parameters: TOML editors (Taplo, Even Better TOML) validate with it."""
    model = CameraConfig if camera_file else SiteFile
    schema = _schema_of(model)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID.format("camera" if camera_file else "site")
    camera = schema if camera_file else schema["$defs"]["CameraConfig"]
    camera["properties"]["detectors"]["items"] = {"anyOf": _detector_schemas()}
    if camera_file:  # the file's name is the id
        camera["required"] = [key for key in camera.get("required", []) if key != "id"]
    return schema


def _schema_of(model: type[BaseModel]) -> dict[str, Any]:
    with warnings.catch_warnings():
        # Defaults of tuple fields are shown as JSON arrays: pydantic warns it saw a list.
        warnings.simplefilter("ignore", UserWarning)
        return model.model_json_schema(by_alias=True)


def _detector_schemas() -> list[dict[str, Any]]:
    from detectors import REGISTRY, describe

    names = [row["name"] for row in describe()]
    schemas: list[dict[str, Any]] = [{"enum": names}]
    for row in describe():
        properties: dict[str, Any] = {
            "name": {"const": row["name"]},
            "when": {"type": "string", "description": "run only when it found something"},
            "region": {"type": "string", "description": "... and only on the picture around it"},
        }  # fmt: skip
        # The parameters' own schema, from the model that validates them.
        declared = REGISTRY[row["name"]].Params.model_json_schema()
        for key, schema in declared.get("properties", {}).items():
            schema.pop("title", None)
            properties[key] = schema
        schemas.append({"type": "object", "description": row["description"], "required": ["name"],
                        "properties": properties, "additionalProperties": False})  # fmt: skip
    return schemas


def reference() -> str:
    """docs/configuration.md: every key of every table, its type, default, range and help."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from the config models by `rabbitcam config reference` (a test checks it is",
        "current). A site is one TOML file; `rabbitcam check-config FILE` lists every problem",
        "by file and key; `rabbitcam config schema > rabbitcam.schema.json` gives editors a",
        "JSON Schema to check TOML as it is typed. Unknown keys are errors.",
        "",
        "Top level: `cameras_dir` — "
        + str(SiteFile.model_fields["cameras_dir"].description)
        + " (relative to the config).",
    ]
    for title, model, what in TABLES:
        lines += ["", f"## `{title}`: {what}", "", "| key | type | default | range | what |",
                  "|---|---|---|---|---|"]  # fmt: skip
        schema = _schema_of(model)
        required = set(schema.get("required", []))
        for key, prop in schema["properties"].items():
            field = next(f for n, f in model.model_fields.items() if key in (n, f.alias))
            default = "required" if key in required else _shown(field.default)
            lines.append(
                f"| `{key}` | {_type_of(prop)} | {default} | {_range_of(prop)} | "
                f"{_escaped(field.description or '')} |"
            )
    lines += ["", "## Environment variables", "",
              "Read by every role and command; an empty one is unset, a bad one stops the process",
              "before anything starts, naming the variable.", "",
              "| variable | type | default | range | what |", "|---|---|---|---|---|"]  # fmt: skip
    for name, field in Environment.model_fields.items():
        prop = _schema_of(Environment)["properties"][field.alias or name]
        lines.append(f"| `{field.alias}` | {_type_of(prop)} | {_shown(field.default)} | "
                     f"{_range_of(prop)} | {_escaped(field.description or '')} |")  # fmt: skip
    lines += ["", "## Detectors and their parameters", "",
              "`detectors = [\"motion\", { name = \"people\", when = \"motion\", scale = 0.5 }]`:",
              "a name, or a table of the name, `when`/`region` and parameters."]  # fmt: skip
    from detectors import describe

    for row in describe():
        lines += ["", f"### `{row['name']}`", "", _escaped(row["description"]), ""]
        if not row["params"]:
            lines.append("No parameters.")
            continue
        lines += ["| parameter | type | default | range | what |", "|---|---|---|---|---|"]
        for param in row["params"]:
            low, high = param.get("minimum"), param.get("maximum")
            span = f"{low} to {high}" if low is not None and high is not None else ""
            lines.append(f"| `{param['name']}` | {param['type']} | {_shown(param['default'])} | "
                         f"{span} | {_escaped(param['help'])} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        value = list(value)
    return f"`{json.dumps(value)}`"


def _type_of(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return " or ".join(json.dumps(v) for v in prop["enum"])
    if "anyOf" in prop:
        return " or ".join(_type_of(p) for p in prop["anyOf"] if p.get("type") != "null")
    kind = JSON_TYPES.get(prop.get("type", ""), prop.get("type", "table"))
    if kind == "array" and "items" in prop:
        return f"array of {_type_of(prop['items'])}"
    return kind


def _range_of(prop: dict[str, Any]) -> str:
    low, high = prop.get("minimum"), prop.get("maximum")
    if low is not None and high is not None:
        return f"{low} to {high}"
    if low is not None:
        return f"≥ {low}"
    if "pattern" in prop:
        return f"`{prop['pattern']}`"
    if "items" in prop and "pattern" in prop["items"]:
        return f"each `{prop['items']['pattern']}`"
    return ""


def _escaped(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
