"""File import: long-form CSV or Parquet read in chunks of Batches, for backfilling history.

The long form is one sample per row: ``ts,tag,value[,quality][,text]`` — the same columns
``andon history export`` writes, so an export imports back unchanged.

- ``ts``: ISO 8601 with a UTC offset (``2026-03-29T06:00:00.250+02:00``, ``...Z``; up to
  nanoseconds) or a number of epoch *milliseconds* (``1774764000250``, decimals allowed).
  A time without an offset is refused (it is ambiguous), as is one before 1970 or after 2262,
  and an epoch number below 1e11 ms (before 1973: epoch *seconds* sent as milliseconds).
  In Parquet, a ``timestamp`` column with a time zone, or an integer column of epoch ms.
- ``tag``: a tag path (``site/area/line/machine/tag``); unknown tags are created.
- ``value``: a finite number, ``true``/``false`` (1/0), or text (a string-valued sample).
  No number (empty, null, NaN) is accepted only on a sample whose quality is below GOOD
  (192): a sample that has no number, as the historian exports it. Infinities are refused.
- ``quality`` (optional): an integer 0..255; empty or absent means GOOD (192).
- ``text`` (optional): a string value; its row's ``value`` must then be empty.

A CSV file needs its header line and one row per line (a quoted value with a line break in it
shifts the line numbers reported after it). Bad rows never stop an import and are never
dropped silently: each comes back as a ``RowProblem`` (line, field, what was expected, the
row as found); the good rows of the same chunk are in its Batch. Blank lines are skipped.

Speed: CSV is parsed by pyarrow's streaming reader and converted with vectorised casts; only
a chunk in which a column fails the fast conversion is converted row by row, to name the bad
rows exactly.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from andon.connect.uns import SECONDS_LIKE_MS
from andon.core.batch import Batch
from andon.core.clock import MAX_NS, NS_PER_S
from andon.core.errors import InputError
from andon.core.quality import GOOD
from andon.core.tagpath import TagPathError, tag_path

CHUNK_ROWS = 100_000
COLUMNS = ("ts", "tag", "value", "quality", "text")
REQUIRED = ("ts", "tag", "value")
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
REJECT_COLUMNS = ("line", "field", "problem", "row")

TS_EXPECTED = (
    "expected ISO 8601 with a UTC offset (2026-03-29T06:00:00+02:00 or ...Z) or epoch milliseconds"
)
TAG_EXPECTED = "a tag path site/area/line/machine/tag"
_NS_PER_MS = 1_000_000
_UNIT_NS = {"s": NS_PER_S, "ms": 1_000_000, "us": 1000, "ns": 1}
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*(?:([Zz])|([+-])(\d{2}):?(\d{2})?)?"
)
_EPOCH_MS = re.compile(r"([+-]?\d+)(?:\.(\d*))?")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:nan|inf|infinity)", re.I)
_BOOLS = {"true": 1.0, "false": 0.0}


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One rejected row: ``line`` is the CSV line (the header is line 1) or the Parquet row
    (the first row is 1); ``field`` the column at fault; ``message`` what was expected."""

    line: int
    field: str
    message: str
    row: str = ""

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass(frozen=True)
class ImportChunk:
    """The good rows of one chunk as a Batch, and every rejected row of it."""

    batch: Batch
    problems: list[RowProblem]
    rows: int
    """Data rows read in this chunk (stored + rejected; blank lines are not rows)."""
    position: int
    """How far the file has been read: bytes for CSV, rows for Parquet."""
    total: int
    """The file's size in the same unit as ``position``."""
    unit: str = "bytes"


