"""device/actuator_shell.py: run a command; slot values arrive only as environment variables.

    actuators: {sh: {type: shell, timeout: 5}}
    actions:   [{intent: HassTurnOn, do: [{actuator: sh, command: 'echo "on: $SAFU_SLOT_NAME" >> log.txt'}]}]

The command text comes from the actions file (trusted) and is never expanded with slot values, so speech
cannot inject shell syntax. Environment: SAFU_INTENT, SAFU_TRANSCRIPT, SAFU_CONFIDENCE and
SAFU_SLOT_<NAME> (upper case) for every slot. A non-zero exit status or a timeout is an ActuatorError.
"""
from __future__ import annotations

import os
import re
import subprocess

from safu.device.actuators import ActionContext, ActuatorError, ConfigError


def slot_environment(context: ActionContext) -> dict[str, str]:
    env = {"SAFU_INTENT": context.intent, "SAFU_TRANSCRIPT": context.transcript,
           "SAFU_CONFIDENCE": f"{context.confidence:.3f}"}
    for name, value in context.slots.items():
        env["SAFU_SLOT_" + re.sub(r"[^A-Z0-9]", "_", name.upper())] = str(value)
    return env


class ShellActuator:
    def __init__(self, name: str, config: dict, base_dir: str):
        self.name = name
        self.timeout = float(config.get("timeout", 10))
        self.cwd = os.path.join(base_dir, config["cwd"]) if config.get("cwd") else base_dir

    def perform(self, step: dict, context: ActionContext) -> str:
        command = step.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ConfigError(f"actuator {self.name}: step needs 'command' (a string)")
        env = {**os.environ, **slot_environment(context)}
        try:
            done = subprocess.run(command, shell=True, env=env, cwd=self.cwd, timeout=self.timeout,
                                  capture_output=True, text=True)
        except subprocess.TimeoutExpired:
            raise ActuatorError(f"command timed out after {self.timeout:g}s: {command}") from None
        if done.returncode != 0:
            raise ActuatorError(f"command exited with {done.returncode}: {command}: {done.stderr.strip()[-200:]}")
        return f"ran: {command}"

    def close(self) -> None:
        pass
