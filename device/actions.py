"""device/actions.py: the actions file (YAML) and the runner that carries it out, with retries.

    runner = ActionRunner.from_file("actions.yaml")         # or ActionRunner.default()
    result = runner.run(ActionContext("HassTurnOn", {"name": "Kitchen Light"}, "turn on the kitchen light", 0.93))
    result  -> {"rule": 0, "steps": [{"actuator": "board", "ok": True, "detail": "...", "attempts": 1}]}

File shape:

    actuators:                   # name -> {type: print|mqtt|http|shell|gpio|simulated_gpio, ...type settings}
      board: {type: simulated_gpio, state_file: gpio_state.json, lines: {kitchen light: 17}}
    retry: {attempts: 3, backoff: 0.2, max_backoff: 2.0}   # optional; per step
    actions:                     # first rule that matches wins
      - intent: HassTurnOn       # required
        slots: {name: Kitchen Light}   # optional: only when these slot values were recognised (case-insensitive)
        do:                      # one or more steps, each names its actuator
          - {actuator: board, line: "{name}", value: 1}
    default: {do: [{actuator: out}]}   # optional: for intents no rule matches (else nothing is done)

A failing step is retried `attempts` times with exponential backoff (backoff, 2*backoff, ... up to
max_backoff seconds), logged, and reported in the result; it never raises, so a broker that is down or a
server answering 500 cannot stop the listening loop.
"""
from __future__ import annotations

import logging
import os
import time
from importlib import resources

import yaml

from safu.device.actuators import ActionContext, ActuatorError, ConfigError, StepError, make_actuator

log = logging.getLogger("safu.device.actions")

DEFAULT_ACTIONS = "default_actions.yaml"


def _require(cond: bool, where: str, what: str):
    if not cond:
        raise ConfigError(f"{where}: {what}")


def default_actions_path() -> str:
    return str(resources.files("safu.device").joinpath(DEFAULT_ACTIONS))


class ActionRunner:
    def __init__(self, config: dict, source: str = "<actions>", base_dir: str = "."):
        _require(isinstance(config, dict), source, "expected a mapping with 'actuators' and 'actions'")
        unknown = set(config) - {"actuators", "actions", "retry", "default"}
        _require(not unknown, source, f"unknown top-level key(s) {sorted(unknown)}; expected actuators, actions, retry, default")
        actuators = config.get("actuators") or {}
        _require(isinstance(actuators, dict), f"{source}: actuators", "expected a mapping name -> settings")
        retry = config.get("retry") or {}
        _require(isinstance(retry, dict), f"{source}: retry", "expected {attempts, backoff, max_backoff}")
        self.attempts = int(retry.get("attempts", 3))
        self.backoff = float(retry.get("backoff", 0.2))
        self.max_backoff = float(retry.get("max_backoff", 2.0))
        _require(self.attempts >= 1, f"{source}: retry.attempts", "must be >= 1")
        self.source = source
        self.actuators = {}
        for name, settings in actuators.items():
            _require(isinstance(settings, dict) and "type" in settings, f"{source}: actuators.{name}",
                     "expected a mapping with 'type'")
            try:
                self.actuators[str(name)] = make_actuator(str(name), settings, base_dir)
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}") from None
        rules = config.get("actions") or []
        _require(isinstance(rules, list), f"{source}: actions", "expected a list of rules")
        self.rules = [self._check_rule(rule, f"{source}: actions[{i}]") for i, rule in enumerate(rules)]
        default = config.get("default")
        self.default = self._check_rule({"intent": "*", **default}, f"{source}: default") if default else None

    def _check_rule(self, rule, where: str) -> dict:
        _require(isinstance(rule, dict), where, "expected a mapping with intent and do")
        _require(isinstance(rule.get("intent"), str), f"{where}.intent", "expected an intent name")
        slots = rule.get("slots") or {}
        _require(isinstance(slots, dict), f"{where}.slots", "expected a mapping slot -> value")
        steps = rule.get("do")
        _require(isinstance(steps, list) and steps, f"{where}.do", "expected a non-empty list of steps")
        for j, step in enumerate(steps):
            _require(isinstance(step, dict) and step.get("actuator") in self.actuators, f"{where}.do[{j}].actuator",
                     f"expected one of the actuators {sorted(self.actuators)}, got {step.get('actuator') if isinstance(step, dict) else step!r}")
        return {"intent": rule["intent"], "slots": {str(k): str(v).lower() for k, v in slots.items()}, "do": steps}

    @classmethod
    def from_file(cls, path: str) -> "ActionRunner":
        """Raises ConfigError (ValueError) naming the file and entry, OSError if unreadable."""
        with open(path, encoding="utf-8") as f:
            try:
                config = yaml.safe_load(f)
            except yaml.YAMLError as exc:
                raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        return cls(config, source=str(path), base_dir=os.path.dirname(os.path.abspath(path)))

    @classmethod
    def default(cls, state_file: str | None = None) -> "ActionRunner":
        """The shipped demo: switches a simulated GPIO board (state file in the working directory)."""
        path = default_actions_path()
        with open(path, encoding="utf-8") as f:
            config = yaml.safe_load(f)
        if state_file:
            for settings in config["actuators"].values():
                if settings.get("type") == "simulated_gpio":
                    settings["state_file"] = state_file
        return cls(config, source=path, base_dir=os.getcwd())

    def match(self, context: ActionContext) -> tuple[int | None, dict | None]:
        slots = {k: str(v).lower() for k, v in context.slots.items()}
        for i, rule in enumerate(self.rules):
            if rule["intent"] == context.intent and all(slots.get(k) == v for k, v in rule["slots"].items()):
                return i, rule
        return (None, self.default) if self.default else (None, None)

    def run(self, context: ActionContext) -> dict:
        """Returns {"rule", "steps": [{actuator, ok, detail|error, attempts}]} or {"rule": None, "reason"}."""
        index, rule = self.match(context)
        if rule is None:
            return {"rule": None, "steps": [], "reason": f"no action configured for intent {context.intent}"}
        steps = [self._run_step(step, context) for step in rule["do"]]
        return {"rule": index if index is not None else "default", "steps": steps}

    def _run_step(self, step: dict, context: ActionContext) -> dict:
        name = step["actuator"]
        actuator = self.actuators[name]
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                return {"actuator": name, "ok": True, "detail": actuator.perform(step, context), "attempts": attempt}
            except (ConfigError, StepError) as exc:  # a wrong step will not get better by retrying
                log.error("%s: %s", name, exc)
                return {"actuator": name, "ok": False, "error": str(exc), "attempts": attempt}
            except Exception as exc:  # noqa: BLE001 - an actuator must never kill the loop
                error = str(exc) if isinstance(exc, ActuatorError) else f"{type(exc).__name__}: {exc}"
                log.warning("%s: attempt %d/%d failed: %s", name, attempt, self.attempts, error)
                if attempt < self.attempts:
                    time.sleep(delay)
                    delay = min(delay * 2, self.max_backoff)
        return {"actuator": name, "ok": False, "error": error, "attempts": self.attempts}

    def close(self) -> None:
        for actuator in self.actuators.values():
            try:
                actuator.close()
            except Exception as exc:  # noqa: BLE001
                log.warning("closing %s: %s", actuator.name, exc)
