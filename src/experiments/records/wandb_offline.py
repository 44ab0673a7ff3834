"""Read a W&B run's transaction log (``run-<id>.wandb``) back: identity, config, history, summary, exit.

wandb 0.31 dropped its Python reader of these files (the reader lives in its Go core now). The
framing is LevelDB's log format: a 7-byte file header, then 32 KiB blocks of chunks, each with a
CRC-32 of its type and payload. Each record is decoded with wandb's own protobuf ``Record`` class,
so the fields are exactly the ones wandb writes and syncs.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FILE_HEADER = struct.Struct("<4sHB")  # ":W&B", magic 0xBEE1, version
CHUNK_HEADER = struct.Struct("<IHB")  # crc32, length, chunk type
BLOCK = 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    run_id: str = ""
    name: str = ""
    group: str = ""
    project: str = ""
    entity: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None


def payloads(path: Path) -> Iterator[bytes]:
    """The raw records of a log; a torn chunk at the end (a run still writing) ends the scan."""
    data = Path(path).read_bytes()
    ident, magic, _version = FILE_HEADER.unpack_from(data)
    if ident != b":W&B" or magic != 0xBEE1:
        raise ValueError(f"{path} is not a W&B transaction log")
    position, pending = FILE_HEADER.size, b""
    while position + CHUNK_HEADER.size <= len(data):
        left_in_block = BLOCK - position % BLOCK
        if left_in_block < CHUNK_HEADER.size:  # block trailer padding
            position += left_in_block
            continue
        checksum, length, kind = CHUNK_HEADER.unpack_from(data, position)
        if kind == 0 and length == 0:  # zero padding to the end of the block
            position += left_in_block
            continue
        start = position + CHUNK_HEADER.size
        chunk = data[start : start + length]
        if len(chunk) < length or zlib.crc32(chunk, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != checksum:
            return
        position = start + length
        if kind in (FULL, FIRST):
            pending = chunk
        else:
            pending += chunk
        if kind in (FULL, LAST):
            yield pending
            pending = b""


def records(path: Path) -> Iterator[Any]:
    """Each record of the log as wandb's ``wandb_internal_pb2.Record``."""
    from wandb.proto import wandb_internal_pb2

    for raw in payloads(path):
        record = wandb_internal_pb2.Record()
        try:
            record.ParseFromString(raw)
        except Exception:  # a torn record at the end of a live file
            return
        yield record


def _keys(item: Any) -> list[str]:
    return list(item.nested_key) if item.nested_key else [item.key]


def _set_nested(target: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        target = target.setdefault(key, {})
        if not isinstance(target, dict):
            return
    target[keys[-1]] = value


def log_file(path: str | Path) -> Path:
    """The ``run-*.wandb`` file itself, or the newest one in a dir (see :func:`log_files`)."""
    return log_files(path)[-1]


def log_files(path: str | Path) -> list[Path]:
    """The file itself, or the logs of the newest run in a dir: each attempt of a resumed run, oldest first.

    ``path`` may be a ``run-*.wandb`` file, an ``offline-run-*``/``run-*`` dir, the ``wandb/`` dir holding
    them, or the job's run dir holding that (W&B's ``latest-run`` link is not followed).
    """
    path = Path(path)
    if path.is_file():
        return [path]
    for pattern in ("run-*.wandb", "*/run-*.wandb", "wandb/*/run-*.wandb"):
        found = sorted(
            (p for p in path.glob(pattern) if not p.parent.is_symlink()),
            key=lambda p: p.parent.name.removeprefix("offline-"),  # run-<date>_<time>-<id>
        )
        if found:
            return [p for p in found if p.name == found[-1].name]  # the same run id
    raise FileNotFoundError(f"no run-*.wandb file in {path}")


def read_offline_run(path: str | Path) -> OfflineRun:
    """Parse a ``.wandb`` file, or the run in a dir (:func:`log_files`): a resumed run's attempts in order."""
    run = OfflineRun()
    for file in log_files(path):
        for record in records(file):
            _apply(run, record)
    return run


def _apply(run: OfflineRun, record: Any) -> None:
    kind = record.WhichOneof("record_type")
    if kind == "run":
        r = record.run
        run.run_id, run.name, run.group = r.run_id, r.display_name, r.run_group
        run.project, run.entity, run.tags = r.project, r.entity, list(r.tags)
        for item in r.config.update:
            _set_nested(run.config, _keys(item), json.loads(item.value_json))
    elif kind == "config":
        for item in record.config.update:
            _set_nested(run.config, _keys(item), json.loads(item.value_json))
        for item in record.config.remove:
            run.config.pop(_keys(item)[0], None)
    elif kind == "history":
        run.history.append({"/".join(_keys(i)): json.loads(i.value_json) for i in record.history.item})
    elif kind == "summary":
        for item in record.summary.update:
            run.summary["/".join(_keys(item))] = json.loads(item.value_json)
    elif kind == "exit":
        run.exit_code = record.exit.exit_code
