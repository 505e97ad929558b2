"""`safu serve --hermes` against a real mosquitto: hermes/nlu/query -> hermes/intent/<name>,
hermes/nlu/intentNotRecognized or hermes/error/nlu; bad queries, a restarted broker, and Hermes beside
Wyoming in one process."""
import json
import subprocess
import sys
import time

import pytest

from device_support import Broker, Subscriber, free_port

paho_publish = pytest.importorskip("paho.mqtt.publish", reason="paho-mqtt is a core dependency")


def start(tmp, broker_port, *extra):
    log_path = tmp / "serve.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "safu.runtime.cli", "serve", "--hermes",
                             f"mqtt://127.0.0.1:{broker_port}", "--no-asr", *extra],
                            stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        text = log_path.read_text()
        if "hermes connected" in text and ("--wyoming" not in extra or "wyoming listening" in text):
            return proc, log, log_path
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"safu serve --hermes did not start: {log_path.read_text()[-2000:]}")


def stop(proc, log) -> int:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(30)
    log.close()
    return proc.returncode


@pytest.fixture(scope="module")
def hermes(tmp_path_factory):
    from safu.runtime.api import DEFAULT_MODEL
    if not DEFAULT_MODEL.exists():
        pytest.skip(f"the built-in model is not in this checkout ({DEFAULT_MODEL})")
    tmp = tmp_path_factory.mktemp("hermes")
    broker = Broker(tmp)
    proc, log, log_path = start(tmp, broker.port)
    yield broker
    assert stop(proc, log) == 0
    broker.stop()
    assert "Traceback" not in log_path.read_text()


def query(broker, payload, topic="hermes/#", expect=1, timeout=10.0):
    """Publishes one query and returns the answers (messages other than queries) that follow it."""
    sub = Subscriber(broker.port, topic)
    try:
        body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        paho_publish.single("hermes/nlu/query", body, qos=1, hostname="127.0.0.1", port=broker.port)
        deadline = time.time() + timeout
        while time.time() < deadline:
            answers = [(t, p) for t, p, _ in sub.messages if t != "hermes/nlu/query"]
            if len(answers) >= expect:
                return answers
            time.sleep(0.02)
        return [(t, p) for t, p, _ in sub.messages if t != "hermes/nlu/query"]
    finally:
        sub.stop()


def test_query_gives_an_intent_in_rhasspy_form(hermes):
    answers = query(hermes, {"input": "turn on the kitchen lights", "id": "q1", "siteId": "kitchen",
                             "sessionId": "s1", "customData": "keep"}, expect=2)
    assert [topic for topic, _ in answers] == ["hermes/nlu/intentParsed", "hermes/intent/HassTurnOn"]
    parsed, message = (json.loads(payload) for _, payload in answers)
    assert parsed["intent"] == message["intent"] and parsed["slots"] == message["slots"]
    assert (parsed["id"], parsed["siteId"], parsed["sessionId"]) == ("q1", "kitchen", "s1")
    assert message["intent"]["intentName"] == "HassTurnOn" and 0 < message["intent"]["confidenceScore"] <= 1
    assert (message["id"], message["siteId"], message["sessionId"], message["customData"]) == ("q1", "kitchen",
                                                                                                "s1", "keep")
    assert message["input"] == "turn on the kitchen lights"
    [slot] = message["slots"]
    assert slot["slotName"] == slot["entity"] == "area" and slot["value"] == {"kind": "Unknown", "value": "Kitchen"}
    assert slot["rawValue"] == "kitchen"
    assert message["input"][slot["range"]["start"]:slot["range"]["end"]] == "kitchen"


def test_out_of_scope_and_filtered_queries_are_not_recognized(hermes):
    topic, payload = query(hermes, {"input": "who wrote the origin of species", "sessionId": "s2"})[0]
    assert topic == "hermes/nlu/intentNotRecognized"
    assert json.loads(payload)["sessionId"] == "s2" and json.loads(payload)["input"].startswith("who wrote")
    topic, _ = query(hermes, {"input": "turn on the kitchen lights", "intentFilter": ["HassTurnOff"]})[0]
    assert topic == "hermes/nlu/intentNotRecognized"
    topics = [t for t, _ in query(hermes, {"input": "turn on the kitchen lights", "intentFilter": ["HassTurnOn"]},
                                  expect=2)]
    assert topics == ["hermes/nlu/intentParsed", "hermes/intent/HassTurnOn"]


