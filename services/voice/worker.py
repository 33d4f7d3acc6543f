"""``python -m services.voice.worker KWS_FILE SLOTS SECOND_PASS``: one recognition worker.

The worker owns ``SLOTS`` pocketsphinx slots (free + keyword-spotting decoder each),
created before it reports ready, and serves requests from its parent over stdin/stdout
in order, one at a time: pocketsphinx holds the GIL while decoding, so a process (not a
thread) is the unit of CPU parallelism.

Wire format, both directions: a 4-byte big-endian length, then a pickled tuple. The pipes
are private to parent and child (both this package's code), so pickle is safe here.

- request ``(request_id, op, slot, payload)``; ``op`` is ``start`` (payload None),
  ``feed`` (payload ``(pcm, partial_every)``; the reply is the partial or None), ``end``
  (reply ``(text, confidence, hits)``).
- reply ``(request_id, ok, result)``; when ``ok`` is False, ``result`` is the error text.
- the first reply, id 0, is ``"ready"`` once every slot exists.

The worker exits when stdin closes (its parent closed the pipe or died).
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
from typing import IO, Any

HEADER = struct.Struct("!I")


def write_message(stream: IO[bytes], message: Any) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(HEADER.pack(len(body)) + body)
    stream.flush()


def read_message(stream: IO[bytes]) -> Any:
    """The next message, or None at end of stream (also for a torn, partial message)."""
    header = _read_exact(stream, HEADER.size)
    if header is None:
        return None
    body = _read_exact(stream, HEADER.unpack(header)[0])
    return None if body is None else pickle.loads(body)


def _read_exact(stream: IO[bytes], size: int) -> bytes | None:
    parts: list[bytes] = []
    while size:
        part = stream.read(size)
        if not part:
            return None
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def serve(
    kws_file: str, slots: int, second_pass: bool, requests: IO[bytes], replies: IO[bytes]
) -> None:
    from services.voice.engine import _Slot

    decoders = [_Slot(kws_file, second_pass) for _ in range(slots)]
    write_message(replies, (0, True, "ready"))
    while True:
        message = read_message(requests)
        if message is None:
            return
        request_id, op, slot, payload = message
        try:
            decoder = decoders[slot]
            result: Any
            if op == "start":
                result = decoder.start()
            elif op == "feed":
                pcm, partial_every = payload
                result = decoder.feed([pcm], partial_every)
            elif op == "end":
                result = decoder.end()
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as exc:  # reported to the parent, which fails that stream only
            write_message(replies, (request_id, False, f"{type(exc).__name__}: {exc}"))
        else:
            write_message(replies, (request_id, True, result))


def main(argv: list[str]) -> None:
    kws_file, slots, second_pass = argv[0], int(argv[1]), argv[2] == "1"
    # Replies get a private copy of stdout; fd 1 then points at stderr so that anything a
    # C library prints cannot corrupt the framing.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    serve(kws_file, slots, second_pass, sys.stdin.buffer, replies)


if __name__ == "__main__":
    main(sys.argv[1:])