def file_kind(path: Path) -> str:
    """``csv`` or ``parquet`` from the file name; InputError for anything else."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputError(
            f"{path}: unsupported file type {path.suffix or '(no extension)'!r}; "
            "expected .csv or .parquet (long form: ts,tag,value[,quality])"
        )
    return kind


def read_long(path: str | Path, *, chunk_rows: int = CHUNK_ROWS) -> Iterator[ImportChunk]:
    """Stream a long-form CSV or Parquet file as chunks of about ``chunk_rows`` rows.

    Raises InputError (before the first chunk) when the file is missing, of another type, or
    lacks the required columns; bad *rows* are reported in the chunks instead.
    """
    p = Path(path)
    kind = file_kind(p)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if not p.is_file():
        raise InputError(f"{p}: not a file")
    if chunk_rows < 1:
        raise InputError(f"chunk size must be at least 1 row, got {chunk_rows}")
    if kind == "csv":
        return _read_csv(p, chunk_rows)
    return _read_parquet(p, chunk_rows)


def _columns(path: Path, names: list[str]) -> list[str]:
    """The file's column names, checked: required ones present, no unknown ones."""
    clean = [n.strip().lower() for n in names]
    missing = [c for c in REQUIRED if c not in clean]
    unknown = [n for n, c in zip(names, clean, strict=True) if c not in COLUMNS]
    doubled = sorted({c for c in clean if clean.count(c) > 1})
    if missing or unknown or doubled:
        found = ",".join(names) if names else "(nothing)"
        what = []
        if missing:
            what.append("missing " + ", ".join(missing))
        if unknown:
            what.append("unknown " + ", ".join(repr(u) for u in unknown))
        if doubled:
            what.append("repeated " + ", ".join(doubled))
        raise InputError(
            f"{path}: columns {found}: {'; '.join(what)}; expected a header "
            "ts,tag,value[,quality][,text] (long form, one sample per row)"
        )
    return clean


# -- CSV -----------------------------------------------------------------------------------


def _header(path: Path) -> tuple[list[str], float]:
    """The header's names and the mean length of the first lines (to size read blocks)."""
    with path.open("rb") as f:
        head = f.read(1 << 16)
    first, _, rest = head.partition(b"\n")
    try:
        text = first.decode("utf-8-sig").rstrip("\r")
    except UnicodeDecodeError:
        raise InputError(f"{path}: line 1: the header is not UTF-8 text") from None
    if not text.strip():
        raise InputError(
            f"{path}: line 1 is empty; expected a header ts,tag,value[,quality][,text]"
        )
    names = next(csv.reader([text]))
    lines = rest.count(b"\n")
    mean = len(rest) / lines if lines else 64.0
    return names, max(mean, 16.0)


