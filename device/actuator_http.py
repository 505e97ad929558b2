"""device/actuator_http.py: one HTTP request per step (standard library only).

    actuators: {web: {type: http, base_url: "http://127.0.0.1:8123", headers: {Authorization: "Bearer ..."}, timeout: 3}}
    actions:   [{intent: HassTurnOn, do: [{actuator: web, method: POST, path: "/api/devices/{name}/on",
                                           json: {state: "on", who: "{name}"}}]}]

Slot values in `path`/`url` are percent-encoded; `json` (templated) or `body` (template) is the request
body. Any status >= 400, a refused connection or a timeout is an ActuatorError (so it is retried).
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from safu.device.actuators import ActionContext, ActuatorError, ConfigError, expand


class HttpActuator:
    def __init__(self, name: str, config: dict, base_dir: str):
        self.name = name
        self.base_url = str(config.get("base_url", "")).rstrip("/")
        self.headers = {str(k): str(v) for k, v in (config.get("headers") or {}).items()}
        self.timeout = float(config.get("timeout", 5.0))

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
            raise ActuatorError(f"HTTP {method} {url} -> {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ActuatorError(f"HTTP {method} {url} failed: {getattr(exc, 'reason', exc)}") from None
        return f"http {method} {url} -> {status}"

    def close(self) -> None:
        pass
