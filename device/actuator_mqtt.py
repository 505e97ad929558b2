"""device/actuator_mqtt.py: publish to an MQTT broker (paho-mqtt), optionally the Home Assistant way.

    actuators:
      broker: {type: mqtt, host: 127.0.0.1, port: 1883, username: null, password: null,
               base_topic: safu, discovery_prefix: homeassistant}
    actions:
      - intent: HassTurnOn
        do:
          - {actuator: broker, topic: "home/{name}/set", payload: "ON", qos: 1, retain: false}
          - {actuator: broker, ha: {component: light, object_id: "{name}"}}

A plain step publishes `payload` (template) to `topic` (template; slot values are slugged, so speech cannot
add levels or wildcards). An `ha` step follows Home Assistant's MQTT conventions: the command goes to
`<base_topic>/<component>/<object_id>/set` with "ON"/"OFF" for HassTurnOn/HassTurnOff, or the JSON schema
{"state": "ON", "brightness": N} for HassLightSet; the first time an entity is used its discovery config is
published, retained, to `<discovery_prefix>/<component>/<object_id>/config` so Home Assistant adds it.
Connection happens on first use and again after a failure; a broker that is down raises ActuatorError.
"""
from __future__ import annotations

import json
import threading

from safu.device.actuators import ActionContext, ActuatorError, ConfigError, check_template, expand, setting, slug

HA_PAYLOADS = {"HassTurnOn": "ON", "HassTurnOff": "OFF"}


