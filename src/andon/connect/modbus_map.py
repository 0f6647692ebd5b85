"""Modbus register maps as data: which reads to send, and what the words mean.

Pure functions, no network, so every type, word order and byte order is testable alone:

- ``plan_reads`` coalesces the configured registers into as few requests as the map allows:
  registers of one function whose addresses are at most ``max_gap`` unused registers apart
  share one read, up to the protocol's limit per request (125 registers, 2000 bits).
- ``decode`` turns the words (or bits) of one read into a value per register, vectorised with
  numpy per group of registers of the same layout: ``value = raw * scale + offset``.
- ``encode`` is the inverse for write-back, refusing a value that does not fit the register.

Word order says which 16-bit word comes first in a multi-register value (``big``: the most
significant, the Modbus convention; ``little``: "word swapped"); byte order says which byte
comes first inside each word (``big`` is the Modbus convention; ``little``: "byte swapped").
A float32 of bytes ``A B C D`` (big-endian) is therefore sent as words ``AB CD`` (big, big),
``CD AB`` (word little), ``BA DC`` (byte little) or ``DC BA`` (both little).

Coils and discrete inputs are bits: their value is 0.0 or 1.0 and scale and offset are not
applied to them.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from andon.connect.base import Value, WriteRefused
from andon.core.errors import InputError
from andon.plant.sources import ModbusRegister, RegisterType

Function = Literal["holding", "input", "coil", "discrete"]

MAX_REGISTERS = 125
"""Registers one read may ask for (Modbus application protocol, functions 3 and 4)."""
MAX_BITS = 2000
"""Coils or discrete inputs one read may ask for (functions 1 and 2)."""
ADDRESS_SPACE = 65536

WIDTH: dict[RegisterType, int] = {
    "bool": 1,
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "float32": 2,
    "float64": 4,
}
"""Registers (or bits, for bool) one value occupies."""

_STRUCT: dict[RegisterType, str] = {
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "float32": "f",
    "float64": "d",
}
_DTYPE: dict[RegisterType, str] = {
    "int16": ">i2",
    "uint16": ">u2",
    "int32": ">i4",
    "uint32": ">u4",
    "float32": ">f4",
    "float64": ">f8",
}
_INT_RANGE: dict[RegisterType, tuple[int, int]] = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
}
_FLOAT32_MAX = 3.4028234663852886e38

FUNCTION_CODE: dict[Function, int] = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}
FUNCTIONS: tuple[Function, ...] = ("coil", "discrete", "holding", "input")


def is_bits(function: Function) -> bool:
    return function in ("coil", "discrete")


def protocol_max(function: Function) -> int:
    return MAX_BITS if is_bits(function) else MAX_REGISTERS


@dataclass(frozen=True, slots=True)
class _Group:
    """Registers of one read sharing a layout, decoded together."""

    type: RegisterType
    word_order: str
    byte_order: str
    rows: npt.NDArray[np.intp]
    """Positions of these registers in ``Read.registers``."""
    offsets: npt.NDArray[np.intp]
    """First word of each register, relative to the read's start."""
    scale: npt.NDArray[np.float64]
    offset: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Read:
    """One request: ``count`` registers (or bits) of ``function`` from ``address`` on, and the
    configured registers it serves, in the order ``decode`` returns their values."""

    function: Function
    address: int
    count: int
    registers: tuple[ModbusRegister, ...]
    _groups: tuple[_Group, ...] = field(default=(), repr=False, compare=False)

    @property
    def end(self) -> int:
        """Last address read (inclusive)."""
        return self.address + self.count - 1

    def describe(self) -> str:
        """``holding registers 100-109``, as a person reads a register map."""
        kind = {
            "holding": "holding registers",
            "input": "input registers",
            "coil": "coils",
            "discrete": "discrete inputs",
        }[self.function]
        return f"{kind} {self.address}-{self.end}"


def _read(function: Function, address: int, count: int, regs: Sequence[ModbusRegister]) -> Read:
    groups: list[_Group] = []
    if not is_bits(function):
        layouts: dict[tuple[RegisterType, str, str], list[int]] = {}
        for i, r in enumerate(regs):
            layouts.setdefault((r.type, r.word_order, r.byte_order), []).append(i)
        for (rtype, word_order, byte_order), rows in layouts.items():
            groups.append(
                _Group(
                    type=rtype,
                    word_order=word_order,
                    byte_order=byte_order,
                    rows=np.array(rows, dtype=np.intp),
                    offsets=np.array([regs[i].address - address for i in rows], dtype=np.intp),
                    scale=np.array([regs[i].scale for i in rows], dtype=np.float64),
                    offset=np.array([regs[i].offset for i in rows], dtype=np.float64),
                )
            )
    return Read(function, address, count, tuple(regs), tuple(groups))


