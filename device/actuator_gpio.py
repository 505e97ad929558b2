"""device/actuator_gpio.py: switch GPIO output lines, on a real board or on a simulated one.

    actuators:
      board: {type: gpio, chip: /dev/gpiochip0, lines: {kitchen light: 17, fan: 27}}     # libgpiod v2
      sim:   {type: simulated_gpio, state_file: gpio_state.json, lines: {kitchen light: 17, fan: 27}}
    actions:
      - {intent: HassTurnOn,  do: [{actuator: board, line: "{name}", value: 1}]}
      - {intent: HassTurnOff, do: [{actuator: board, line: "{name}", value: 0}]}

`line` is a line name from `lines` (after filling in slots, compared in lower case) or an offset number.
The real one uses the Linux GPIO character device through the `gpiod` package (>= 2.0, imported only when
such an actuator is configured) and keeps each requested line, because a line's output holds only while it
is requested. The simulated one keeps the same lines in a JSON file, {"chip": ..., "lines": {"17": 1}},
rewritten atomically (temp file, then rename) so a reader never sees half a state; it is what the default
demo and the tests switch.
"""
from __future__ import annotations

import json
import os
import tempfile

from safu.device.actuators import ActionContext, ActuatorError, ConfigError, StepError, expand


def _line_table(name: str, config: dict) -> dict[str, int]:
    table = {}
    for label, offset in (config.get("lines") or {}).items():
        if not isinstance(offset, int) or offset < 0:
            raise ConfigError(f"actuator {name}: lines.{label} must be a line offset (integer >= 0), got {offset!r}")
        table[str(label).lower()] = offset
    return table


class _GpioBase:
    def __init__(self, name: str, config: dict):
        self.name = name
        self.lines = _line_table(name, config)

    def resolve(self, step: dict, context: ActionContext) -> tuple[int, str, int]:
        if "line" not in step:
            raise ConfigError(f"actuator {self.name}: step needs 'line'")
        label = expand(str(step["line"]), context).strip().lower()
        if label in self.lines:
            offset = self.lines[label]
        elif label.isdigit():
            offset = int(label)
        else:
            known = ", ".join(sorted(self.lines)) or "none"
            raise StepError(f"{self.name}: no GPIO line for {label!r} (known: {known})")
        value = expand(str(step.get("value", 1)), context).strip().lower()
        if value not in ("0", "1", "on", "off"):
            raise StepError(f"{self.name}: value must be 0/1/on/off, got {value!r}")
        return offset, label, 1 if value in ("1", "on") else 0


class SimulatedGpio(_GpioBase):
    def __init__(self, name: str, config: dict, base_dir: str):
        super().__init__(name, config)
        path = config.get("state_file") or os.path.join(os.getcwd(), "safu_gpio_state.json")
        path = os.path.expanduser(str(path))
        self.state_file = path if os.path.isabs(path) else os.path.join(base_dir, path)
        self.chip = str(config.get("chip", "simulated"))

    def read_state(self) -> dict[str, int]:
        """Returns {offset as str: 0|1} (empty when the file does not exist yet)."""
        try:
            with open(self.state_file, encoding="utf-8") as f:
                return json.load(f).get("lines", {})
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ActuatorError(f"{self.state_file}: unreadable simulated GPIO state: {exc}") from None

    def perform(self, step: dict, context: ActionContext) -> str:
        offset, label, value = self.resolve(step, context)
        state = self.read_state()
        state[str(offset)] = value
        folder = os.path.dirname(self.state_file) or "."
        try:
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".gpio-", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"chip": self.chip, "lines": dict(sorted(state.items(), key=lambda kv: int(kv[0])))}, f)
            os.replace(tmp, self.state_file)
        except OSError as exc:
            raise ActuatorError(f"{self.state_file}: cannot write simulated GPIO state: {exc}") from None
        return f"gpio {self.chip} line {offset} ({label}) = {value}"

    def close(self) -> None:
        pass


class CharacterDeviceGpio(_GpioBase):
    def __init__(self, name: str, config: dict, base_dir: str):
        super().__init__(name, config)
        self.chip = str(config.get("chip", "/dev/gpiochip0"))
        self.consumer = str(config.get("consumer", "safu"))
        try:
            import gpiod
        except ImportError:
            raise ConfigError(f"actuator {name}: type gpio needs the 'gpiod' package (libgpiod >= 2): pip install gpiod") from None
        if not hasattr(gpiod, "request_lines"):
            raise ConfigError(f"actuator {name}: the installed gpiod is the old 1.x API; pip install 'gpiod>=2'")
        if not os.path.exists(self.chip):
            raise ConfigError(f"actuator {name}: {self.chip}: no such GPIO chip (see ls /dev/gpiochip*)")
        self._gpiod = gpiod
        self._requests = {}

    def perform(self, step: dict, context: ActionContext) -> str:
        offset, label, value = self.resolve(step, context)
        gpiod = self._gpiod
        from gpiod.line import Direction, Value
        try:
            request = self._requests.get(offset)
            if request is None:
                request = gpiod.request_lines(self.chip, consumer=self.consumer,
                                              config={offset: gpiod.LineSettings(direction=Direction.OUTPUT)})
                self._requests[offset] = request
            request.set_value(offset, Value.ACTIVE if value else Value.INACTIVE)
        except OSError as exc:
            self._requests.pop(offset, None)
            raise ActuatorError(f"{self.chip} line {offset}: {exc}") from None
        return f"gpio {self.chip} line {offset} ({label}) = {value}"

    def close(self) -> None:
        for request in self._requests.values():
            request.release()
        self._requests.clear()


def make_gpio(name: str, config: dict, base_dir: str):
    if config.get("type") == "simulated_gpio":
        return SimulatedGpio(name, config, base_dir)
    return CharacterDeviceGpio(name, config, base_dir)
