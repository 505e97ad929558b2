"""Device inventory: the floors, areas and entities of one home, which fill the {floor}, {area}
and {name} lists of Home Assistant templates.

    from safu.runtime.datasets.inventory import load_inventory, SAMPLE_INVENTORY
    inv = load_inventory("home.yaml")           # or load_inventory(SAMPLE_INVENTORY)
    inv.entity_by_name("pendant lamp").id       # -> "light.kitchen_pendant"

File format (YAML):
    floors:   [{name: Ground Floor, id: ground_floor, aliases: [downstairs]}]
    areas:    [{name: Kitchen, id: kitchen, floor: ground_floor}]
    entities: [{name: Kitchen Light, id: light.kitchen, area: kitchen, device_class: ..., aliases: [...]}]
Only `name` and `id` are required. Home Assistant's test fixtures (tests/<lang>/_fixtures.yaml) read
as they are: an entity's `attributes: {device_class: ...}` is its device class; `state` is ignored. Errors are DataError naming file:line: field.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .common import DataError, line_of, load_yaml, require
from .template import ListValue, SlotList, Text

SAMPLE_INVENTORY = Path(__file__).resolve().parent.parent / "data" / "sample_inventory.yaml"


@dataclass
class Place:
    """A floor or an area (floor = the floor id an area is on, None for floors)."""
    name: str
    id: str
    aliases: list[str] = field(default_factory=list)
    floor: str | None = None


@dataclass
class Entity:
    name: str
    id: str                      # "<domain>.<object>"
    area: str | None = None      # an area id
    device_class: str | None = None
    aliases: list[str] = field(default_factory=list)
    # other spellings of a name written as a template ("Trader Joe[']s": "Trader Joe's" is the
    # name, "Trader Joes" a spelling); unlike an alias, a spelling is its own slot value, as in
    # Home Assistant's tests
    spellings: list[str] = field(default_factory=list)

    @property
    def domain(self) -> str:
        return self.id.split(".", 1)[0]


@dataclass
class Inventory:
    floors: list[Place]
    areas: list[Place]
    entities: list[Entity]
    path: str = ""

    def entity_by_name(self, name: str) -> Entity | None:
        """The entity whose name or alias equals `name` (case-insensitive), else None."""
        key = " ".join(name.lower().split())
        for e in self.entities:
            if key in [e.name.lower(), *(a.lower() for a in [*e.aliases, *e.spellings])]:
                return e
        return None

    def slot_lists(self) -> dict[str, SlotList]:
        """The {name}, {area}, {floor} lists.

        The slot value is the canonical *name* (never the id, never the alias): Home Assistant's
        default conversation agent builds these lists from entity/area/floor names and aliases,
        and its intent handlers (intent.async_match_targets) resolve the `name`, `area` and
        `floor` slots by name. A device layer maps the name back to an id with entity_by_name.
        Surfaces are lower case, as people say and recognisers write them.
        """
        def place_values(places: list[Place]) -> list[ListValue]:
            return [ListValue(Text(s.lower()), p.name, {"id": p.id})
                    for p in places for s in [p.name, *p.aliases]]

        names = [ListValue(Text(s.lower()), e.name if s not in e.spellings else s,
                           {"domain": e.domain, "device_class": e.device_class, "area": e.area})
                 for e in self.entities for s in [e.name, *e.aliases, *e.spellings]]
        return {"name": SlotList(names), "area": SlotList(place_values(self.areas)),
                "floor": SlotList(place_values(self.floors))}


def _spellings(path: Path, item, name: str) -> list[str]:
    """The spellings of an entity name: [name] for a plain name; every expansion, first one
    first, of a name written as a template with [optional] parts or (a|b) alternatives, as Home
    Assistant's test fixtures do ("Trader Joe[']s"). DataError if it does not parse."""
    if not any(ch in name for ch in "[]()|"):
        return [name]
    from .template import Grammar, TemplateError, parse_template, render

    try:
        node = parse_template(name)
    except TemplateError as exc:
        raise DataError(path, f"name {name!r} is not a template: {exc}", line=line_of(item), field="name") from None
    grammar = Grammar({}, {})
    if grammar.missing_references(node) or grammar.count(node) > 64:
        raise DataError(path, f"name {name!r}: expected [optional] parts and (a|b) alternatives only, "
                              "at most 64 spellings", line=line_of(item), field="name")
    out: list[str] = []
    for pieces in grammar.enumerate(node):
        spelling = " ".join(render(pieces)[0].split())
        if spelling and spelling not in out:
            out.append(spelling)
    if not out:
        raise DataError(path, f"name {name!r} has no non-empty spelling", line=line_of(item), field="name")
    return out


