"""The virtual plant: every machine of a plant.yaml comes alive, with sensor physics,
degradation and the ground truth behind it (built on ``andon.twin``'s kernel)."""

from andon.sim.plant import MachineStatus, VirtualPlant
from andon.sim.source import VirtualPlantSource

__all__ = ["MachineStatus", "VirtualPlant", "VirtualPlantSource"]