def plan_reads(
    registers: Sequence[ModbusRegister], *, max_gap: int, max_count: int | None = None
) -> list[Read]:
    """The fewest reads covering ``registers``: per function, in address order, a read grows
    over the next register while the unused registers between them are at most ``max_gap``
    and the read stays within ``max_count`` (default, and at most, the protocol's limit).
    Overlapping registers (two views of the same words) share a read.

    Raises InputError for a tag mapped twice or a value running past address 65535.
    """
    if max_gap < 0:
        raise InputError(f"max_gap must be 0 or more, got {max_gap}")
    seen: set[str] = set()
    for r in registers:
        if r.tag in seen:
            raise InputError(f"tag {r.tag} is mapped to two Modbus registers; map it once")
        seen.add(r.tag)
        if r.address + WIDTH[r.type] > ADDRESS_SPACE:
            raise InputError(
                f"{r.tag}: a {r.type} at address {r.address} runs past the last Modbus "
                f"address 65535"
            )
    reads: list[Read] = []
    for function in FUNCTIONS:
        limit = protocol_max(function)
        if max_count is not None:
            if max_count < 1:
                raise InputError(f"max_count must be at least 1, got {max_count}")
            limit = min(limit, max_count)
        mine = sorted(
            (r for r in registers if r.function == function),
            key=lambda r: (r.address, WIDTH[r.type]),
        )
        start = end = -1  # current read: [start, end) in addresses
        members: list[ModbusRegister] = []
        for r in mine:
            width = WIDTH[r.type]
            if width > limit:
                raise InputError(
                    f"{r.tag}: a {r.type} needs {width} registers but a read may hold only {limit}"
                )
            r_end = r.address + width
            if members and r.address - end <= max_gap and max(end, r_end) - start <= limit:
                end = max(end, r_end)
                members.append(r)
                continue
            if members:
                reads.append(_read(function, start, end - start, members))
            start, end, members = r.address, r_end, [r]
        if members:
            reads.append(_read(function, start, end - start, members))
    return reads


def _byteswap(words: npt.NDArray[np.uint16]) -> npt.NDArray[np.uint16]:
    return ((words >> 8) | (words << 8)).astype(np.uint16)


def decode(read: Read, words_or_bits: Sequence[int] | Sequence[bool]) -> npt.NDArray[np.float64]:
    """The value of each of ``read.registers`` (in that order) from the words, or bits, the
    device answered; ``raw * scale + offset`` for registers, 0.0/1.0 for bits.

    Raises InputError when the answer is shorter than the read asked for.
    """
    if len(words_or_bits) < read.count:
        raise InputError(
            f"{read.describe()}: the device answered {len(words_or_bits)} values, "
            f"{read.count} were asked for"
        )
    if is_bits(read.function):
        bits = np.asarray(words_or_bits[: read.count], dtype=np.bool_)
        idx = np.array([r.address - read.address for r in read.registers], dtype=np.intp)
        return bits[idx].astype(np.float64)
    words = np.asarray(words_or_bits[: read.count], dtype=np.uint16)
    out = np.empty(len(read.registers), dtype=np.float64)
    for g in read._groups:
        width = WIDTH[g.type]
        block = words[g.offsets[:, None] + np.arange(width)]
        if g.word_order == "little":
            block = block[:, ::-1]
        if g.byte_order == "little":
            block = _byteswap(block)
        raw = np.ascontiguousarray(block, dtype=">u2").view(_DTYPE[g.type])[:, 0]
        out[g.rows] = raw.astype(np.float64) * g.scale + g.offset
    return out


def to_words(rtype: RegisterType, raw: int | float, word_order: str, byte_order: str) -> list[int]:
    """The register words of one raw value in the given orders (no scale, no range check)."""
    packed = struct.pack(">" + _STRUCT[rtype], raw)
    pairs = [packed[i : i + 2] for i in range(0, len(packed), 2)]
    if byte_order == "little":
        pairs = [p[::-1] for p in pairs]
    if word_order == "little":
        pairs.reverse()
    return [int.from_bytes(p, "big") for p in pairs]


_TRUE = {"1", "true", "on", "yes"}
_FALSE = {"0", "false", "off", "no"}


def _as_bool(register: ModbusRegister, value: Value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise WriteRefused(
        f"{register.tag}: {value!r} is not a value for a coil (expected true/false, on/off or 1/0)"
    )


def _as_number(register: ModbusRegister, value: Value) -> float:
    if isinstance(value, bool):
        raise WriteRefused(f"{register.tag}: {value!r} is a boolean, the register holds a number")
    try:
        number = float(value)
    except ValueError:
        raise WriteRefused(f"{register.tag}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise WriteRefused(f"{register.tag}: {value!r} cannot be written to a register")
    return number


def encode(register: ModbusRegister, value: Value) -> list[int] | bool:
    """What to write for ``value``: a bool for a coil, else the register words of
    ``(value - offset) / scale`` (rounded to the nearest integer for integer types) in the
    register's word and byte order. Raises WriteRefused when the value does not fit."""
    if register.type == "bool":
        return _as_bool(register, value)
    number = _as_number(register, value)
    raw = (number - register.offset) / register.scale
    how = f"after scale {register.scale:g}" + (
        f" and offset {register.offset:g}" if register.offset else ""
    )
    if register.type in _INT_RANGE:
        lo, hi = _INT_RANGE[register.type]
        whole = round(raw) if math.isfinite(raw) else None
        if whole is None or not lo <= whole <= hi:
            raise WriteRefused(
                f"{register.tag}: {value} does not fit {register.type} {how} "
                f"(raw {raw:g}, range {lo}..{hi})"
            )
        return to_words(register.type, whole, register.word_order, register.byte_order)
    if not math.isfinite(raw) or (register.type == "float32" and abs(raw) > _FLOAT32_MAX):
        raise WriteRefused(f"{register.tag}: {value} does not fit {register.type} {how}")
    return to_words(register.type, raw, register.word_order, register.byte_order)


__all__ = [
    "FUNCTION_CODE",
    "MAX_BITS",
    "MAX_REGISTERS",
    "WIDTH",
    "Function",
    "Read",
    "decode",
    "encode",
    "is_bits",
    "plan_reads",
    "protocol_max",
    "to_words",
]
