"""A small Home Assistant model for tests: a few hassil templates (one taking the satellite's
area) and a three-room home, trained with safu's defaults."""
from __future__ import annotations

from pathlib import Path

TEMPLATES = """\
language: en
intents:
  HassTurnOn:
    data:
      - sentences: ["(turn|switch) on [the] lights in [the] {area}", "(turn|switch) on [the] {area} lights"]
        slots: {domain: light}
      - sentences: ["(turn|switch) on [the] lights [in here]"]
        slots: {domain: light}
        requires_context: {area: {slot: true}}
      - sentences: ["(turn|switch) on [the] {name}"]
  HassTurnOff:
    data:
      - sentences: ["(turn|switch) off [the] lights in [the] {area}", "(turn|switch) off [the] {area} lights"]
        slots: {domain: light}
      - sentences: ["(turn|switch) off [the] lights [in here]"]
        slots: {domain: light}
        requires_context: {area: {slot: true}}
      - sentences: ["(turn|switch) off [the] {name}"]
"""
INVENTORY = """\
areas: [{name: Kitchen, id: kitchen}, {name: Living Room, id: living_room}, {name: Bedroom, id: bedroom}]
entities:
  - {name: Bedroom Lamp, id: light.bedroom_lamp, area: bedroom}
  - {name: Desk Fan, id: fan.desk, area: living_room}
"""


def train_small_ha_model(folder: Path) -> Path:
    from safu.runtime.api import train

    (folder / "templates.yaml").write_text(TEMPLATES)
    (folder / "home.yaml").write_text(INVENTORY)
    out = folder / "ha.safu"
    train([folder / "templates.yaml"], output=out, inventory=folder / "home.yaml")
    return out