class _Lines:
    """CSV lines that did not come out as rows (wrong field count, blank), so that a row's
    line number can be computed: lines arrive in order, rows in order."""

    def __init__(self, width: int, names: list[str]) -> None:
        self.width = width
        self.names = ",".join(names)
        self.skipped: list[int] = []
        self.problems: list[RowProblem] = []

    def handler(self, row: Any) -> str:
        number = int(row.number) if row.number is not None else -1
        self.skipped.append(number)
        text = str(row.text)
        if text.strip():
            self.problems.append(
                RowProblem(
                    number,
                    "row",
                    f"{row.actual_columns} field(s); expected {self.width} ({self.names})",
                    text,
                )
            )
        return "skip"

    def line_of(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Line numbers of data rows (0-based, counted over the whole file)."""
        lines = rows + 2
        if not self.skipped:
            return lines
        skipped = np.asarray(self.skipped, dtype=np.int64)
        while True:
            moved = rows + 2 + np.searchsorted(skipped, lines, side="right")
            if np.array_equal(moved, lines):
                return lines
            lines = moved


def _read_csv(path: Path, chunk_rows: int) -> Iterator[ImportChunk]:
    names, mean = _header(path)
    clean = _columns(path, names)
    return _csv_chunks(path, names, clean, mean, chunk_rows)


def _csv_chunks(
    path: Path, names: list[str], clean: list[str], mean: float, chunk_rows: int
) -> Iterator[ImportChunk]:
    total = path.stat().st_size
    lines = _Lines(len(names), names)
    block = int(min(max(chunk_rows * mean * 1.05, 1 << 16), 1 << 28))
    source = pa.OSFile(str(path), "rb")
    try:
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(
                use_threads=False, block_size=block, skip_rows=1, column_names=clean
            ),
            parse_options=pacsv.ParseOptions(
                invalid_row_handler=lines.handler, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.binary() for c in clean},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowException as exc:
        source.close()
        raise InputError(f"{path}: cannot read as CSV: {_first_line(exc)}") from None
    done = 0
    try:
        while True:
            try:
                rb = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowException as exc:
                line = int(lines.line_of(np.array([done]))[0])
                raise InputError(
                    f"{path}: cannot read as CSV after line {line}: {_first_line(exc)}"
                ) from None
            cols = {c: rb.column(c) for c in clean}
            first = done
            done += rb.num_rows

            def line_of(rows: npt.NDArray[np.int64], first: int = first) -> npt.NDArray[np.int64]:
                return lines.line_of(rows + first)

            chunk = _convert(rb.num_rows, cols, line_of, text_input=True)
            extra, lines.problems = lines.problems, []
            yield ImportChunk(
                chunk.batch,
                extra + chunk.problems,
                chunk.rows + len(extra),
                min(source.tell(), total),
                total,
            )
        if lines.problems:
            extra, lines.problems = lines.problems, []
            yield ImportChunk(Batch.empty(), extra, len(extra), total, total)
    finally:
        source.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- Parquet -------------------------------------------------------------------------------


def _read_parquet(path: Path, chunk_rows: int) -> Iterator[ImportChunk]:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: cannot read as Parquet: {_first_line(exc)}") from None
    schema = pf.schema_arrow
    clean = _columns(path, list(schema.names))
    by_name = dict(zip(clean, schema.names, strict=True))
    ts_type = schema.field(by_name["ts"]).type
    if pa.types.is_timestamp(ts_type) and ts_type.tz is None:
        raise InputError(
            f"{path}: column ts is a timestamp without a time zone; it is ambiguous. "
            "Store it with a time zone (e.g. timestamp[ns, tz=UTC]) or as epoch milliseconds"
        )
    for name, check, expected in (
        ("ts", _is_time_type, "a timestamp with a time zone, integer epoch ms or text"),
        ("tag", _is_text_type, "text"),
        ("value", _is_value_type, "numbers, booleans or text"),
        ("quality", _is_int_type, "integers 0..255"),
        ("text", _is_text_type, "text"),
    ):
        if name in by_name and not check(schema.field(by_name[name]).type):
            raise InputError(
                f"{path}: column {name} is {schema.field(by_name[name]).type}; expected {expected}"
            )
    return _parquet_chunks(path, pf, clean, by_name, chunk_rows)


def _parquet_chunks(
    path: Path, pf: pq.ParquetFile, clean: list[str], by_name: dict[str, str], chunk_rows: int
) -> Iterator[ImportChunk]:
    schema = pf.schema_arrow
    total = pf.metadata.num_rows
    done = 0
    try:
        for rb in pf.iter_batches(batch_size=chunk_rows, columns=list(schema.names)):
            cols = {c: rb.column(by_name[c]) for c in clean}
            first = done
            done += rb.num_rows

            def line_of(rows: npt.NDArray[np.int64], first: int = first) -> npt.NDArray[np.int64]:
                return rows + first + 1

            chunk = _convert(rb.num_rows, cols, line_of, text_input=False)
            yield ImportChunk(chunk.batch, chunk.problems, chunk.rows, done, total, "rows")
    except (pa.ArrowException, OSError) as exc:
        raise InputError(
            f"{path}: cannot read Parquet after row {done}: {_first_line(exc)}"
        ) from None


def _is_text_type(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return _is_text_type(t.value_type)
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t))


def _is_int_type(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_null(t))


def _is_time_type(t: pa.DataType) -> bool:
    return bool(pa.types.is_timestamp(t) or pa.types.is_integer(t) or _is_text_type(t))


def _is_value_type(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_floating(t)
        or pa.types.is_integer(t)
        or pa.types.is_boolean(t)
        or pa.types.is_decimal(t)
        or _is_text_type(t)
    )


# -- conversion (shared) ----------------------------------------------------------------------


@dataclass
class _Chunk:
    batch: Batch
    problems: list[RowProblem]
    rows: int


@dataclass
class _Verdicts:
    """The first problem of each bad row (later problems of the same row are not repeated)."""

    n: int
    bad: npt.NDArray[np.bool_] = field(init=False)
    found: list[tuple[int, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bad = np.zeros(self.n, dtype=np.bool_)

    def add(self, rows: npt.NDArray[np.bool_], name: str, message: Callable[[int], str]) -> None:
        new = rows & ~self.bad
        if new.any():
            for r in np.flatnonzero(new).tolist():
                self.found.append((r, name, message(r)))
            self.bad |= new


def _as_text(col: pa.Array, verdicts: _Verdicts, name: str) -> pa.Array:
    """A binary CSV column as text; rows that are not UTF-8 are bad (and empty here)."""
    try:
        return col.cast(pa.string())
    except pa.ArrowInvalid:
        pass
    raw: list[bytes] = col.to_pylist()
    out: list[str] = []
    broken = np.zeros(len(raw), dtype=np.bool_)
    for i, b in enumerate(raw):
        try:
            out.append(b.decode("utf-8"))
        except UnicodeDecodeError:
            out.append("")
            broken[i] = True
    verdicts.add(broken, name, lambda r: "not valid UTF-8 text")
    return pa.array(out, type=pa.string())


def _convert(
    n: int,
    raw: dict[str, pa.Array],
    line_of: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.int64]],
    *,
    text_input: bool,
) -> _Chunk:
    verdicts = _Verdicts(n)
    cols: dict[str, pa.Array] = {}
    for name, col in raw.items():
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        cols[name] = _as_text(col, verdicts, name) if text_input else col

    blank = np.zeros(n, dtype=np.bool_)
    if text_input and n:
        blank = np.ones(n, dtype=np.bool_)
        for col in cols.values():
            blank &= _np_bool(pc.equal(col, ""))
        verdicts.bad |= blank  # a blank line is not a row: skipped, not reported

    ts = _times(cols["ts"], verdicts)
    tags, tag_id = _tags(cols["tag"], verdicts)
    quality = _quality(cols.get("quality"), verdicts)
    value, strings = _values(cols["value"], cols.get("text"), quality, verdicts)

    good = ~verdicts.bad
    problems: list[RowProblem] = []
    if verdicts.found:
        verdicts.found.sort()
        rows_at = np.array([r for r, _, _ in verdicts.found], dtype=np.int64)
        lines = line_of(rows_at).tolist()
        names = list(raw)
        for (r, name, message), line in zip(verdicts.found, lines, strict=True):
            problems.append(RowProblem(int(line), name, message, _row_text(raw, names, r)))
    batch = _batch(tags, ts, tag_id, value, quality, strings, good)
    return _Chunk(batch, problems, n - int(blank.sum()))


def _batch(
    tags: list[str],
    ts: npt.NDArray[np.int64],
    tag_id: npt.NDArray[np.int32],
    value: npt.NDArray[np.float64],
    quality: npt.NDArray[np.uint8],
    strings: dict[int, str],
    good: npt.NDArray[np.bool_],
) -> Batch:
    idx = np.flatnonzero(good)
    tid = tag_id[idx]
    used, remapped = np.unique(tid, return_inverse=True) if len(idx) else (tid, tid)
    text: tuple[tuple[int, str], ...] = ()
    if strings:
        new_row = np.cumsum(good) - 1
        text = tuple((int(new_row[r]), s) for r, s in sorted(strings.items()) if good[r])
    return Batch(
        tuple(tags[i] for i in used.tolist()),
        np.ascontiguousarray(ts[idx], dtype=np.int64),
        np.asarray(remapped, dtype=np.int32).reshape(-1),
        np.ascontiguousarray(value[idx], dtype=np.float64),
        np.ascontiguousarray(quality[idx], dtype=np.uint8),
        text,
    )


def _row_text(raw: dict[str, pa.Array], names: list[str], r: int) -> str:
    parts = []
    for name in names:
        v = raw[name][r].as_py()
        if isinstance(v, bytes):
            v = v.decode("utf-8", errors="replace")
        parts.append("" if v is None else str(v))
    return ",".join(parts)


def _np_bool(arr: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.bool_]:
    """A boolean Arrow array as numpy, nulls as False."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.bool_)


def _nulls(col: pa.Array) -> npt.NDArray[np.bool_]:
    if col.null_count == 0:
        return np.zeros(len(col), dtype=np.bool_)
    return _np_bool(col.is_null())


def _empty(col: pa.Array) -> npt.NDArray[np.bool_]:
    """Null, or an empty string in a text column."""
    missing = _nulls(col)
    if _is_text_type(col.type) and not pa.types.is_null(col.type):
        missing |= _np_bool(pc.equal(col, ""))
    return missing


# -- ts -----------------------------------------------------------------------------------


def _times(col: pa.Array, verdicts: _Verdicts) -> npt.NDArray[np.int64]:
    n = len(col)
    missing = _empty(col)
    verdicts.add(missing, "ts", lambda r: f"missing; {TS_EXPECTED}")
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if pa.types.is_timestamp(t) or pa.types.is_integer(t):
        factor = _UNIT_NS[t.unit] if pa.types.is_timestamp(t) else _NS_PER_MS
        raw = np.asarray(
            col.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64
        )
        if not pa.types.is_timestamp(t):
            _seconds_like(raw, missing, verdicts)
        return _scaled(raw, factor, missing, verdicts)
    if pa.types.is_null(t):
        return np.zeros(n, dtype=np.int64)
    fast = _times_fast(col)
    if fast is not None:
        ns, epoch = fast
        if epoch:
            _seconds_like(ns // _NS_PER_MS, missing, verdicts)
        _range_check(ns, missing, verdicts)
        return ns
    out = np.zeros(n, dtype=np.int64)
    texts: list[str | None] = col.to_pylist()
    bad = np.zeros(n, dtype=np.bool_)
    messages: dict[int, str] = {}
    for i, s in enumerate(texts):
        if missing[i] or s is None:
            continue
        try:
            out[i] = parse_ts(s)
        except ValueError as exc:
            bad[i] = True
            messages[i] = str(exc)
    verdicts.add(bad, "ts", messages.__getitem__)
    return out


def _times_fast(col: pa.Array) -> tuple[npt.NDArray[np.int64], bool] | None:
    """Vectorised: all epoch ms (digits; True) or all ISO 8601 with offset (False); None if
    neither."""
    try:
        filled = col.fill_null("0") if col.null_count else col
        filled = pc.if_else(pc.equal(filled, ""), "0", filled)
        if pc.all(pc.utf8_is_digit(filled)).as_py():
            ms = np.asarray(filled.cast(pa.int64()).to_numpy(), dtype=np.int64)
            if int(ms.max(initial=0)) > MAX_NS // _NS_PER_MS:
                return None
            return ms * _NS_PER_MS, True
        filled = pc.if_else(pc.equal(filled, "0"), "1970-01-01T00:00:00Z", filled)
        stamps = filled.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64())
        return np.asarray(stamps.to_numpy(), dtype=np.int64), False
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _seconds_like(
    ms: npt.NDArray[np.int64], missing: npt.NDArray[np.bool_], verdicts: _Verdicts
) -> None:
    """Epoch milliseconds before 1973 are almost surely epoch seconds: 1774764000 would be
    stored as 1970-01-21, silently, so the row is refused (as the MQTT decoder does)."""
    early = (ms >= 0) & (ms < SECONDS_LIKE_MS) & ~missing
    verdicts.add(early, "ts", lambda r: _seconds_message(str(int(ms[r]))))


def _seconds_message(text: str) -> str:
    return (
        f"{_quote(text)} is before 1973: epoch seconds sent as milliseconds? "
        "andon expects epoch milliseconds"
    )


def _scaled(
    raw: npt.NDArray[np.int64], factor: int, missing: npt.NDArray[np.bool_], verdicts: _Verdicts
) -> npt.NDArray[np.int64]:
    over = raw > MAX_NS // factor
    verdicts.add(over & ~missing, "ts", lambda r: "after 2262-04-11; times end there")
    ns = np.where(over, 0, raw) * factor
    _range_check(ns, missing, verdicts)
    return ns


def _range_check(
    ns: npt.NDArray[np.int64], missing: npt.NDArray[np.bool_], verdicts: _Verdicts
) -> None:
    early = (ns < 0) & ~missing
    verdicts.add(early, "ts", lambda r: "before 1970-01-01; expected a time from 1970 on")


def parse_ts(text: str) -> int:
    """One time as UTC ns: ISO 8601 with an offset, or epoch milliseconds (ValueError if not)."""
    s = text.strip()
    m = _EPOCH_MS.fullmatch(s)
    if m:
        frac = (m.group(2) or "")[:6].ljust(6, "0")
        ms = int(m.group(1))
        if 0 <= ms < SECONDS_LIKE_MS and not s.startswith("-"):
            raise ValueError(_seconds_message(s))
        ns = ms * _NS_PER_MS + (-1 if ms < 0 or s.startswith("-") else 1) * int(frac)
        return _in_range(ns, s)
    m = _ISO.fullmatch(s)
    if not m:
        raise ValueError(f"{_quote(s)} is not a time; {TS_EXPECTED}")
    y, mo, d, h, mi, sec, frac, zulu, sign, oh, om = m.groups()
    if not zulu and not sign:
        raise ValueError(f"{_quote(s)} has no UTC offset; add Z or +HH:MM")
    try:
        offset = timedelta(hours=int(oh or 0), minutes=int(om or 0))
        tz = UTC if zulu else timezone(-offset if sign == "-" else offset)
        dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec or 0), tzinfo=tz)
    except ValueError as exc:
        raise ValueError(f"{_quote(s)} is not a valid date and time ({exc})") from None
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    ns = (delta.days * 86400 + delta.seconds) * NS_PER_S + int((frac or "").ljust(9, "0"))
    return _in_range(ns, s)


