"""Actions file and actuators against real services: mosquitto, a local http.server, a shell, a GPIO file."""
import http.server
import json
import threading

import pytest
import yaml

from device_support import Broker, Subscriber, free_port
from safu.device.actions import ActionRunner
from safu.device.actuators import ActionContext, ConfigError

CTX = ActionContext("HassTurnOn", {"name": "Kitchen Light", "area": "Kitchen"}, "turn on the kitchen light", 0.9)


def runner(config, tmp_path):
    path = tmp_path / "actions.yaml"
    path.write_text(yaml.safe_dump(config))
    return ActionRunner.from_file(str(path))


# ---- validation
@pytest.mark.parametrize("config, message", [
    ({"actuators": {"a": {"type": "teleport"}}}, r"actions.yaml: actuator a: unknown type 'teleport'"),
    ({"actuators": {"a": {"type": "print"}}, "actions": [{"intent": "X", "do": [{"actuator": "b"}]}]},
     r"actions.yaml: actions\[0\].do\[0\].actuator: expected one of the actuators \['a'\], got 'b'"),
    ({"actuators": {}, "actions": [{"do": []}]}, r"actions\[0\].intent: expected an intent name"),
    ({"actuators": {"g": {"type": "simulated_gpio", "lines": {"lamp": -1}}}}, r"actions.yaml: actuators.g.lines.lamp: expected a line offset \(an integer from 0 to 65535\), got -1"),
    ({"actuatorz": {}}, r"actions.yaml: unknown key 'actuatorz'; expected one of actions, actuators, default, retry"),
])
def test_bad_actions_files_name_file_and_entry(tmp_path, config, message):
    with pytest.raises(ConfigError, match=message):
        runner(config, tmp_path)


def test_bad_yaml_names_the_file(tmp_path):
    (tmp_path / "a.yaml").write_text("actuators:\n  a: [unclosed\n")
    with pytest.raises(ConfigError, match=r"a.yaml:3: malformed YAML"):
        ActionRunner.from_file(str(tmp_path / "a.yaml"))
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    with pytest.raises(ConfigError, match=r"empty.yaml: file is empty; expected a YAML mapping"):
        ActionRunner.from_file(str(tmp_path / "empty.yaml"))


def test_unquoted_on_off_yes_no_are_strings(tmp_path):
    """YAML 1.2: only true/false are booleans. Under YAML 1.1 (yaml.safe_load) the intents On and Yes
    became True (one rule), the slot value off became False and `value: on` was refused as 'true'."""
    state = tmp_path / "gpio.json"
    (tmp_path / "actions.yaml").write_text(f"""\
actuators:
  board: {{type: simulated_gpio, state_file: {state}, lines: {{on: 1, off: 2, yes: 3}}}}
  out: {{type: print, file: {tmp_path / "log.jsonl"}}}
actions:
  - intent: On
    slots: {{state: Off}}
    do: [{{actuator: board, line: off, value: on}}]
  - intent: Yes
    do: [{{actuator: board, line: yes, value: ON}}]
  - intent: No
    slots: {{answer: no}}
    do: [{{actuator: out, message: "{{answer}}"}}]
""")
    r = ActionRunner.from_file(str(tmp_path / "actions.yaml"))
    assert [rule["intent"] for rule in r.rules] == ["On", "Yes", "No"]
    assert [rule["slots"] for rule in r.rules] == [{"state": "off"}, {}, {"answer": "no"}]
    assert r.run(ActionContext("On", {"state": "OFF"}))["rule"] == 0
    assert json.loads(state.read_text())["lines"] == {"2": 1}  # line named off, driven on
    assert r.run(ActionContext("Yes", {}))["rule"] == 1
    assert json.loads(state.read_text())["lines"] == {"2": 1, "3": 1}
    assert r.run(ActionContext("No", {"answer": "no"}))["rule"] == 2
    assert r.run(ActionContext("True", {}))["rule"] is None
    (tmp_path / "bool.yaml").write_text("actuators: {}\nretry: {attempts: true}\n")  # true is still a boolean
    with pytest.raises(ConfigError, match=r"retry.attempts: expected .*got True"):
        ActionRunner.from_file(str(tmp_path / "bool.yaml"))


