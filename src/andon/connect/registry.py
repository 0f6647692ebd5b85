"""From a plant.yaml ``sources:`` entry to its connector.

Each protocol's module is imported only when a source of that type is configured, so a plant
with one Modbus meter does not load the OPC UA stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module

from andon.connect.base import Connector
from andon.plant.sources import Source

CONNECTORS = {
    "mqtt": ("andon.connect.mqtt_json", "MqttJsonSource"),
    "sparkplug": ("andon.connect.sparkplug_source", "SparkplugSource"),
    "opcua": ("andon.connect.opcua", "OpcUaSource"),
    "modbus": ("andon.connect.modbus", "ModbusSource"),
}


def open_connector(config: Source) -> Connector:
    """The connector for one configured source (not connected yet: ``run`` connects)."""
    module, name = CONNECTORS[config.type]
    cls = getattr(import_module(module), name)
    connector: Connector = cls(config)
    return connector


def open_connectors(configs: Sequence[Source]) -> list[Connector]:
    return [open_connector(c) for c in configs]