@pytest.mark.parametrize("payload, message", [
    (b"not json", "query is not valid JSON"),
    (b"[1, 2]", "query must be a JSON object"),
    (b'{"text": "turn on the kitchen lights"}', "query needs an 'input' string"),
    (json.dumps({"input": "x" * 5000}), "exceeds the limit of 2000"),
    (json.dumps({"input": "turn on the light", "intentFilter": "HassTurnOn"}), "'intentFilter' must be a list"),
    (b"[" * 70000, "exceeds the limit of 65536"),
], ids=["text", "array", "no-input", "long-input", "bad-filter", "huge"])
def test_bad_queries_get_an_nlu_error_and_the_service_goes_on(hermes, payload, message):
    topic, body = query(hermes, payload, topic="hermes/error/nlu")[0]
    assert topic == "hermes/error/nlu" and message in json.loads(body)["error"]
    topics = [t for t, _ in query(hermes, {"input": "turn off the bedroom lights"}, expect=2)]
    assert topics[-1] == "hermes/intent/HassTurnOff"


def test_reconnects_after_the_broker_restarts(tmp_path):
    (tmp_path / "first").mkdir()
    broker = Broker(tmp_path / "first")
    proc, log, log_path = start(tmp_path, broker.port)
    try:
        port = broker.port
        broker.stop()
        time.sleep(1.0)
        (tmp_path / "second").mkdir()
        broker = Broker(tmp_path / "second", port=port)
        deadline = time.time() + 60  # paho retries after 1 s, then 2, 4 ... at most 30 s
        while log_path.read_text().count("subscribed to hermes/nlu/query") < 2 and time.time() < deadline:
            time.sleep(0.1)
        assert "lost the broker" in log_path.read_text()
        answers = query(broker, {"input": "turn on the kitchen lights"}, expect=2)
        assert answers and answers[-1][0] == "hermes/intent/HassTurnOn"
    finally:
        assert stop(proc, log) == 0
        broker.stop()


def test_hermes_and_wyoming_in_one_process(tmp_path):
    pytest.importorskip("wyoming", reason="the wyoming package is needed (pip install 'safu[wyoming]')")
    from test_serve_wyoming import ask, run
    from wyoming.intent import Intent, Recognize

    broker = Broker(tmp_path)
    wyoming_port = free_port()
    proc, log, log_path = start(tmp_path, broker.port, "--wyoming", f"tcp://127.0.0.1:{wyoming_port}")
    try:
        assert query(broker, {"input": "turn on the kitchen lights"}, expect=2)[-1][0] == "hermes/intent/HassTurnOn"
        event = run(ask(wyoming_port, Recognize("turn off the bedroom lights").event()))
        assert Intent.from_event(event).name == "HassTurnOff"
    finally:
        assert stop(proc, log) == 0
        broker.stop()


def test_no_broker_is_one_clear_line():
    port = free_port()  # nothing listens there
    r = subprocess.run([sys.executable, "-m", "safu.runtime.cli", "serve", "--hermes", f"mqtt://127.0.0.1:{port}",
                        "--no-asr"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and f"cannot connect to the MQTT broker at mqtt://127.0.0.1:{port}" in r.stderr
    assert "Traceback" not in r.stderr


def test_site_areas_and_the_default_area_are_passed_to_predict(tmp_path):
    """--site-area SITE=AREA: a query from that siteId is about that area; other sites take --area.
    Slots no words say (the area from the site, the domain) come with an empty rawValue and no range."""
    from ha_support import train_small_ha_model

    model = train_small_ha_model(tmp_path)
    broker = Broker(tmp_path)
    proc, log, log_path = start(tmp_path, broker.port, "--model", str(model), "--area", "Bedroom",
                                "--site-area", "kitchen-satellite=kitchen")
    try:
        def slots(site):
            answers = query(broker, {"input": "turn on the lights", "siteId": site}, expect=2)
            assert answers[-1][0] == "hermes/intent/HassTurnOn", answers
            return {s["slotName"]: (s["value"]["value"], s["rawValue"], s["range"])
                    for s in json.loads(answers[-1][1])["slots"]}

        assert slots("kitchen-satellite") == {"domain": ("light", "", None), "area": ("Kitchen", "", None)}
        assert slots("elsewhere") == {"domain": ("light", "", None), "area": ("Bedroom", "", None)}
        said = {s["slotName"]: s for s in json.loads(query(broker, {"input": "turn off the kitchen lights"},
                                                           expect=2)[-1][1])["slots"]}
        assert said["area"]["rawValue"] == "kitchen" and said["area"]["range"]["start"] == 13
    finally:
        assert stop(proc, log) == 0
        broker.stop()
    assert "Traceback" not in log_path.read_text()
    bad = subprocess.run([sys.executable, "-m", "safu.runtime.cli", "serve", "--hermes", "mqtt://127.0.0.1:1",
                          "--no-asr", "--model", str(model), "--site-area", "kitchen"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--site-area: expected SITE=AREA" in bad.stderr