def test_rules_match_intent_and_slot_values(tmp_path):
    r = runner({"actuators": {"out": {"type": "print", "file": str(tmp_path / "log.jsonl")}},
                "actions": [{"intent": "HassTurnOn", "slots": {"name": "fan"}, "do": [{"actuator": "out", "message": "fan"}]},
                            {"intent": "HassTurnOn", "do": [{"actuator": "out", "message": "on {name}"}]}]}, tmp_path)
    assert r.run(CTX)["rule"] == 1
    assert r.run(ActionContext("HassTurnOn", {"name": "Fan"}))["rule"] == 0
    assert r.run(ActionContext("HassNevermind", {}))["reason"] == "no action configured for intent HassNevermind"
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [x["message"] for x in lines] == ["on Kitchen Light", "fan"]


# ---- simulated GPIO
def test_simulated_gpio_switches_lines_atomically(tmp_path):
    state = tmp_path / "gpio.json"
    r = runner({"actuators": {"b": {"type": "simulated_gpio", "state_file": str(state), "lines": {"kitchen light": 17}}},
                "actions": [{"intent": "HassTurnOn", "do": [{"actuator": "b", "line": "{name}", "value": 1}]},
                            {"intent": "HassTurnOff", "do": [{"actuator": "b", "line": "{name}", "value": 0}]}]}, tmp_path)
    assert r.run(CTX)["steps"][0]["ok"]
    assert json.loads(state.read_text())["lines"] == {"17": 1}
    r.run(ActionContext("HassTurnOff", {"name": "kitchen light"}))
    assert json.loads(state.read_text())["lines"] == {"17": 0}
    bad = r.run(ActionContext("HassTurnOn", {"name": "Garage"}))["steps"][0]
    assert not bad["ok"] and "no GPIO line named 'garage' in lines" in bad["error"] and bad["attempts"] == 1  # not retried
    missing = r.run(ActionContext("HassTurnOn", {}))["steps"][0]
    assert not missing["ok"] and "slot 'name'" in missing["error"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".gpio-")] == []  # no temp files left


def test_default_actions_file_loads_and_switches(tmp_path):
    r = ActionRunner.default(state_file=str(tmp_path / "s.json"))
    out = r.run(CTX)
    assert out["steps"][0]["ok"] and "kitchen light" in out["steps"][0]["detail"]
    assert json.loads((tmp_path / "s.json").read_text())["lines"] == {"2": 1}


def test_gpio_character_device_needs_gpiod_or_a_chip(tmp_path):
    with pytest.raises(ConfigError, match="(gpiod|no such GPIO chip)"):
        runner({"actuators": {"b": {"type": "gpio", "chip": str(tmp_path / "gpiochip9")}}}, tmp_path)


# ---- shell
def test_shell_gets_slots_as_environment_never_interpolated(tmp_path):
    out, pwned = tmp_path / "out.txt", tmp_path / "pwned"
    r = runner({"actuators": {"sh": {"type": "shell"}},
                "actions": [{"intent": "HassTurnOn", "do": [
                    {"actuator": "sh", "command": f'printf "%s|%s" "$SAFU_INTENT" "$SAFU_SLOT_NAME" > {out}'}]}]},
               tmp_path)
    evil = f"$(touch {pwned}); `touch {pwned}` {{name}}"
    res = r.run(ActionContext("HassTurnOn", {"name": evil}))
    assert res["steps"][0]["ok"]
    assert out.read_text() == f"HassTurnOn|{evil}"
    assert not pwned.exists()


def test_shell_failure_is_retried_then_reported(tmp_path):
    r = runner({"actuators": {"sh": {"type": "shell"}}, "retry": {"attempts": 2, "backoff": 0.01},
                "actions": [{"intent": "HassTurnOn", "do": [{"actuator": "sh", "command": "exit 3"}]}]}, tmp_path)
    step = r.run(CTX)["steps"][0]
    assert not step["ok"] and step["attempts"] == 2 and "exited with 3" in step["error"]


# ---- HTTP against a real local server
class Recorder(http.server.BaseHTTPRequestHandler):
    fail_first = 0
    requests: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        type(self).requests.append((self.path, body))
        if type(self).fail_first > 0:
            type(self).fail_first -= 1
            self.send_response(500)
        else:
            self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


@pytest.fixture
def http_server():
    Recorder.requests, Recorder.fail_first = [], 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_http_request_with_encoded_slots_and_retry_after_500(http_server, tmp_path):
    Recorder.fail_first = 2
    port = http_server.server_address[1]
    r = runner({"actuators": {"web": {"type": "http", "base_url": f"http://127.0.0.1:{port}"}},
                "retry": {"attempts": 3, "backoff": 0.01},
                "actions": [{"intent": "HassTurnOn", "do": [{"actuator": "web", "path": "/devices/{name}/on",
                                                             "json": {"who": "{name}"}}]}]}, tmp_path)
    step = r.run(CTX)["steps"][0]
    assert step["ok"] and step["attempts"] == 3
    assert Recorder.requests[-1] == ("/devices/Kitchen%20Light/on", '{"who": "Kitchen Light"}')