def _in_range(ns: int, s: str) -> int:
    if ns < 0:
        raise ValueError(f"{_quote(s)} is before 1970-01-01; expected a time from 1970 on")
    if ns > MAX_NS:
        raise ValueError(f"{_quote(s)} is after 2262-04-11; times end there")
    return ns


def _quote(s: str) -> str:
    return repr(s if len(s) <= 60 else s[:57] + "...")


# -- tag ----------------------------------------------------------------------------------

_TAG_CACHE: dict[str, str | None] = {}
"""Validated tag paths (None: invalid) — tags repeat across chunks and files."""


def _tags(col: pa.Array, verdicts: _Verdicts) -> tuple[list[str], npt.NDArray[np.int32]]:
    n = len(col)
    missing = _empty(col)
    verdicts.add(
        missing, "tag", lambda r: "missing; expected a tag path site/area/line/machine/tag"
    )
    if pa.types.is_null(col.type):
        return [], np.zeros(n, dtype=np.int32)
    encoded = col if pa.types.is_dictionary(col.type) else col.dictionary_encode()
    dictionary: list[str | None] = encoded.dictionary.to_pylist()
    indices = np.asarray(
        encoded.indices.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int32
    )
    invalid: dict[int, str] = {}
    for i, path in enumerate(dictionary):
        if not path:
            continue
        if path not in _TAG_CACHE:
            try:
                tag_path(path)
                _TAG_CACHE[path] = None
            except TagPathError as exc:
                _TAG_CACHE[path] = str(exc)
            if len(_TAG_CACHE) > 100_000:
                _TAG_CACHE.clear()
        problem = _TAG_CACHE.get(path)
        if problem is not None:
            invalid[i] = problem
    if invalid:
        bad = np.isin(indices, np.array(list(invalid), dtype=np.int32)) & ~missing
        verdicts.add(bad, "tag", lambda r: invalid[int(indices[r])])
    return [p or "" for p in dictionary], indices


