"""Training examples for the intent-model tests, written as templates:

    example("turn on the {room} lights", "On", room=("kitchen", "kitchen"))
"""
from __future__ import annotations

from safu.runtime.datasets import Example, SlotSpan


def example(template: str, intent: str, **slots) -> Example:
    """`template` with each {name} replaced by its surface; the slot spans point at the surfaces."""
    text, spans = template, []
    for name, (surface, value) in slots.items():
        start = text.index("{" + name + "}")
        text = text.replace("{" + name + "}", surface, 1)
        spans.append(SlotSpan(name, start, start + len(surface), value))
    return Example(text, intent, spans)
