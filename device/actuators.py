"""device/actuators.py: the Actuator interface, slot templating, and the registry of actuator types.

    act = make_actuator("out", {"type": "print"}, base_dir=".")
    act.perform({"message": "{intent} {name}"}, ActionContext("HassTurnOn", {"name": "fan"}, "turn on the fan", 0.97))

An actuator turns one step of an action (a dict from the actions YAML) into an effect and returns a short
description of what it did. It raises ActuatorError when the effect failed; the ActionRunner
(device/actions.py) retries with backoff and logs, and the listening loop carries on.

Slot values come from speech, so they are never pasted into code: the shell actuator passes them only as
environment variables; MQTT topics accept them only as slugs (`kitchen_light`, no `/`, `#`, `+`); URLs
percent-encode them; payloads and bodies are data.
"""
from __future__ import annotations

import json
import math
import re
import string
import sys
from dataclasses import dataclass, field
from typing import Callable, Protocol


class ActuatorError(RuntimeError):
    """An actuator could not perform a step (broker down, HTTP error, command failed)."""


class StepError(ActuatorError):
    """A step cannot be done for this command (slot missing, unknown line): retrying would not help."""


class ActuatorTimeout(ActuatorError):
    """A step did not finish within its time limit. It is not retried: it may have taken effect (a
    request the server received but did not answer, a command half done)."""


class ConfigError(ValueError):
    """The actions file is wrong; the message names the file, the entry and the expected value."""


def check_number(value, where: str, *, integer: bool = False, minimum: float | None = None,
                 maximum: float | None = None, positive: bool = False, what: str = ""):
    """value if it is a finite number in range (an int when `integer`; booleans are not numbers), else a
    ConfigError "<where>: expected <what>, got <value>"."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (isinstance(value, int) or not integer)
    ok = ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    ok = ok and (not positive or value > 0)
    if not ok:
        if not what:
            kind = "an integer" if integer else "a number"
            if positive:
                what = f"{kind} > 0"
            elif minimum is not None and maximum is not None:
                what = f"{kind} from {minimum:g} to {maximum:g}"
            elif minimum is not None:
                what = f"{kind} >= {minimum:g}"
            else:
                what = kind
        raise ConfigError(f"{where}: expected {what}, got {value!r}")
    return value


def check_keys(mapping: dict, allowed, where: str) -> None:
    """ConfigError naming the first key of `mapping` not in `allowed` (a typo would otherwise be ignored)."""
    unknown = sorted(str(k) for k in mapping if k not in allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; expected one of {', '.join(sorted(allowed))}")


def check_template(value, where: str, what: str = "a string") -> None:
    """A step field that must be a template string (non-empty)."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected {what}, got {value!r}")


def setting(config: dict, key: str, where: str, default, **limits):
    """A numeric actuator setting, checked (check_number) and named `<where>.<key>` when wrong."""
    value = config.get(key, default)
    return check_number(value, f"{where}.{key}", **limits)


@dataclass
class ActionContext:
    intent: str
    slots: dict[str, str]
    transcript: str = ""
    confidence: float = 0.0
    extra: dict = field(default_factory=dict)

    def fields(self) -> dict[str, str]:
        """Names usable as {name} in templates: every slot, plus intent, transcript, confidence."""
        return {**{k: str(v) for k, v in self.slots.items()}, "intent": self.intent, "transcript": self.transcript,
                "confidence": f"{self.confidence:.3f}"}


def slug(value: str) -> str:
    """"Kitchen Light" -> "kitchen_light": safe inside an MQTT topic or an entity id."""
    return re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_") or "_"