# -- quality --------------------------------------------------------------------------------


def _quality(col: pa.Array | None, verdicts: _Verdicts) -> npt.NDArray[np.uint8]:
    n = verdicts.n
    if col is None or pa.types.is_null(col.type):
        return np.full(n, GOOD, dtype=np.uint8)
    missing = _empty(col)
    values: npt.NDArray[np.int64] | None = None
    if pa.types.is_integer(col.type):
        values = np.asarray(
            col.cast(pa.int64()).fill_null(GOOD).to_numpy(zero_copy_only=False), dtype=np.int64
        )
    else:
        filled = pc.if_else(pc.equal(col.fill_null(""), ""), str(GOOD), col.fill_null(""))
        try:
            values = np.asarray(filled.cast(pa.int64()).to_numpy(), dtype=np.int64)
        except pa.ArrowInvalid:
            texts: list[str] = filled.to_pylist()
            values = np.full(n, GOOD, dtype=np.int64)
            bad = np.zeros(n, dtype=np.bool_)
            for i, s in enumerate(texts):
                try:
                    values[i] = int(s.strip())
                except (ValueError, OverflowError):
                    bad[i] = True
            verdicts.add(
                bad, "quality", lambda r: f"{_quote(texts[r])} is not an integer; expected 0..255"
            )
            values = np.where(bad, GOOD, values)
    values = np.where(missing, GOOD, values)
    out_of_range = (values < 0) | (values > 255)
    shown = values
    verdicts.add(out_of_range, "quality", lambda r: f"{shown[r]} is out of range; expected 0..255")
    return np.where(out_of_range, GOOD, values).astype(np.uint8)


