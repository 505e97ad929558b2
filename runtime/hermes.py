"""runtime/hermes.py: safu as the NLU service of a Hermes MQTT system (Rhasspy, Snips).

    service = HermesService(load("default"), "127.0.0.1", 1883)
    service.start()          # connected and subscribed when it returns; paho's thread answers queries
    ...
    service.stop()

Subscribes to `hermes/nlu/query` ({"input": text, "id", "siteId", "sessionId", "intentFilter",
"customData", "lang", ...}) and answers each query, as Rhasspy's own NLU service does, with
- `hermes/nlu/intentParsed` ({"input", "intent", "slots", "id", "siteId", "sessionId"}), then
  `hermes/intent/<intentName>`: the Rhasspy NluIntent message, {"input", "intent": {"intentName",
  "confidenceScore"}, "slots": [{"entity", "slotName", "value": {"kind": "Unknown", "value"}, "rawValue",
  "confidence", "range": {"start", "end", "rawStart", "rawEnd"}}, ...], "id", "siteId", "sessionId",
  "customData", "asrTokens", "rawInput", "wakewordId", "lang"};
- `hermes/nlu/intentNotRecognized` ({"input", "id", "siteId", "sessionId", "customData"}) when the model
  rejects it or its intent is not in the query's intentFilter;
- `hermes/error/nlu` ({"error", "context", "siteId", "sessionId"}) for a payload that is not a JSON object
  with an "input" string, or is over the bounds (MAX_PAYLOAD_BYTES, MAX_INPUT_CHARS).
Slots no words say (a Home Assistant model's domain, the satellite's area) have "rawValue": "" and
"range": null. Where a query was heard is passed to predict: the area its siteId has in `site_areas`
(`safu serve --site-area SITE=AREA`), else the server's `context` (`--area`, `--floor`).
"""
from __future__ import annotations

import json
import logging
import threading

log = logging.getLogger("safu.serve")

QUERY_TOPIC = "hermes/nlu/query"
NOT_RECOGNIZED_TOPIC = "hermes/nlu/intentNotRecognized"
PARSED_TOPIC = "hermes/nlu/intentParsed"
ERROR_TOPIC = "hermes/error/nlu"
MAX_PAYLOAD_BYTES = 64 * 1024  # a query is a sentence and a few ids
MAX_INPUT_CHARS = 2000         # the same bound as a Wyoming recognize
_TOPIC_UNSAFE = str.maketrans({"/": "_", "+": "_", "#": "_"})


def intent_topic(name: str) -> str:
    return "hermes/intent/" + name.translate(_TOPIC_UNSAFE)


class QueryError(ValueError):
    """A query that cannot be answered: published on hermes/error/nlu."""


def parse_query(payload: bytes) -> dict:
    """The query as a dict with a str "input". Raises QueryError saying what was wrong."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise QueryError(f"query of {len(payload)} bytes exceeds the limit of {MAX_PAYLOAD_BYTES}")
    try:
        query = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise QueryError(f"query is not valid JSON: {str(exc)[:120]}") from None
    if not isinstance(query, dict):
        raise QueryError(f"query must be a JSON object, got {type(query).__name__}")
    text = query.get("input")
    if not isinstance(text, str):
        raise QueryError(f"query needs an 'input' string, got {text!r:.60}")
    if len(text) > MAX_INPUT_CHARS:
        raise QueryError(f"query input of {len(text)} characters exceeds the limit of {MAX_INPUT_CHARS}")
    intent_filter = query.get("intentFilter")
    if intent_filter is not None and not (isinstance(intent_filter, list)
                                          and all(isinstance(name, str) for name in intent_filter)):
        raise QueryError("query field 'intentFilter' must be a list of intent names or null")
    return query


def site_context(site_id: str, context: dict | None = None, site_areas: dict | None = None) -> dict:
    """Where a query was heard: the area of its siteId in `site_areas` ({siteId: area}), else the
    server's default `context` ({"area": ..., "floor": ...})."""
    out = dict(context or {})
    if site_areas and site_id in site_areas:
        out["area"] = site_areas[site_id]
    return out


