"""device/actions.py: the actions file (YAML), the runner that carries it out, and the worker that runs
it off the listening path.

    runner = ActionRunner.from_file("actions.yaml")         # or ActionRunner.default()
    result = runner.run(ActionContext("HassTurnOn", {"name": "Kitchen Light"}, "turn on the kitchen light", 0.93))
    result  -> {"rule": 0, "steps": [{"actuator": "board", "ok": True, "detail": "...", "attempts": 1}]}

    worker = ActionWorker(runner, on_done=print)            # a thread; at most `max_waiting` actions wait
    worker.submit(context, {"source": "mic"})  -> {"queued": True, "id": 1, "rule": 0, "waiting": 0}
    # later, on the worker's thread: on_done({"type": "action", "id": 1, "ok": True, "steps": [...], ...})
    worker.drain(); worker.close()

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

The whole file is checked when it is read, before anything is heard: every key (unknown ones too, a typo
would otherwise be ignored), every number (ports, timeouts, attempts: finite, in range, not booleans),
every step (its actuator exists; a shell step has a `command`, an http step a `url` or a `path` with the
actuator's `base_url`, an mqtt step a `topic` or `ha`, a gpio step a `line` the actuator names). An
error is a ConfigError "<file>: <where>: expected <what>, got <value>", where is the rule and field, e.g.
"actions.yaml: actions[2].do[0].command: expected a command (a non-empty string), got None".

A step that fails is retried `attempts` times with exponential backoff (backoff, 2*backoff, ... up to
max_backoff seconds), logged, and reported in the result; it never raises. A step that times out is not
retried (it may have taken effect: a request the server got but did not answer, half a command); its
result says `"timed_out": true`. Each attempt has a deadline, the actuator's timeout plus
DEADLINE_GRACE_S: an actuator that overruns it (a server trickling its answer) is left to finish on a
thread of its own, reported as timed out, and the next step on the same actuator waits for it.
"""
from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Callable

from safu.device.actuators import (ActionContext, ActuatorError, ActuatorTimeout, ConfigError, StepError,
                                   check_keys, check_number, make_actuator)
from safu.runtime.datasets.common import DataError, load_yaml

log = logging.getLogger("safu.device.actions")

DEFAULT_ACTIONS = "default_actions.yaml"
DEADLINE_GRACE_S = 2.0  # an attempt's deadline: the actuator's own timeout plus this
HOLD_S = 5.0            # longest the worker waits for a held action's release
MAX_WAITING = 8         # actions that may wait for the worker; more are dropped, and the event says so


def _require(cond: bool, where: str, what: str):
    if not cond:
        raise ConfigError(f"{where}: {what}")


def read_config(path: str, text: str):
    """The actions file's YAML, read as YAML 1.2 (datasets.common.load_yaml): unquoted On/Off/Yes/No are
    strings, only true/false are booleans (PyYAML's safe_load follows YAML 1.1, where a rule for intent
    `On` or a slot value `off` became True/False). Raises ConfigError naming the file and line."""
    try:
        return load_yaml(Path(path), text=text)
    except DataError as exc:
        raise ConfigError(str(exc)) from None


def default_actions_path() -> str:
    return str(resources.files("safu.device").joinpath(DEFAULT_ACTIONS))


