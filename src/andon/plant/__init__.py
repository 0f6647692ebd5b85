"""The plant model (``plant.yaml``) and its calendar."""

from andon.plant.calendar import Interval, PlantCalendar, ShiftInstance
from andon.plant.loader import load_plant, parse_plant
from andon.plant.model import (
    Area,
    Bearing,
    Buffer,
    Calendar,
    Line,
    Machine,
    MachineRef,
    Measurement,
    Plant,
    Product,
    Shift,
    Simulation,
    Tag,
)

__all__ = [
    "Area",
    "Bearing",
    "Buffer",
    "Calendar",
    "Interval",
    "Line",
    "Machine",
    "MachineRef",
    "Measurement",
    "Plant",
    "PlantCalendar",
    "Product",
    "Shift",
    "ShiftInstance",
    "Simulation",
    "Tag",
    "example_plant",
    "load_plant",
    "parse_plant",
]


def example_plant(name: str) -> str:
    """Path of a shipped example plant (``job_shop`` or ``assembly_line``)."""
    from importlib.resources import files

    path = files("andon") / "examples" / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no example plant named {name!r}; try job_shop or assembly_line")
    return str(path)
