"""When a connection's first request reached the machine: the kernel's receive timestamp (Linux).

A server's event loop reads a socket only when it gets to it, and only when its process is
running: under a burst of requests, on a busy machine, a request can wait there for tens of
milliseconds, and time noted when it is read includes that wait. Linux stamps received packets
when a socket asks (SO_TIMESTAMPNS) and hands the stamp over with the data, but only to
recvmsg(); event loops read with plain recv. So `FirstRead` takes over a connection's first
read: the transport's own reading is paused, the first bytes are read with recvmsg on a
duplicate of its socket, handed to the protocol with their time, and reading is handed back.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import sys
import time
from collections.abc import Callable

# <asm-generic/socket.h> (x86, ARM, RISC-V, ...): the option, and the type of its control message.
SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("@ll")  # struct timespec: tv_sec, tv_nsec
SUPPORTED = sys.platform == "linux" and hasattr(socket, "CMSG_SPACE")
_READ_SIZE = 65536


def _most_armed() -> int:
    """How many connections may wait for their first read here at once: each holds a second file
    descriptor meanwhile, so a quarter of the process's limit, leaving the rest to accept connections."""
    if not SUPPORTED:
        return 0
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 256 if soft == resource.RLIM_INFINITY else soft // 4


class FirstRead:
    """Reads `transport`'s next bytes here and passes them to `on_data(data, received)`, then stops.

    `received` is when the kernel received them (`time.monotonic()` scale), None if it did not
    say. `data` is b"" when the peer closed or reset the connection first: the transport, once
    it reads again, sees that itself. `on_data` resumes the transport's reading; `cancel()`
    stops early (the connection closed meanwhile). Check `available()` first.
    """

    armed = 0  # instances waiting for their read, process-wide
    most = _most_armed()

    @classmethod
    def available(cls) -> bool:
        """Whether a connection's first read can be taken over now (Linux; file descriptors to spare)."""
        return cls.armed < cls.most

    def __init__(self, transport: asyncio.Transport, on_data: Callable[[bytes, float | None], None]) -> None:
        self.on_data = on_data
        self.loop = asyncio.get_running_loop()
        self.sock: socket.socket | None = socket.socket(fileno=os.dup(transport.get_extra_info("socket").fileno()))
        FirstRead.armed += 1  # until cancel()
        try:
            self.sock.setblocking(False)
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            transport.pause_reading()
            self.loop.add_reader(self.sock.fileno(), self._read)
        except BaseException:
            self.cancel()
            transport.resume_reading()
            raise

    def _read(self) -> None:
        assert self.sock is not None
        try:
            data, ancillary, _, _ = self.sock.recvmsg(_READ_SIZE, socket.CMSG_SPACE(_TIMESPEC.size))
        except (BlockingIOError, InterruptedError):
            return  # woken for nothing: wait on
        except OSError:
            data, ancillary = b"", []  # reset: the transport reads the connection's end itself
        self.cancel()
        self.on_data(data, _received(ancillary))

    def cancel(self) -> None:
        """Stop reading here (the duplicate socket is closed; the connection is not)."""
        if self.sock is not None:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
            FirstRead.armed -= 1


def _received(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    """The kernel's receive time of what recvmsg read, on the `time.monotonic()` scale."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            age = time.time() - (seconds + nanoseconds / 1e9)  # the stamp is on the wall clock
            return time.monotonic() - max(0.0, age)
    return None
