"""Modbus register maps without a network: planning, decoding and encoding.

The reference for every type and order is ``struct.pack`` big-endian bytes ``A B C D ...``
rearranged by the usual names: ``ABCD`` (big words, big bytes), ``CDAB`` (little words),
``BADC`` (little bytes), ``DCBA`` (both little).
"""

from __future__ import annotations

import itertools
import math
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from andon.connect.base import WriteRefused
from andon.connect.modbus_map import WIDTH, decode, encode, plan_reads
from andon.core.errors import InputError
from andon.plant.sources import ModbusRegister

FMT = {
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "float32": "f",
    "float64": "d",
}
SAMPLES: dict[str, list[float]] = {
    "int16": [0, 1, -1, 12345, -32768, 32767],
    "uint16": [0, 1, 0x1234, 65535],
    "int32": [0, -1, 123456789, -(2**31), 2**31 - 1],
    "uint32": [0, 1, 0x12345678, 2**32 - 1],
    "float32": [0.0, -1.5, 3.25, 1.0e-30, 3.0e38],
    "float64": [0.0, -1.5, math.pi, 1.0e-300, 1.7e308],
}
ORDERS = list(itertools.product(["big", "little"], ["big", "little"]))


def reference_words(rtype: str, value: float, word_order: str, byte_order: str) -> list[int]:
    """Words as a device sends them, by permuting struct's big-endian bytes."""
    data = struct.pack(">" + FMT[rtype], value)
    n_words = len(data) // 2
    words = [data[2 * i : 2 * i + 2] for i in range(n_words)]
    if word_order == "little":
        words = words[::-1]
    if byte_order == "little":
        words = [w[1:] + w[:1] for w in words]
    return [w[0] << 8 | w[1] for w in words]


def test_reference_follows_the_usual_names() -> None:
    abcd = struct.pack(">f", 1.5)  # 3f c0 00 00
    a, b, c, d = abcd
    assert reference_words("float32", 1.5, "big", "big") == [a << 8 | b, c << 8 | d]
    assert reference_words("float32", 1.5, "little", "big") == [c << 8 | d, a << 8 | b]
    assert reference_words("float32", 1.5, "big", "little") == [b << 8 | a, d << 8 | c]
    assert reference_words("float32", 1.5, "little", "little") == [d << 8 | c, b << 8 | a]
    # DCBA is the whole value little-endian
    dcba = struct.pack("<f", 1.5)
    assert reference_words("float32", 1.5, "little", "little") == [
        dcba[0] << 8 | dcba[1],
        dcba[2] << 8 | dcba[3],
    ]


def reg(tag: str, address: int, **kw: Any) -> ModbusRegister:
    return ModbusRegister(tag=f"s/a/l/m/{tag}", address=address, **kw)


CASES = [(rtype, wo, bo, v) for rtype in FMT for wo, bo in ORDERS for v in SAMPLES[rtype]]


@pytest.mark.parametrize(("rtype", "word_order", "byte_order", "value"), CASES)
def test_decode_and_encode_every_type_and_order(
    rtype: str, word_order: str, byte_order: str, value: float
) -> None:
    r = reg("x", 10, type=rtype, word_order=word_order, byte_order=byte_order)
    (read,) = plan_reads([r], max_gap=0)
    words = reference_words(rtype, value, word_order, byte_order)
    got = decode(read, words)
    expected = struct.unpack(">" + FMT[rtype], struct.pack(">" + FMT[rtype], value))[0]
    assert got.tolist() == [expected]
    assert encode(r, value) == words


def test_one_read_decodes_every_layout_at_once() -> None:
    """Registers of many layouts in one read: each group lands at its own row."""
    regs, words, expected = [], [], []
    address = 0
    for i, (rtype, (wo, bo)) in enumerate(itertools.product(FMT, ORDERS)):
        value = SAMPLES[rtype][-2]
        regs.append(reg(f"t{i}", address, type=rtype, word_order=wo, byte_order=bo))
        words += reference_words(rtype, value, wo, bo)
        expected.append(struct.unpack(">" + FMT[rtype], struct.pack(">" + FMT[rtype], value))[0])
        address += WIDTH[rtype]  # type: ignore[index]
    (read,) = plan_reads(regs[::-1], max_gap=0)  # declaration order does not matter
    got = dict(zip((r.tag for r in read.registers), decode(read, words).tolist(), strict=True))
    assert [got[r.tag] for r in regs] == expected


