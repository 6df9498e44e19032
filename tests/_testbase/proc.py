"""What this process holds open, read from Linux's /proc."""

from __future__ import annotations

import os


def connections_to(port: int, pid: int | str = "self") -> int:
    """A process's established TCP connections to port (-1 where /proc is missing); this process's by default.

    Only that process's sockets count: etcd also connects to its own client port (for its gateway).
    """
    try:
        own_sockets = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                own_sockets.add(target[8:-1])
        count = 0
        for table in (f"/proc/{pid}/net/tcp", f"/proc/{pid}/net/tcp6"):
            try:
                with open(table) as f:
                    next(f)
                    for line in f:
                        fields = line.split()
                        remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                        if fields[3] == "01" and remote_port == port and fields[9] in own_sockets:
                            count += 1
            except FileNotFoundError:
                pass
        return count
    except OSError:
        return -1