class ActionRunner:
    def __init__(self, config: dict, source: str = "<actions>", base_dir: str = "."):
        _require(isinstance(config, dict), source, "expected a mapping with 'actuators' and 'actions'")
        check_keys(config, {"actuators", "actions", "retry", "default"}, source)
        actuators = config.get("actuators") or {}
        _require(isinstance(actuators, dict), f"{source}: actuators", "expected a mapping name -> settings")
        retry = config.get("retry") or {}
        _require(isinstance(retry, dict), f"{source}: retry", "expected a mapping {attempts, backoff, max_backoff}")
        try:
            check_keys(retry, {"attempts", "backoff", "max_backoff"}, "retry")
            self.attempts = check_number(retry.get("attempts", 3), "retry.attempts", integer=True, minimum=1,
                                         maximum=100, what="an integer from 1 to 100")
            self.backoff = float(check_number(retry.get("backoff", 0.2), "retry.backoff", minimum=0,
                                              maximum=60, what="seconds from 0 to 60"))
            self.max_backoff = float(check_number(retry.get("max_backoff", 2.0), "retry.max_backoff", minimum=0,
                                                  maximum=600, what="seconds from 0 to 600"))
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        self.source = source
        self.actuators = {}
        for name, settings in actuators.items():
            _require(isinstance(settings, dict) and "type" in settings, f"{source}: actuators.{name}",
                     f"expected a mapping with 'type', got {settings!r}")
            try:
                self.actuators[str(name)] = make_actuator(str(name), settings, base_dir)
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}") from None
        self._busy = {name: threading.Lock() for name in self.actuators}  # one step at a time per actuator
        rules = config.get("actions") or []
        _require(isinstance(rules, list), f"{source}: actions", f"expected a list of rules, got {rules!r}")
        self.rules = [self._check_rule(rule, f"{source}: actions[{i}]") for i, rule in enumerate(rules)]
        default = config.get("default")
        self.default = None
        if default is not None:
            _require(isinstance(default, dict), f"{source}: default",
                     f"expected a mapping {{do: [steps]}} (the rule for intents no other matches), got {default!r}")
            _require("intent" not in default, f"{source}: default.intent", "the default rule is for every intent; "
                     "remove 'intent' or make it a rule under actions")
            self.default = self._check_rule({"intent": "*", **default}, f"{source}: default")

    def _check_rule(self, rule, where: str) -> dict:
        _require(isinstance(rule, dict), where, f"expected a mapping with intent and do, got {rule!r}")
        check_keys(rule, {"intent", "slots", "do"}, where)
        _require(isinstance(rule.get("intent"), str) and rule["intent"].strip(), f"{where}.intent",
                 f"expected an intent name, got {rule.get('intent')!r}")
        slots = rule.get("slots") or {}
        _require(isinstance(slots, dict), f"{where}.slots", f"expected a mapping slot -> value, got {slots!r}")
        for slot, value in slots.items():
            _require(isinstance(value, (str, int, float)) and not isinstance(value, bool), f"{where}.slots.{slot}",
                     f"expected a value (a string or number), got {value!r}")
        steps = rule.get("do")
        _require(isinstance(steps, list) and steps, f"{where}.do", f"expected a non-empty list of steps, got {steps!r}")
        for j, step in enumerate(steps):
            at = f"{where}.do[{j}]"
            _require(isinstance(step, dict), at, f"expected a mapping with 'actuator', got {step!r}")
            _require(step.get("actuator") in self.actuators, f"{at}.actuator",
                     f"expected one of the actuators {sorted(self.actuators)}, got {step.get('actuator')!r}")
            actuator = self.actuators[step["actuator"]]
            keys = getattr(actuator, "step_keys", None)
            if keys is not None:
                check_keys(step, {"actuator", *keys}, at)
            if hasattr(actuator, "check_step"):
                actuator.check_step(step, at)
        return {"intent": rule["intent"], "slots": {str(k): str(v).lower() for k, v in slots.items()}, "do": steps}

    @classmethod
    def from_file(cls, path: str) -> "ActionRunner":
        """Raises ConfigError (ValueError) naming the file and entry, OSError if unreadable."""
        with open(path, encoding="utf-8") as f:
            text = f.read()
        return cls(read_config(path, text), source=str(path), base_dir=os.path.dirname(os.path.abspath(path)))

    @classmethod
    def default(cls, state_file: str | None = None) -> "ActionRunner":
        """The shipped demo: switches a simulated GPIO board (state file in the working directory)."""
        path = default_actions_path()
        with open(path, encoding="utf-8") as f:
            config = read_config(path, f.read())
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
        """Returns {"rule", "steps": [{actuator, ok, detail|error, attempts[, timed_out]}]} or
        {"rule": None, "steps": [], "reason"}."""
        index, rule = self.match(context)
        if rule is None:
            return {"rule": None, "steps": [], "reason": no_rule_reason(context)}
        return self.run_rule(index, rule, context)

    def run_rule(self, index: int | None, rule: dict, context: ActionContext) -> dict:
        steps = [self._run_step(step, context) for step in rule["do"]]
        return {"rule": index if index is not None else "default", "steps": steps}

    def _run_step(self, step: dict, context: ActionContext) -> dict:
        name = step["actuator"]
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                return {"actuator": name, "ok": True, "detail": self._attempt(name, step, context), "attempts": attempt}
            except (ConfigError, StepError) as exc:  # a wrong step will not get better by retrying
                log.error("%s: %s", name, exc)
                return {"actuator": name, "ok": False, "error": str(exc), "attempts": attempt}
            except ActuatorTimeout as exc:  # it may have taken effect: never run twice
                log.warning("%s: %s (not run again)", name, exc)
                return {"actuator": name, "ok": False, "error": f"{exc} (not run again)", "attempts": attempt,
                        "timed_out": True}
            except Exception as exc:  # noqa: BLE001 - an actuator must never kill the loop
                error = str(exc) if isinstance(exc, ActuatorError) else f"{type(exc).__name__}: {exc}"
                log.warning("%s: attempt %d/%d failed: %s", name, attempt, self.attempts, error)
                if attempt < self.attempts:
                    time.sleep(delay)
                    delay = min(delay * 2, self.max_backoff)
        return {"actuator": name, "ok": False, "error": error, "attempts": self.attempts}

    def _attempt(self, name: str, step: dict, context: ActionContext) -> str:
        """actuator.perform on a thread of its own, waited for until the deadline (its timeout plus
        DEADLINE_GRACE_S); past it, ActuatorTimeout, and the thread is left to end by itself."""
        actuator, busy = self.actuators[name], self._busy[name]
        deadline_s = float(getattr(actuator, "timeout", 10.0)) + DEADLINE_GRACE_S
        outcome: dict = {}

        def attempt():
            if not busy.acquire(timeout=deadline_s):
                outcome["error"] = ActuatorTimeout(f"{name} is still busy with a step that overran its deadline")
                return
            try:
                outcome["detail"] = actuator.perform(step, context)
            except BaseException as exc:  # noqa: BLE001 - handed to the runner's thread
                outcome["error"] = exc
            finally:
                busy.release()

        thread = threading.Thread(target=attempt, name=f"safu-step-{name}", daemon=True)
        thread.start()
        thread.join(deadline_s + 0.1)  # the lock wait ends first when it is the lock that is late
        if thread.is_alive():
            raise ActuatorTimeout(f"step still running after its deadline of {deadline_s:g}s; left to finish")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["detail"]

    def close(self) -> None:
        for actuator in self.actuators.values():
            try:
                actuator.close()
            except Exception as exc:  # noqa: BLE001
                log.warning("closing %s: %s", actuator.name, exc)


