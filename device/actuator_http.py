"""device/actuator_http.py: one HTTP request per step (standard library only).

    actuators: {web: {type: http, base_url: "http://127.0.0.1:8123", headers: {Authorization: "Bearer ..."}, timeout: 3}}
    actions:   [{intent: HassTurnOn, do: [{actuator: web, method: POST, path: "/api/devices/{name}/on",
                                           json: {state: "on", who: "{name}"}}]}]

Slot values in `path`/`url` are percent-encoded; `json` (templated) or `body` (template) is the request
body. Any status >= 400 or a refused connection is an ActuatorError (so it is retried); no answer
within `timeout` seconds is ActuatorTimeout, not retried (the server may have acted on the request).
The runner also gives each attempt a deadline of its own (device/actions.py), so a server that trickles
its answer cannot hold the action worker either.
"""
from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request

from safu.device.actuators import (ActionContext, ActuatorError, ActuatorTimeout, ConfigError, check_template,
                                   expand, setting)

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}


class HttpActuator:
    step_keys = {"url", "path", "method", "json", "body"}

    def __init__(self, name: str, config: dict, base_dir: str):
        self.name = name
        where = f"actuators.{name}"
        base_url = config.get("base_url", "")
        if base_url and not (isinstance(base_url, str) and base_url.startswith(("http://", "https://"))):
            raise ConfigError(f"{where}.base_url: expected an http:// or https:// address, got {base_url!r}")
        self.base_url = str(base_url or "").rstrip("/")
        headers = config.get("headers") or {}
        if not isinstance(headers, dict):
            raise ConfigError(f"{where}.headers: expected a mapping header -> value, got {headers!r}")
        self.headers = {str(k): str(v) for k, v in headers.items()}
        self.timeout = float(setting(config, "timeout", where, 5.0, positive=True, what="a number of seconds > 0"))

    def check_step(self, step: dict, where: str) -> None:
        if "url" in step:
            check_template(step["url"], f"{where}.url", "an address (a template string)")
            if not step["url"].startswith(("http://", "https://")):
                raise ConfigError(f"{where}.url: expected an http:// or https:// address, got {step['url']!r}")
        elif "path" in step:
            check_template(step["path"], f"{where}.path", "a path (a template string)")
            if not self.base_url:
                raise ConfigError(f"{where}.path: the actuator {self.name} has no base_url to put it after; "
                                  f"set base_url or give the step a 'url'")
        else:
            raise ConfigError(f"{where}.url: an http step needs 'url', or 'path' with base_url on the actuator")
        method = step.get("method", "POST")
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise ConfigError(f"{where}.method: expected one of {', '.join(sorted(METHODS))}, got {method!r}")
        if "body" in step and not isinstance(step["body"], str):
            raise ConfigError(f"{where}.body: expected a string (use 'json' for structured data), got {step['body']!r}")

    def perform(self, step: dict, context: ActionContext) -> str:
        quote = lambda s: urllib.parse.quote(s, safe="")  # noqa: E731
        if "url" in step:
            url = expand(str(step["url"]), context, escape=quote)
        elif "path" in step and self.base_url:
            url = self.base_url + expand(str(step["path"]), context, escape=quote)
        else:
            raise ConfigError(f"actuator {self.name}: step needs 'url', or 'path' with base_url on the actuator")
        method = str(step.get("method", "POST")).upper()
        headers = dict(self.headers)
        data = None
        if "json" in step:
            data = json.dumps(expand(step["json"], context)).encode()
            headers.setdefault("Content-Type", "application/json")
        elif "body" in step:
            data = expand(str(step["body"]), context).encode()
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            exc.close()   # the error is the response: close its connection
            raise ActuatorError(f"HTTP {method} {url} -> {exc.code} {exc.reason}") from None
        except (socket.timeout, TimeoutError):
            raise ActuatorTimeout(f"HTTP {method} {url}: no answer within {self.timeout:g}s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (socket.timeout, TimeoutError)):
                raise ActuatorTimeout(f"HTTP {method} {url}: no answer within {self.timeout:g}s") from None
            raise ActuatorError(f"HTTP {method} {url} failed: {exc.reason}") from None
        except OSError as exc:
            raise ActuatorError(f"HTTP {method} {url} failed: {getattr(exc, 'reason', exc)}") from None
        return f"http {method} {url} -> {status}"

    def close(self) -> None:
        pass