# -- value ----------------------------------------------------------------------------------


def _values(
    col: pa.Array,
    text_col: pa.Array | None,
    quality: npt.NDArray[np.uint8],
    verdicts: _Verdicts,
) -> tuple[npt.NDArray[np.float64], dict[int, str]]:
    n = verdicts.n
    strings: dict[int, str] = {}
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    numbers: npt.NDArray[np.float64] | None = None
    if pa.types.is_null(t):
        numbers = np.full(n, np.nan)
    elif not _is_text_type(t):
        numbers = np.array(  # a copy: string rows are set to NaN below
            col.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False),
            dtype=np.float64,
        )
    empty_field = _empty(col)
    empty = empty_field if numbers is None else np.isnan(numbers)
    if text_col is not None and not pa.types.is_null(text_col.type):
        has_text = ~_empty(text_col)
        if has_text.any():
            texts: list[str | None] = text_col.to_pylist()
            both = has_text & ~empty
            verdicts.add(both, "text", lambda r: "given with a value; expected one or the other")
            for r in np.flatnonzero(has_text & ~both).tolist():
                strings[r] = texts[r] or ""
            empty = empty & ~has_text  # a text value needs no number
    values = _values_from_text(col, empty, strings) if numbers is None else numbers
    is_text = np.zeros(n, dtype=np.bool_)
    if strings:
        is_text[list(strings)] = True
        values[is_text] = np.nan
    no_number = np.isnan(values) & ~is_text  # empty, null or NaN: "no number"
    verdicts.add(
        no_number & (quality >= GOOD),
        "value",
        lambda r: (
            f"{'missing' if empty_field[r] else 'NaN'}; expected a finite number, "
            f"true/false or text (no number only with a quality below {GOOD})"
        ),
    )
    verdicts.add(
        np.isinf(values),
        "value",
        lambda r: f"{values[r]} is not a finite number; expected a finite number",
    )
    return values, strings