def no_rule_reason(context: ActionContext) -> str:
    return f"no action configured for intent {context.intent}"


class ActionWorker:
    """Carries out an ActionRunner's actions on a thread of its own, so that listening never waits for
    a device. `submit` returns at once, saying whether the action was queued; the result goes to
    `on_done` (called on the worker's thread) as one dict:

        {"type": "action", "id": 3, **about, "intent", "slots", "rule", "steps": [...], "ok": bool,
         "error": "..." or None, "timings": {"waited_ms", "action_ms"}}

    where `about` is what submit was given (the voice loop: source, start_s, transcript). At most
    `max_waiting` actions wait (the one running aside); a command beyond that is dropped, not queued."""

    def __init__(self, runner: ActionRunner, on_done: Callable[[dict], None] | None = None,
                 max_waiting: int = MAX_WAITING):
        if max_waiting < 1:
            raise ValueError(f"max_waiting must be at least 1, got {max_waiting}")
        self.runner, self.on_done, self.max_waiting = runner, on_done, max_waiting
        self._queue: queue.Queue = queue.Queue()
        self._slots = threading.BoundedSemaphore(max_waiting)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._held: dict[int, threading.Event] = {}
        self._thread = threading.Thread(target=self._serve, name="safu-actions", daemon=True)
        self._thread.start()

    def submit(self, context: ActionContext, about: dict | None = None, hold: bool = False) -> dict:
        """-> {"queued": True, "id", "rule", "waiting"} or {"queued": False, "rule", "reason"} (no rule for
        this intent: nothing to do) or {"queued": False, "id", "rule", "error"} (too many waiting).
        hold: the worker waits for release(id) (at most HOLD_S) before it begins this action, so that
        the caller can report the command before its outcome comes out."""
        index, rule = self.runner.match(context)
        if rule is None:
            return {"queued": False, "rule": None, "reason": no_rule_reason(context)}
        label = index if index is not None else "default"
        ident = next(self._ids)
        if not self._slots.acquire(blocking=False):
            return {"queued": False, "id": ident, "rule": label,
                    "error": f"{self.max_waiting} actions are already waiting; this one was dropped"}
        waiting = self._queue.qsize()
        go = threading.Event()
        if hold:
            with self._lock:
                self._held[ident] = go
        else:
            go.set()
        self._queue.put((ident, context, index, rule, dict(about or {}), time.perf_counter(), go))
        return {"queued": True, "id": ident, "rule": label, "waiting": waiting}

    def release(self, ident: int) -> None:
        """Lets the worker begin action `ident`, submitted with hold=True."""
        with self._lock:
            go = self._held.pop(ident, None)
        if go is not None:
            go.set()

    def drain(self) -> None:
        """Waits until every queued action has been done (each step is bounded by its deadline)."""
        self._queue.join()

    def close(self, timeout: float | None = None) -> None:
        """Finishes the queued actions and stops the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        self.runner.close()

    def _serve(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.task_done()
                return
            self._slots.release()
            ident, context, index, rule, about, queued_at, go = item
            if not go.wait(HOLD_S):
                log.warning("action %d was never released; doing it anyway", ident)
            with self._lock:
                self._held.pop(ident, None)
            started = time.perf_counter()
            try:
                result = self.runner.run_rule(index, rule, context)
                failed = [step for step in result["steps"] if not step["ok"]]
                error = "; ".join(step["error"] for step in failed) or None
            except Exception as exc:  # noqa: BLE001 - the runner does not raise; if it did, the worker goes on
                result, error = {"rule": index, "steps": []}, f"{type(exc).__name__}: {exc}"
            done = {"type": "action", "id": ident, **about, "intent": context.intent, "slots": dict(context.slots),
                    "rule": result["rule"], "steps": result["steps"], "ok": error is None, "error": error,
                    "timings": {"waited_ms": round(1000 * (started - queued_at), 1),
                                "action_ms": round(1000 * (time.perf_counter() - started), 1)}}
            try:
                if self.on_done is not None:
                    self.on_done(done)
            except Exception as exc:  # noqa: BLE001 - e.g. stdout closed; the actions still go on
                log.warning("reporting action %d failed: %s", ident, exc)
            finally:
                self._queue.task_done()
