"""device/actuator_shell.py: run a command; slot values arrive only as environment variables.

    actuators: {sh: {type: shell, timeout: 5}}
    actions:   [{intent: HassTurnOn, do: [{actuator: sh, command: 'echo "on: $SAFU_SLOT_NAME" >> log.txt'}]}]

The command text comes from the actions file (trusted) and is never expanded with slot values, so speech
cannot inject shell syntax. Environment: SAFU_INTENT, SAFU_TRANSCRIPT, SAFU_CONFIDENCE and
SAFU_SLOT_<NAME> (upper case) for every slot. A non-zero exit status is an ActuatorError (retried by the
runner). The command runs in a session (process group) of its own; when it outlives `timeout` seconds
the whole group is ended (SIGTERM, then SIGKILL half a second later), children it started included, and
ActuatorTimeout is raised: the runner does not run it again, since it may have done part of its work.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time

from safu.device.actuators import ActionContext, ActuatorError, ActuatorTimeout, check_template, setting

KILL_GRACE_S = 0.5  # between SIGTERM and SIGKILL of a timed-out command's process group


def slot_environment(context: ActionContext) -> dict[str, str]:
    env = {"SAFU_INTENT": context.intent, "SAFU_TRANSCRIPT": context.transcript,
           "SAFU_CONFIDENCE": f"{context.confidence:.3f}"}
    for name, value in context.slots.items():
        env["SAFU_SLOT_" + re.sub(r"[^A-Z0-9]", "_", name.upper())] = str(value)
    return env


def end_process_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group the command leads, SIGKILL to whatever is left after KILL_GRACE_S."""
    for sig, wait_s in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:  # the group is gone
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            proc.poll()  # reap the leader, else the group lives on as a zombie
            time.sleep(0.02)


class ShellActuator:
    step_keys = {"command"}

    def __init__(self, name: str, config: dict, base_dir: str):
        self.name = name
        self.timeout = float(setting(config, "timeout", f"actuators.{name}", 10, positive=True,
                                     what="a number of seconds > 0"))
        cwd = config.get("cwd")
        if cwd is not None:
            check_template(cwd, f"actuators.{name}.cwd", "a directory")
        self.cwd = os.path.join(base_dir, cwd) if cwd else base_dir

    def check_step(self, step: dict, where: str) -> None:
        check_template(step.get("command"), f"{where}.command", "a command (a non-empty string)")

    def perform(self, step: dict, context: ActionContext) -> str:
        command = step["command"]
        env = {**os.environ, **slot_environment(context)}
        try:
            proc = subprocess.Popen(command, shell=True, env=env, cwd=self.cwd, start_new_session=True,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except OSError as exc:
            raise ActuatorError(f"cannot run {command!r}: {exc}") from None
        try:
            _, stderr = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            end_process_group(proc)
            try:
                proc.communicate(timeout=1.0)  # reaps it; stderr may be held open by a child that left the group
            except subprocess.TimeoutExpired:
                proc.stderr.close()
                proc.wait()
            raise ActuatorTimeout(f"command timed out after {self.timeout:g}s, its process group ended: "
                                  f"{command}") from None
        finally:
            if proc.returncode is None:  # an exception other than the timeout
                end_process_group(proc)
                proc.wait()
        if proc.returncode != 0:
            detail = stderr.decode("utf-8", "replace").strip()[-200:]
            raise ActuatorError(f"command exited with {proc.returncode}: {command}" + (f": {detail}" if detail else ""))
        return f"ran: {command}"

    def close(self) -> None:
        pass