def test_scale_and_offset() -> None:
    r = reg("temp", 0, type="int16", scale=0.1, offset=-40.0)
    (read,) = plan_reads([r], max_gap=0)
    assert decode(read, [reference_words("int16", 653, "big", "big")[0]])[0] == pytest.approx(25.3)
    assert decode(read, [0xFFFF])[0] == pytest.approx(-40.1)  # -1 * 0.1 - 40
    assert encode(r, 25.3) == [653]


def test_bits_decode_to_zero_and_one() -> None:
    coils = [reg(f"c{i}", a, function="coil", type="bool") for i, a in enumerate([3, 5, 6])]
    (read,) = plan_reads(coils, max_gap=2)
    assert (read.function, read.address, read.count) == ("coil", 3, 4)
    bits = [True, False, False, True, False, False, False, False]  # padded to a byte
    assert decode(read, bits).tolist() == [1.0, 0.0, 1.0]


def test_a_short_answer_is_an_input_error() -> None:
    (read,) = plan_reads([reg("x", 0, type="float64")], max_gap=0)
    with pytest.raises(InputError, match="answered 2 values, 4 were asked for"):
        decode(read, [0, 0])


# ---------------------------------------------------------------------- planning


def spans(reads: list[Any]) -> list[tuple[str, int, int]]:
    return [(r.function, r.address, r.count) for r in reads]


def test_gaps_up_to_max_gap_are_read_over() -> None:
    regs = [
        reg("a", 0),  # 0
        reg("b", 1, type="float32"),  # 1-2
        reg("c", 5),  # gap of 2 (3, 4)
        reg("d", 9, type="float64"),  # gap of 3 (6, 7, 8) -> 9-12
    ]
    assert spans(plan_reads(regs, max_gap=3)) == [("holding", 0, 13)]
    assert spans(plan_reads(regs, max_gap=2)) == [("holding", 0, 6), ("holding", 9, 4)]
    assert spans(plan_reads(regs, max_gap=0)) == [
        ("holding", 0, 3),
        ("holding", 5, 1),
        ("holding", 9, 4),
    ]


def test_max_count_splits_long_runs() -> None:
    regs = [reg(f"r{i}", 2 * i, type="float32") for i in range(100)]  # 200 registers
    reads = plan_reads(regs, max_gap=8)
    assert spans(reads) == [("holding", 0, 124), ("holding", 124, 76)]
    assert all(r.count <= 125 for r in reads)
    assert sum(len(r.registers) for r in reads) == 100
    # a lower cap, and a float32 is never split across two reads
    assert [r.count for r in plan_reads(regs, max_gap=8, max_count=7)] == [6] * 33 + [2]


def test_bits_may_go_up_to_2000_per_read() -> None:
    coils = [reg(f"c{i}", i, function="coil", type="bool") for i in range(2500)]
    assert spans(plan_reads(coils, max_gap=0)) == [("coil", 0, 2000), ("coil", 2000, 500)]


def test_functions_are_never_mixed() -> None:
    regs = [
        reg("h1", 0),
        reg("i1", 1, function="input"),
        reg("h2", 2),
        reg("c1", 0, function="coil", type="bool"),
        reg("d1", 0, function="discrete", type="bool"),
        reg("i2", 0, function="input", type="float32"),
    ]
    assert spans(plan_reads(regs, max_gap=8)) == [
        ("coil", 0, 1),
        ("discrete", 0, 1),
        ("holding", 0, 3),
        ("input", 0, 2),
    ]


def test_overlapping_registers_share_a_read() -> None:
    regs = [
        reg("whole", 100, type="uint32"),  # 100-101
        reg("low", 101),  # the low word of the same value
        reg("as_float", 100, type="float32"),
    ]
    (read,) = plan_reads(regs, max_gap=0)
    assert (read.address, read.count) == (100, 2)
    words = reference_words("uint32", 0x00010002, "big", "big")
    got = dict(zip((r.tag for r in read.registers), decode(read, words).tolist(), strict=True))
    assert got["s/a/l/m/whole"] == 0x00010002
    assert got["s/a/l/m/low"] == 2
    assert got["s/a/l/m/as_float"] == struct.unpack(">f", struct.pack(">I", 0x00010002))[0]