def test_http_server_down_never_raises(tmp_path):
    r = runner({"actuators": {"web": {"type": "http", "base_url": f"http://127.0.0.1:{free_port()}", "timeout": 1}},
                "retry": {"attempts": 2, "backoff": 0.01},
                "actions": [{"intent": "HassTurnOn", "do": [{"actuator": "web", "path": "/x"}]}]}, tmp_path)
    step = r.run(CTX)["steps"][0]
    assert not step["ok"] and step["attempts"] == 2 and "failed" in step["error"]


# ---- MQTT against a real mosquitto
def test_mqtt_publish_and_home_assistant_conventions(tmp_path):
    broker = Broker(tmp_path)
    sub = Subscriber(broker.port)
    try:
        r = runner({"actuators": {"mq": {"type": "mqtt", "host": "127.0.0.1", "port": broker.port}},
                    "actions": [{"intent": "HassTurnOn", "do": [
                        {"actuator": "mq", "topic": "home/{name}/set", "payload": "ON"},
                        {"actuator": "mq", "ha": {"component": "light", "object_id": "{name}"}}]},
                                {"intent": "HassTurnOff", "do": [
                                    {"actuator": "mq", "ha": {"component": "switch", "object_id": "{name}"}}]}]}, tmp_path)
        assert all(s["ok"] for s in r.run(CTX)["steps"])
        assert all(s["ok"] for s in r.run(ActionContext("HassTurnOff", {"name": "a/b#+"}))["steps"])
        msgs = sub.wait_for(5)
        r.close()
    finally:
        sub.stop()
        broker.stop()
    topics = [(t, p) for t, p, _ in msgs]
    assert ("home/kitchen_light/set", "ON") in topics
    config = [json.loads(p) for t, p, retain in msgs if t == "homeassistant/light/kitchen_light/config"]
    assert config and config[0]["command_topic"] == "safu/light/kitchen_light/set" and config[0]["schema"] == "json"
    assert ("safu/light/kitchen_light/set", '{"state": "ON"}') in topics
    assert ("safu/switch/a_b/set", "OFF") in topics  # slot value slugged: no topic levels or wildcards


def test_mqtt_broker_down_is_retried_and_reported_then_recovers(tmp_path):
    port = free_port()
    r = runner({"actuators": {"mq": {"type": "mqtt", "host": "127.0.0.1", "port": port, "timeout": 1}},
                "retry": {"attempts": 2, "backoff": 0.01},
                "actions": [{"intent": "HassTurnOn", "do": [{"actuator": "mq", "topic": "t/{name}", "payload": "1"}]}]},
               tmp_path)
    step = r.run(CTX)["steps"][0]
    assert not step["ok"] and step["attempts"] == 2 and "unreachable" in step["error"]
    # the broker comes up on that port: the same runner reconnects
    broker = Broker(tmp_path, port=port)
    sub = Subscriber(port)
    try:
        assert r.run(CTX)["steps"][0]["ok"]
        assert ("t/kitchen_light", "1", False) in sub.wait_for(1)
        r.close()
    finally:
        sub.stop()
        broker.stop()


def test_alternative_slots_in_templates(tmp_path):
    from safu.device.actuators import expand
    assert expand("{name|area}", ActionContext("X", {"area": "Kitchen"})) == "Kitchen"
    assert expand("{name|area}", CTX) == "Kitchen Light"


# ---- the whole file is checked when it is read: file, rule and field in every message
SH = {"sh": {"type": "shell"}}
ON = lambda *steps: [{"intent": "HassTurnOn", "do": list(steps)}]  # noqa: E731