def template_fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def expand(template, context: ActionContext, escape: Callable[[str], str] = lambda s: s):
    """Fills {name} fields (recursively through dicts and lists). A missing slot raises ActuatorError,
    because acting on a command without its slot (which light?) would be wrong."""
    if isinstance(template, dict):
        return {k: expand(v, context, escape) for k, v in template.items()}
    if isinstance(template, list):
        return [expand(v, context, escape) for v in template]
    if not isinstance(template, str):
        return template
    values = context.fields()
    # {name|area}: the first of these slots that was recognised (models differ in which one they fill)
    template = re.sub(r"\{([A-Za-z_]\w*(?:\|[A-Za-z_]\w*)+)\}",
                      lambda m: "{" + next((n for n in m.group(1).split("|") if n in values), m.group(1).split("|")[0]) + "}",
                      template)
    missing = [n for n in template_fields(template) if n not in values]
    if missing:
        raise StepError(f"slot {missing[0]!r} is needed by {template!r} but was not recognised")
    try:
        return template.format_map({k: escape(v) for k, v in values.items()})
    except (ValueError, IndexError, AttributeError) as exc:
        raise StepError(f"bad template {template!r}: {exc}") from None


class Actuator(Protocol):
    """`perform` does one step; `check_step(step, where)` (optional) raises ConfigError for a step that
    can never work (checked when the actions file is read, `where` names the step); `step_keys`
    (optional): the keys a step may have besides `actuator`; `timeout`: seconds one attempt may take."""
    name: str

    def perform(self, step: dict, context: ActionContext) -> str: ...

    def close(self) -> None: ...


class PrintActuator:
    """Prints a message (default: intent and slots) to stdout, or appends a JSON line to `file`.

    Step keys: message (template). Actuator keys: file (optional path), stream ("stdout"|"stderr")."""

    settings = {"type", "file", "stream"}
    step_keys = {"message"}

    def __init__(self, name: str, config: dict, base_dir: str):
        self.name = name
        self.file = config.get("file")
        self.stream = config.get("stream", "stderr")  # stdout carries the JSON event lines
        self.timeout = 5.0
        if self.stream not in ("stdout", "stderr"):
            raise ConfigError(f"actuators.{name}.stream: expected 'stdout' or 'stderr', got {self.stream!r}")
        if self.file is not None:
            check_template(self.file, f"actuators.{name}.file", "a file path")

    def check_step(self, step: dict, where: str) -> None:
        if "message" in step:
            check_template(step["message"], f"{where}.message", "a message (template string)")

    def perform(self, step: dict, context: ActionContext) -> str:
        if "message" in step:
            message = expand(str(step["message"]), context)
        else:  # not a template: slot values may contain braces
            message = f"{context.intent} {json.dumps(context.slots, sort_keys=True)}"
        if self.file:
            with open(self.file, "a", encoding="utf-8") as f:
                f.write(json.dumps({"intent": context.intent, "slots": context.slots, "message": message}) + "\n")
        else:
            print(message, file=sys.stdout if self.stream == "stdout" else sys.stderr, flush=True)
        return f"printed: {message}"

    def close(self) -> None:
        pass


def make_actuator(name: str, config: dict, base_dir: str) -> Actuator:
    """Builds the actuator of config["type"]; heavy optional packages are imported inside each type."""
    kind = config.get("type")
    if kind in ACTUATOR_SETTINGS:
        check_keys(config, ACTUATOR_SETTINGS[kind], f"actuators.{name}")
    if kind == "print":
        return PrintActuator(name, config, base_dir)
    if kind == "mqtt":
        from safu.device.actuator_mqtt import MqttActuator
        return MqttActuator(name, config, base_dir)
    if kind == "http":
        from safu.device.actuator_http import HttpActuator
        return HttpActuator(name, config, base_dir)
    if kind == "shell":
        from safu.device.actuator_shell import ShellActuator
        return ShellActuator(name, config, base_dir)
    if kind in ("gpio", "simulated_gpio"):
        from safu.device.actuator_gpio import make_gpio
        return make_gpio(name, config, base_dir)
    raise ConfigError(f"actuator {name}: unknown type {kind!r}; expected print, mqtt, http, shell, gpio or simulated_gpio")


ACTUATOR_SETTINGS = {  # the settings each actuator type reads (a typo would otherwise be ignored)
    "print": PrintActuator.settings,
    "mqtt": {"type", "host", "port", "keepalive", "timeout", "base_topic", "discovery_prefix", "username",
             "password", "client_id"},
    "http": {"type", "base_url", "headers", "timeout"},
    "shell": {"type", "timeout", "cwd"},
    "gpio": {"type", "chip", "lines", "consumer"},
    "simulated_gpio": {"type", "chip", "lines", "state_file"},
}
