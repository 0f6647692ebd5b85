from datetime import UTC, datetime, timedelta, timezone

import pytest

from andon.core import InputError, iso, parse_duration, parse_time
from andon.core.clock import from_ns, to_ns


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("5min", 300),
        ("2h", 7200),
        ("1.5d", 129600),
        ("250ms", 0.25),
        (42, 42),
        ("7", 7),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5 parsecs", "abc", "-5s", "", True])
def test_bad_durations_say_what_was_expected(text):
    with pytest.raises(InputError, match="expected a duration"):
        parse_duration(text)


def test_parse_time_iso_with_offset_and_z():
    assert parse_time("2026-03-29T06:00:00+02:00") == parse_time("2026-03-29T04:00:00Z")
    assert iso(parse_time("2026-03-29T04:00:00.123Z")) == "2026-03-29T04:00:00.123Z"


def test_parse_time_relative_and_now():
    now = 10**18
    assert parse_time("now", now=now) == now
    assert parse_time("-2h", now=now) == now - 7200 * 10**9
    assert parse_time("now-30min", now=now) == now - 1800 * 10**9


def test_time_without_offset_is_refused():
    with pytest.raises(InputError, match="no UTC offset"):
        parse_time("2026-03-29T06:00:00")


def test_garbage_time_is_refused():
    with pytest.raises(InputError, match="ISO 8601"):
        parse_time("yesterday-ish")


def test_ns_round_trip():
    dt = datetime(2026, 10, 25, 1, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    ns = to_ns(dt)
    assert from_ns(ns) == dt.astimezone(UTC)


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59Z", "1500-01-01T00:00:00Z", "-36500d"])
def test_times_outside_int64_nanoseconds_are_refused(text):
    with pytest.raises(InputError, match="out of range"):
        parse_time(text, now=-9 * 10**18)  # "now" in 1684: a century earlier is out of range


@pytest.mark.parametrize("value", ["100000000d", float("inf"), float("nan"), 1e300])
def test_durations_must_be_finite_and_sane(value):
    with pytest.raises(InputError, match="not a usable duration"):
        parse_duration(value)


def test_iso_shows_finer_digits_only_when_there_are_some():
    assert iso(0) == "1970-01-01T00:00:00.000Z"
    assert iso(1_500_000) == "1970-01-01T00:00:00.001500Z"
    assert iso(7) == "1970-01-01T00:00:00.000000007Z"
    assert iso(parse_time("2026-11-25T10:00:00.25Z")) == "2026-11-25T10:00:00.250Z"
