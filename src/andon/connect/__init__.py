"""Connectors: the shop floor's protocols decoded to Batches, and write-back to machines.

The shape every connector shares is in ``base``; ``health`` and ``deadletter`` are what each
one reports. Protocol libraries are imported only by the module that speaks the protocol, so
``import andon.connect`` stays light.
"""

from andon.connect.base import Connector, Value, WriteRefused, WriteResult
from andon.connect.deadletter import DeadLetter
from andon.connect.health import SourceHealth

__all__ = ["Connector", "DeadLetter", "SourceHealth", "Value", "WriteRefused", "WriteResult"]