@pytest.mark.parametrize("config, message", [
    ({"actuators": SH, "default": [{"do": [{"actuator": "sh", "command": "true"}]}]},
     r"actions.yaml: default: expected a mapping \{do: \[steps\]\} .*got \["),
    ({"actuators": SH, "default": {"intent": "X", "do": [{"actuator": "sh", "command": "true"}]}},
     r"actions.yaml: default.intent: the default rule is for every intent"),
    ({"actuators": SH, "default": {"do": [{"actuator": "sh"}]}},
     r"actions.yaml: default.do\[0\].command: expected a command \(a non-empty string\), got None"),
    ({"actuators": SH, "actions": ON({"actuator": "sh"})},
     r"actions.yaml: actions\[0\].do\[0\].command: expected a command \(a non-empty string\), got None"),
    ({"actuators": SH, "actions": ON({"actuator": "sh", "command": "  "})}, r"actions\[0\].do\[0\].command: expected"),
    ({"actuators": SH, "actions": ON({"actuator": "sh", "comand": "true"})},
     r"actions.yaml: actions\[0\].do\[0\]: unknown key 'comand'; expected one of actuator, command"),
    ({"actuators": {"web": {"type": "http"}}, "actions": ON({"actuator": "web", "method": "POST"})},
     r"actions.yaml: actions\[0\].do\[0\].url: an http step needs 'url', or 'path' with base_url"),
    ({"actuators": {"web": {"type": "http"}}, "actions": ON({"actuator": "web", "path": "/x"})},
     r"actions\[0\].do\[0\].path: the actuator web has no base_url"),
    ({"actuators": {"web": {"type": "http"}}, "actions": ON({"actuator": "web", "url": "ftp://x"})},
     r"actions\[0\].do\[0\].url: expected an http:// or https:// address, got 'ftp://x'"),
    ({"actuators": {"web": {"type": "http"}}, "actions": ON({"actuator": "web", "url": "http://x", "method": "FETCH"})},
     r"actions\[0\].do\[0\].method: expected one of"),
    ({"actuators": {"web": {"type": "http", "timeout": -1}}}, r"actions.yaml: actuators.web.timeout: expected a number of seconds > 0, got -1"),
    ({"actuators": {"web": {"type": "http", "timeout": "fast"}}}, r"actuators.web.timeout: expected a number of seconds > 0, got 'fast'"),
    ({"actuators": {"web": {"type": "http", "timeout": float("nan")}}}, r"actuators.web.timeout: expected a number of seconds > 0, got nan"),
    ({"actuators": {"sh": {"type": "shell", "timeout": 0}}}, r"actions.yaml: actuators.sh.timeout: expected a number of seconds > 0, got 0"),
    ({"actuators": {"sh": {"type": "shell", "timout": 3}}}, r"actions.yaml: actuators.sh: unknown key 'timout'"),
    ({"actuators": {"mq": {"type": "mqtt", "port": "abc"}}},
     r"actions.yaml: actuators.mq.port: expected a port number \(an integer from 1 to 65535\), got 'abc'"),
    ({"actuators": {"mq": {"type": "mqtt", "port": 70000}}}, r"actuators.mq.port: expected a port number .*got 70000"),
    ({"actuators": {"mq": {"type": "mqtt", "port": 0}}}, r"actuators.mq.port: expected a port number .*got 0"),
    ({"actuators": {"mq": {"type": "mqtt", "port": True}}}, r"actuators.mq.port: expected a port number .*got True"),
    ({"actuators": {"mq": {"type": "mqtt", "port": 1883.5}}}, r"actuators.mq.port: expected a port number .*got 1883.5"),
    ({"actuators": {"mq": {"type": "mqtt", "timeout": -2}}}, r"actuators.mq.timeout: expected a number of seconds > 0"),
    ({"actuators": {"mq": {"type": "mqtt"}}, "actions": ON({"actuator": "mq", "payload": "ON"})},
     r"actions\[0\].do\[0\].topic: an mqtt step needs 'topic' or 'ha'"),
    ({"actuators": {"mq": {"type": "mqtt"}}, "actions": ON({"actuator": "mq", "topic": "t", "qos": 3})},
     r"actions\[0\].do\[0\].qos: expected 0, 1 or 2, got 3"),
    ({"actuators": {"mq": {"type": "mqtt"}}, "actions": ON({"actuator": "mq", "ha": {"component": "light"}})},
     r"actions\[0\].do\[0\].ha: expected a mapping with component and object_id"),
    ({"actuators": SH, "retry": {"attempts": 0}}, r"actions.yaml: retry.attempts: expected an integer from 1 to 100, got 0"),
    ({"actuators": SH, "retry": {"attempts": "three"}}, r"retry.attempts: expected an integer from 1 to 100, got 'three'"),
    ({"actuators": SH, "retry": {"attempts": 2.5}}, r"retry.attempts: expected an integer from 1 to 100, got 2.5"),
    ({"actuators": SH, "retry": {"backoff": -1}}, r"actions.yaml: retry.backoff: expected seconds from 0 to 60, got -1"),
    ({"actuators": SH, "retry": {"tries": 2}}, r"actions.yaml: retry: unknown key 'tries'"),
    ({"actuators": SH, "actions": {"intent": "X"}}, r"actions.yaml: actions: expected a list of rules"),
    ({"actuators": SH, "actions": [{"intent": "X", "do": [{"actuator": "sh", "command": "x"}], "when": 1}]},
     r"actions.yaml: actions\[0\]: unknown key 'when'"),
    ({"actuators": SH, "actions": [{"intent": "X", "do": []}]}, r"actions\[0\].do: expected a non-empty list of steps"),
    ({"actuators": SH, "actions": [{"intent": "X", "slots": {"name": None}, "do": [{"actuator": "sh", "command": "x"}]}]},
     r"actions\[0\].slots.name: expected a value"),
    ({"actuators": {"p": {"type": "print", "stream": "stdin"}}}, r"actuators.p.stream: expected 'stdout' or 'stderr'"),
    ({"actuators": {"g": {"type": "simulated_gpio", "lines": {"lamp": True}}}}, r"actuators.g.lines.lamp: expected a line offset"),
    ({"actuators": {"g": {"type": "simulated_gpio", "lines": {"lamp": 70000}}}}, r"actuators.g.lines.lamp: expected a line offset"),
    ({"actuators": {"g": {"type": "simulated_gpio", "lines": {"Lamp": 1, "lamp": 2}}}}, r"actuators.g.lines.lamp: the name 'lamp' is given twice"),
    ({"actuators": {"g": {"type": "simulated_gpio", "lines": {"lamp": 1}}}, "actions": ON({"actuator": "g", "value": 1})},
     r"actions\[0\].do\[0\].line: a gpio step needs 'line'"),
    ({"actuators": {"g": {"type": "simulated_gpio", "lines": {"lamp": 1}}}, "actions": ON({"actuator": "g", "line": "garage"})},
     r"actions\[0\].do\[0\].line: 'garage' is not a name in actuators.g.lines \(known: lamp\)"),
    ({"actuators": {"g": {"type": "simulated_gpio", "lines": {"lamp": 1}}}, "actions": ON({"actuator": "g", "line": "lamp", "value": 2})},
     r"actions\[0\].do\[0\].value: expected 0, 1, on or off, got 2"),
])
def test_actions_file_errors_name_the_file_the_rule_and_the_field(tmp_path, config, message):
    with pytest.raises(ConfigError, match=message):
        runner(config, tmp_path)


