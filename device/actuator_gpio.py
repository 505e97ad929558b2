"""device/actuator_gpio.py: switch GPIO output lines, on a real board or on a simulated one.

    actuators:
      board: {type: gpio, chip: /dev/gpiochip0, lines: {kitchen light: 17, fan: 27}}     # libgpiod v2
      sim:   {type: simulated_gpio, state_file: gpio_state.json, lines: {kitchen light: 17, fan: 27}}
    actions:
      - {intent: HassTurnOn,  do: [{actuator: board, line: "{name}", value: 1}]}
      - {intent: HassTurnOff, do: [{actuator: board, line: "{name}", value: 0}]}

`line` is a line name from `lines` (after filling in slots, compared in lower case), or, written in the
actions file itself, a line offset (`line: 17`). Only those lines are ever driven: a line that comes from
speech (a `{slot}` in `line`) must be one of the names in `lines`; a spoken number ("23", "٢٣", "4294967296")
is refused with the reason, never taken as an offset. The actions file is checked when it is read: every
offset an integer from 0 to MAX_OFFSET, every literal `line` named in `lines` or an offset, every literal
`value` 0/1/on/off.
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

from safu.device.actuators import (ActionContext, ActuatorError, ConfigError, StepError, check_number, expand,
                                   template_fields)

MAX_OFFSET = 65535  # libgpiod offsets are unsigned; no chip has this many lines
VALUES = {"0": 0, "1": 1, "on": 1, "off": 0}


def _line_table(name: str, config: dict) -> dict[str, int]:
    lines = config.get("lines") or {}
    if not isinstance(lines, dict):
        raise ConfigError(f"actuators.{name}.lines: expected a mapping line name -> offset, got {lines!r}")
    table = {}
    for label, offset in lines.items():
        where = f"actuators.{name}.lines.{label}"
        check_number(offset, where, integer=True, minimum=0, maximum=MAX_OFFSET,
                     what=f"a line offset (an integer from 0 to {MAX_OFFSET})")
        key = str(label).strip().lower()
        if key in table:
            raise ConfigError(f"{where}: the name {key!r} is given twice (names are compared in lower case)")
        table[key] = offset
    return table


def _literal_offset(line) -> int | None:
    """`line: 17` (or "17", ASCII digits) written in the actions file: the offset; else None."""
    if isinstance(line, int) and not isinstance(line, bool):
        return line
    if isinstance(line, str) and line.strip().isascii() and line.strip().isdigit():
        return int(line.strip())
    return None


class _GpioBase:
    step_keys = {"line", "value"}

    def __init__(self, name: str, config: dict):
        self.name = name
        self.lines = _line_table(name, config)

    def check_step(self, step: dict, where: str) -> None:
        if "line" not in step:
            raise ConfigError(f"{where}.line: a gpio step needs 'line' (a name from lines, or a {{slot}})")
        line = step["line"]
        if isinstance(line, bool) or not isinstance(line, (str, int)):
            raise ConfigError(f"{where}.line: expected a line name, a {{slot}} or an offset, got {line!r}")
        if not (isinstance(line, str) and template_fields(line)):  # written in the file: check it now
            offset = _literal_offset(line)
            if offset is not None:
                check_number(offset, f"{where}.line", minimum=0, maximum=MAX_OFFSET,
                             what=f"a line offset (an integer from 0 to {MAX_OFFSET})")
            elif str(line).strip().lower() not in self.lines:
                known = ", ".join(sorted(self.lines)) or "none"
                raise ConfigError(f"{where}.line: {line!r} is not a name in actuators.{self.name}.lines "
                                  f"(known: {known})")
        value = step.get("value", 1)
        if not (isinstance(value, str) and template_fields(value)) and str(value).strip().lower() not in VALUES:
            raise ConfigError(f"{where}.value: expected 0, 1, on or off, got {value!r}")

    def resolve(self, step: dict, context: ActionContext) -> tuple[int, str, int]:
        if "line" not in step:
            raise ConfigError(f"actuator {self.name}: step needs 'line'")
        line = step["line"]
        spoken = isinstance(line, str) and bool(template_fields(line))
        label = expand(str(line), context).strip().lower()
        if label in self.lines:
            offset = self.lines[label]
        elif not spoken and _literal_offset(line) is not None:  # an offset the actions file names
            offset = _literal_offset(line)
        else:
            known = ", ".join(sorted(self.lines)) or "none"
            why = " (a spoken number is never taken as a line offset)" if any(c.isdigit() for c in label) else ""
            raise StepError(f"{self.name}: no GPIO line named {label!r} in lines{why}; not driven (known: {known})")
        value = expand(str(step.get("value", 1)), context).strip().lower()
        if value not in VALUES:
            raise StepError(f"{self.name}: value must be 0/1/on/off, got {value!r}")
        return offset, label, VALUES[value]


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
