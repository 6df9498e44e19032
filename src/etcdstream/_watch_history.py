"""Which history a watcher has seen, and whether a response comes from another (I/O-free).

A cluster restored from a backup, or another cluster behind the same endpoints, would hand a
resumed watch events of a history that is not the one its consumer holds: its revisions or raft
term go back on the same member, or its cluster id changes. A watch continuing a snapshot starts
from the snapshot's history.
"""

from __future__ import annotations

from typing import NamedTuple

from ._errors import RevisionWentBackwards
from ._results import Snapshot
from .codec import WatchResponse


def made_up_by_proxy(resp: WatchResponse) -> bool:
    """A header that names no member: etcd's gRPC proxy makes up the created response of a watch it joins to
    one it already has (its revision is the watch's start, not etcd's)."""
    return not resp.member_id and not resp.cluster_id


class StatusHeader(NamedTuple):
    """The header of a Status answer, as HistorySeen.take reads a response's (it names no cluster)."""

    member_id: int
    revision: int
    raft_term: int
    cluster_id: int = 0


class HistorySeen:
    """The cluster, member, revision and raft term a watcher's responses came from."""

    def __init__(self, after: Snapshot | None = None) -> None:
        self.cluster_id = after.cluster_id if after else 0
        self.member_id = after.member_id if after else 0
        self.member_revision = after.revision if after else 0
        self.member_term = 0

    def take(self, resp: WatchResponse | StatusHeader) -> RevisionWentBackwards | None:
        """Take resp's header as seen, or return why it belongs to another history (then nothing is taken)."""
        if made_up_by_proxy(resp):
            return None
        if self.cluster_id and resp.cluster_id and resp.cluster_id != self.cluster_id:
            return RevisionWentBackwards(
                f"the cluster behind the endpoints changed (cluster id {self.cluster_id:x} -> "
                f"{resp.cluster_id:x}): restored from a backup, or another cluster; read the prefix again"
            )
        same_member = resp.member_id == self.member_id
        if same_member and 0 < resp.revision < self.member_revision:
            return RevisionWentBackwards(
                f"etcd's revision went backwards ({self.member_revision} -> {resp.revision}) on member "
                f"{resp.member_id:x}: restored from a backup? read the prefix again"
            )
        # A member's raft term never decreases, but a restore starts it over: this catches a
        # restored member even once its revision has passed the one seen here.
        if same_member and 0 < resp.raft_term < self.member_term:
            return RevisionWentBackwards(
                f"etcd's raft term went backwards ({self.member_term} -> {resp.raft_term}) on member "
                f"{resp.member_id:x}: restored from a backup? read the prefix again"
            )
        self.cluster_id = resp.cluster_id or self.cluster_id
        self.member_revision = max(resp.revision, self.member_revision) if same_member else resp.revision
        self.member_term = max(resp.raft_term, self.member_term) if same_member else resp.raft_term
        self.member_id = resp.member_id
        return None