def answer(model, query: dict, context: dict | None = None, site_areas: dict | None = None) -> list[tuple[str, dict]]:
    """The (topic, message) pairs answering one parsed query, in the order they are published.
    `context`, `site_areas`: the satellites' areas (see site_context), passed to predict."""
    text = query["input"]
    ids = {"id": query.get("id"), "siteId": query.get("siteId", "default"), "sessionId": query.get("sessionId"),
           "customData": query.get("customData")}
    heard = site_context(ids["siteId"], context, site_areas)
    prediction = model.predict(text, context=heard or None)
    wanted = query.get("intentFilter")
    if prediction.intent is None or (wanted and prediction.intent not in wanted):
        why = prediction.reason if prediction.intent is None else f"{prediction.intent} is not in the intentFilter"
        log.info("hermes query %r -> not recognized (%s)", text[:80], why)
        return [(NOT_RECOGNIZED_TOPIC, {"input": text, **ids})]
    slots = [{"entity": span.name, "slotName": span.name, "value": {"kind": "Unknown", "value": span.value},
              "rawValue": span.text, "confidence": 1.0,
              "range": {"start": span.start, "end": span.end, "rawStart": span.start, "rawEnd": span.end}}
             for span in sorted(prediction.spans, key=lambda s: s.start)]
    said = {span.name for span in prediction.spans}
    # slots no words say (Home Assistant answers: domain, device_class, the satellite's area)
    slots += [{"entity": name, "slotName": name, "value": {"kind": "Unknown", "value": value}, "rawValue": "",
               "confidence": 1.0, "range": None} for name, value in prediction.slots.items() if name not in said]
    log.info("hermes query %r -> %s %s (%.3f)", text[:80], prediction.intent, prediction.slots, prediction.confidence)
    intent = {"intentName": prediction.intent, "confidenceScore": float(prediction.confidence)}
    parsed = {"input": text, "intent": intent, "slots": slots, "id": ids["id"], "siteId": ids["siteId"],
              "sessionId": ids["sessionId"]}
    return [(PARSED_TOPIC, parsed),
            (intent_topic(prediction.intent), {
                "input": text, "intent": intent, "slots": slots, **ids, "asrTokens": [], "asrConfidence": None,
                "rawInput": text, "wakewordId": query.get("wakewordId"), "lang": query.get("lang")})]


class HermesService:
    """Answers hermes/nlu/query on an MQTT broker from paho's network thread (predict is thread-safe)."""

    def __init__(self, model, host: str, port: int, client_id: str = "safu-nlu", connect_timeout: float = 10.0,
                 context: dict | None = None, site_areas: dict | None = None):
        self.model, self.host, self.port = model, host, port
        self.context, self.site_areas = dict(context or {}), dict(site_areas or {})
        self.client_id = client_id
        self.connect_timeout = connect_timeout
        self._subscribed = threading.Event()
        self._client = None

    def start(self) -> None:
        """Connects and subscribes; raises OSError naming the broker when that fails."""
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        where = f"mqtt://{self.host}:{self.port}"
        try:
            client.connect(self.host, self.port, keepalive=30)
        except OSError as exc:
            raise OSError(f"--hermes: cannot connect to the MQTT broker at {where}: {exc}") from None
        client.loop_start()
        self._client = client
        if not self._subscribed.wait(self.connect_timeout):
            self.stop()
            raise OSError(f"--hermes: the MQTT broker at {where} did not accept the subscription to "
                          f"{QUERY_TOPIC} within {self.connect_timeout:g} s")

    def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, props) -> None:
        if reason_code.is_failure:
            log.warning("hermes: the broker refused the connection: %s", reason_code)
            return
        client.subscribe(QUERY_TOPIC, qos=1)  # here, so a reconnect subscribes again

    def _on_subscribe(self, client, userdata, mid, reason_codes, props) -> None:
        log.info("hermes: subscribed to %s on mqtt://%s:%d", QUERY_TOPIC, self.host, self.port)
        self._subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, props) -> None:
        if self._client is not None:  # not a stop(): paho reconnects, and _on_connect subscribes again
            log.warning("hermes: lost the broker (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, msg) -> None:
        try:
            query = parse_query(msg.payload)
            replies = answer(self.model, query, self.context, self.site_areas)
        except QueryError as exc:
            log.warning("hermes: %s", exc)
            context = None
            try:
                maybe = json.loads(msg.payload) if len(msg.payload) <= MAX_PAYLOAD_BYTES else None
                context = maybe if isinstance(maybe, dict) else None
            except (ValueError, RecursionError):
                pass
            context = context or {}
            replies = [(ERROR_TOPIC, {"error": str(exc), "context": QUERY_TOPIC,
                                      "siteId": context.get("siteId", "default"),
                                      "sessionId": context.get("sessionId")})]
        except Exception as exc:  # noqa: BLE001 - one query never stops the service
            log.exception("hermes: answering a query failed")
            replies = [(ERROR_TOPIC, {"error": f"answering the query failed: {exc}", "context": QUERY_TOPIC,
                                      "siteId": "default", "sessionId": None})]
        for topic, message in replies:
            client.publish(topic, json.dumps(message), qos=1)