class MqttActuator:
    step_keys = {"topic", "payload", "qos", "retain", "ha"}

    def __init__(self, name: str, config: dict, base_dir: str):
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            raise ConfigError(f"actuator {name}: type mqtt needs the 'paho-mqtt' package: pip install paho-mqtt") from None
        self._mqtt = mqtt
        self.name = name
        where = f"actuators.{name}"
        host = config.get("host", "127.0.0.1")
        check_template(host, f"{where}.host", "a host name or address")
        self.host = host
        self.port = setting(config, "port", where, 1883, integer=True, minimum=1, maximum=65535,
                            what="a port number (an integer from 1 to 65535)")
        self.keepalive = setting(config, "keepalive", where, 30, integer=True, minimum=1,
                                 what="seconds (an integer >= 1)")
        self.timeout = float(setting(config, "timeout", where, 3.0, positive=True, what="a number of seconds > 0"))
        self.base_topic = str(config.get("base_topic", "safu"))
        self.discovery_prefix = config.get("discovery_prefix", "homeassistant")
        self.username, self.password = config.get("username"), config.get("password")
        self.client_id = str(config.get("client_id", "safu-listen"))
        self._client = None
        self._connected = threading.Event()
        self._announced: set[tuple[str, str]] = set()

    # ---- connection
    def _connect(self):
        mqtt = self._mqtt
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id)
        if self.username:
            client.username_pw_set(self.username, self.password)
        connected = self._connected
        connected.clear()

        def on_connect(c, userdata, flags, reason_code, properties):
            if not reason_code.is_failure:
                connected.set()

        def on_disconnect(c, userdata, flags, reason_code, properties):
            connected.clear()

        client.on_connect, client.on_disconnect = on_connect, on_disconnect
        try:
            client.connect(self.host, self.port, self.keepalive)
        except OSError as exc:
            raise ActuatorError(f"MQTT broker {self.host}:{self.port} unreachable: {exc}") from None
        client.loop_start()
        if not connected.wait(self.timeout):
            client.loop_stop()
            client.disconnect()
            raise ActuatorError(f"MQTT broker {self.host}:{self.port} did not accept the connection")
        self._client = client

    def _publish(self, topic: str, payload: str, qos: int, retain: bool):
        if self._client is None or not self._connected.is_set():
            self.close()
            self._connect()
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        try:
            info.wait_for_publish(self.timeout)
        except (RuntimeError, ValueError) as exc:
            self.close()
            raise ActuatorError(f"MQTT publish to {topic} failed: {exc}") from None
        if not info.is_published():
            self.close()  # reconnect next time
            raise ActuatorError(f"MQTT publish to {topic} not confirmed within {self.timeout:g}s")

    # ---- steps
    def check_step(self, step: dict, where: str) -> None:
        qos = step.get("qos", 1)
        if isinstance(qos, bool) or qos not in (0, 1, 2):
            raise ConfigError(f"{where}.qos: expected 0, 1 or 2, got {step['qos']!r}")
        if "retain" in step and not isinstance(step["retain"], bool):
            raise ConfigError(f"{where}.retain: expected true or false, got {step['retain']!r}")
        if "ha" in step:
            ha = step["ha"]
            if not isinstance(ha, dict) or "component" not in ha or "object_id" not in ha:
                raise ConfigError(f"{where}.ha: expected a mapping with component and object_id, got {ha!r}")
            unknown = sorted(set(ha) - {"component", "object_id", "payload"})
            if unknown:
                raise ConfigError(f"{where}.ha: unknown key {unknown[0]!r}; expected component, object_id, payload")
        elif "topic" in step:
            check_template(step["topic"], f"{where}.topic", "a topic (a template string)")
        else:
            raise ConfigError(f"{where}.topic: an mqtt step needs 'topic' or 'ha'")

    def perform(self, step: dict, context: ActionContext) -> str:
        qos, retain = int(step.get("qos", 1)), bool(step.get("retain", False))
        if "ha" in step:
            return self._perform_ha(step["ha"], context, qos, retain)
        if "topic" not in step:
            raise ConfigError(f"actuator {self.name}: step needs 'topic' or 'ha'")
        topic = expand(str(step["topic"]), context, escape=slug)
        payload = step.get("payload", "{intent}")
        payload = json.dumps(expand(payload, context)) if isinstance(payload, (dict, list)) else expand(str(payload), context)
        self._publish(topic, payload, qos, retain)
        return f"mqtt {topic} <- {payload}"

    def _perform_ha(self, ha: dict, context: ActionContext, qos: int, retain: bool) -> str:
        if not isinstance(ha, dict) or "component" not in ha or "object_id" not in ha:
            raise ConfigError(f"actuator {self.name}: 'ha' needs component and object_id")
        component = slug(str(ha["component"]))
        object_id = slug(expand(str(ha["object_id"]), context))
        command_topic = f"{self.base_topic}/{component}/{object_id}/set"
        if self.discovery_prefix and (component, object_id) not in self._announced:
            config = {"name": object_id.replace("_", " "), "unique_id": f"safu_{component}_{object_id}",
                      "command_topic": command_topic}
            if component == "light":
                config.update({"schema": "json", "brightness": True, "brightness_scale": 100})
            self._publish(f"{self.discovery_prefix}/{component}/{object_id}/config", json.dumps(config), 1, True)
            self._announced.add((component, object_id))
        if "payload" in ha:
            payload = expand(str(ha["payload"]), context)
        elif component == "light":
            state = {"state": "OFF" if context.intent == "HassTurnOff" else "ON"}
            if "brightness" in context.slots:
                state["brightness"] = _number(context.slots["brightness"])
            payload = json.dumps(state)
        elif context.intent in HA_PAYLOADS:
            payload = HA_PAYLOADS[context.intent]
        else:
            raise ActuatorError(f"no Home Assistant payload for intent {context.intent}; set ha.payload")
        self._publish(command_topic, payload, qos, retain)
        return f"mqtt {command_topic} <- {payload}"

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.disconnect()
                self._client.loop_stop()
            finally:
                self._client = None


def _number(text: str):
    try:
        value = float(text)
    except ValueError:
        raise ActuatorError(f"brightness {text!r} is not a number") from None
    return int(value) if value.is_integer() else value