def test_cli_refuses_a_bad_actions_file_before_listening(tmp_path):
    import subprocess
    import sys
    (tmp_path / "a.yaml").write_text("actuators: {sh: {type: shell}}\ndefault:\n  - do: [{actuator: sh}]\n")
    r = subprocess.run([sys.executable, "-m", "safu.runtime.cli", "listen", "--actions", str(tmp_path / "a.yaml")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "a.yaml: default: expected a mapping" in r.stderr and "Traceback" not in r.stderr


# ---- GPIO drives only the lines the actions file names
def gpio(tmp_path, line="{name}"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    state = tmp_path / "gpio.json"
    r = runner({"actuators": {"b": {"type": "simulated_gpio", "state_file": str(state),
                                    "lines": {"kitchen light": 17, "fan": 23}}},
                "actions": [{"intent": "HassTurnOn", "do": [{"actuator": "b", "line": line, "value": 1}]}]}, tmp_path)
    return r, state


@pytest.mark.parametrize("spoken", ["23", "4294967296", "٢٣", "17", " 5 ", "-1", "0x17", "²"])
def test_a_spoken_number_never_drives_a_gpio_line(tmp_path, spoken):
    r, state = gpio(tmp_path)
    step = r.run(ActionContext("HassTurnOn", {"name": spoken}))["steps"][0]
    assert not step["ok"] and step["attempts"] == 1
    assert f"no GPIO line named {spoken.strip().lower()!r} in lines" in step["error"] and "not driven" in step["error"]
    if any(c.isdigit() for c in spoken):
        assert "a spoken number is never taken as a line offset" in step["error"]
    assert not state.exists()  # nothing was switched


def test_gpio_drives_named_lines_and_offsets_written_in_the_file(tmp_path):
    r, state = gpio(tmp_path)
    assert r.run(ActionContext("HassTurnOn", {"name": "Fan"}))["steps"][0]["ok"]
    assert json.loads(state.read_text())["lines"] == {"23": 1}
    r, state = gpio(tmp_path / "literal", line=4)
    assert r.run(ActionContext("HassTurnOn", {}))["steps"][0]["ok"]
    assert json.loads(state.read_text())["lines"] == {"4": 1}
    r, state = gpio(tmp_path / "name", line="Kitchen Light")
    assert r.run(ActionContext("HassTurnOn", {}))["steps"][0]["ok"]
    assert json.loads(state.read_text())["lines"] == {"17": 1}