def load_inventory(path: str | Path | None = None) -> Inventory:
    """Reads an inventory file (default: the sample shipped in the package). Returns Inventory;
    raises DataError for malformed YAML, missing or mistyped fields, unknown area/floor ids,
    duplicate ids and entity ids not of the form domain.object."""
    path = Path(path) if path is not None else SAMPLE_INVENTORY
    doc = load_yaml(path)
    if not isinstance(doc, dict):
        raise DataError(path, "expected a mapping with floors, areas and entities", line=1)
    if not any(k in doc for k in ("floors", "areas", "entities")):
        raise DataError(path, "expected at least one of floors, areas, entities", line=1)

    def items(key: str) -> list:
        value = doc.get(key) or []
        if not isinstance(value, list):
            raise DataError(path, "expected a list", line=line_of(value, line_of(doc)), field=key)
        for it in value:
            if not isinstance(it, dict):
                raise DataError(path, "expected a mapping with name and id",
                                line=line_of(it, line_of(value)), field=key)
        return value

    def text(item, key: str, required: bool = True) -> str | None:
        if not required and item.get(key) is None:
            return None
        return str(require(item, key, path, (str, int, float), "a name or id")).strip()

    def aliases(item) -> list[str]:
        value = item.get("aliases") or []
        if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
            raise DataError(path, "expected a list of strings", line=line_of(item), field="aliases")
        return [a.strip() for a in value if a.strip()]

    floors = [Place(text(f, "name"), text(f, "id"), aliases(f)) for f in items("floors")]
    floor_ids = {f.id for f in floors}
    areas = []
    for a in items("areas"):
        floor = text(a, "floor", required=False)
        if floor is not None and floor not in floor_ids:
            raise DataError(path, f"unknown floor id {floor!r}; expected one of {sorted(floor_ids)}",
                            line=line_of(a), field="floor")
        areas.append(Place(text(a, "name"), text(a, "id"), aliases(a), floor))
    area_ids = {a.id for a in areas}
    entities = []
    for e in items("entities"):
        eid = text(e, "id")
        if "." not in eid or eid.startswith(".") or eid.endswith("."):
            raise DataError(path, f"entity id {eid!r} is not of the form <domain>.<object>",
                            line=line_of(e), field="id")
        area = text(e, "area", required=False)
        if area is not None and area not in area_ids:
            raise DataError(path, f"unknown area id {area!r}; expected one of {sorted(area_ids)}",
                            line=line_of(e), field="area")
        device_class = text(e, "device_class", required=False)
        attributes = e.get("attributes")
        if attributes is not None and not isinstance(attributes, dict):
            raise DataError(path, "expected a mapping of attribute -> value", line=line_of(e),
                            field="attributes")
        if device_class is None and attributes and attributes.get("device_class") is not None:
            device_class = text(attributes, "device_class")   # Home Assistant's test fixtures
        name, *spellings = _spellings(path, e, text(e, "name"))
        entities.append(Entity(name, eid, area, device_class, aliases(e), spellings))
    for kind, group in (("floor", floors), ("area", areas), ("entity", entities)):
        seen: set[str] = set()
        for item in group:
            if item.id in seen:
                raise DataError(path, f"duplicate {kind} id {item.id!r}", field="id")
            seen.add(item.id)
    return Inventory(floors, areas, entities, str(path))