def _values_from_text(
    col: pa.Array, empty: npt.NDArray[np.bool_], strings: dict[int, str]
) -> npt.NDArray[np.float64]:
    n = len(col)
    filled = col.fill_null("")
    try:
        quick = pc.if_else(pc.equal(filled, ""), "0", filled).cast(pa.float64())
        values = np.array(quick.to_numpy(), dtype=np.float64)
        values[empty] = np.nan
        return values
    except pa.ArrowInvalid:
        pass
    texts: list[str] = filled.to_pylist()
    values = np.full(n, np.nan)
    for i, s in enumerate(texts):
        if not s or i in strings:
            continue
        v = s.strip()
        if _NUMBER.fullmatch(v):
            values[i] = float(v)
        elif v.lower() in _BOOLS:
            values[i] = _BOOLS[v.lower()]
        else:
            strings[i] = s
    return values


# -- rejects --------------------------------------------------------------------------------


class RejectsFile:
    """A CSV of rejected rows (``line,field,problem,row``), created at the first problem."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._file: IO[str] | None = None
        self._writer: Any = None

    def add(self, problems: list[RowProblem]) -> None:
        if not problems:
            return
        if self._file is None:
            try:
                self._file = self.path.open("w", newline="", encoding="utf-8")
            except OSError as exc:
                raise InputError(
                    f"cannot write the rejects file {self.path}: {exc.strerror or exc}"
                ) from None
            self._writer = csv.writer(self._file, lineterminator="\n")
            self._writer.writerow(REJECT_COLUMNS)
        self._writer.writerows((p.line, p.field, p.message, p.row) for p in problems)
        self.count += len(problems)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def default_rejects(path: Path) -> Path:
    """``data.csv`` → ``data.rejects.csv`` beside it."""
    return path.with_name(f"{path.stem}.rejects.csv")