def test_a_wide_register_inside_a_read_extends_it() -> None:
    regs = [reg("f64", 10, type="float64"), reg("small", 11)]  # 10-13 and 11
    (read,) = plan_reads(regs, max_gap=0)
    assert (read.address, read.count) == (10, 4)


def test_bad_maps_are_refused_with_the_tag() -> None:
    with pytest.raises(InputError, match=r"s/a/l/m/x is mapped to two"):
        plan_reads([reg("x", 0), reg("x", 1)], max_gap=0)
    # plant.yaml refuses this map already; plan_reads stays a backstop for maps built in code
    past_end = ModbusRegister.model_construct(tag="s/a/l/m/y", address=65535, type="float32")
    with pytest.raises(InputError, match=r"s/a/l/m/y: a float32 at address 65535 runs past"):
        plan_reads([past_end], max_gap=0)
    with pytest.raises(InputError, match="needs 4 registers but a read may hold only 2"):
        plan_reads([reg("z", 0, type="float64")], max_gap=0, max_count=2)


# ---------------------------------------------------------------------- encoding


def test_encode_refuses_what_does_not_fit() -> None:
    with pytest.raises(WriteRefused, match=r"s/a/l/m/x: 70000 does not fit uint16 after scale 1"):
        encode(reg("x", 0), 70000)
    with pytest.raises(WriteRefused, match="does not fit uint16"):
        encode(reg("x", 0), -1)
    with pytest.raises(WriteRefused, match=r"does not fit int16 after scale 0.1 and offset -40"):
        encode(reg("t", 0, type="int16", scale=0.1, offset=-40), 4000)
    with pytest.raises(WriteRefused, match="does not fit float32"):
        encode(reg("f", 0, type="float32"), 1e39)
    with pytest.raises(WriteRefused, match="cannot be written"):
        encode(reg("f", 0, type="float64"), float("nan"))
    with pytest.raises(WriteRefused, match="'fast' is not a number"):
        encode(reg("f", 0, type="float32"), "fast")
    with pytest.raises(WriteRefused, match="is a boolean"):
        encode(reg("f", 0, type="float32"), True)
    with pytest.raises(WriteRefused, match="not a value for a coil"):
        encode(reg("c", 0, function="coil", type="bool"), 2)


def test_encode_coils_and_numeric_strings() -> None:
    coil = reg("c", 0, function="coil", type="bool")
    assert [encode(coil, v) for v in (True, 0, 1.0, "on", "FALSE")] == [
        True,
        False,
        True,
        True,
        False,
    ]
    assert encode(reg("x", 0), "42") == [42]
    assert encode(reg("x", 0, scale=0.5), 10.2) == [20]  # rounded to the register's step


@given(
    rtype=st.sampled_from(["int16", "uint16", "int32", "uint32", "float32", "float64"]),
    order=st.sampled_from(ORDERS),
    raw=st.integers(min_value=-(2**31), max_value=2**32 - 1),
    scale=st.sampled_from([1.0, 0.1, 0.01, 10.0]),
    offset=st.sampled_from([0.0, -40.0, 273.15]),
)
def test_encode_then_decode_gives_the_value_back(
    rtype: str, order: tuple[str, str], raw: int, scale: float, offset: float
) -> None:
    lo, hi = {
        "int16": (-(2**15), 2**15 - 1),
        "uint16": (0, 2**16 - 1),
        "int32": (-(2**31), 2**31 - 1),
        "uint32": (0, 2**32 - 1),
        "float32": (-(2**24), 2**24),
        "float64": (-(2**31), 2**32),
    }[rtype]
    raw = min(max(raw, lo), hi)
    value = raw * scale + offset
    r = reg(
        "x", 0, type=rtype, word_order=order[0], byte_order=order[1], scale=scale, offset=offset
    )
    (read,) = plan_reads([r], max_gap=0)
    words = encode(r, value)
    assert isinstance(words, list)
    assert decode(read, words)[0] == pytest.approx(value, rel=1e-6, abs=1e-6 * abs(scale))
    assert np.all(np.asarray(words) <= 0xFFFF)
