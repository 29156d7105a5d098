"""Objects whose threads and locks a forked child (a DataLoader worker) must make afresh.

A child of ``fork()`` inherits the parent's executors and locks but none of its threads: a
task submitted to an inherited pool waits forever, and a lock a parent thread held at the
fork stays held. Objects owning such things register here and are told, in the child,
before anything else runs there.
"""

import logging
import os
import weakref
from typing import Protocol


class Forkable(Protocol):
    def after_fork(self) -> None:
        """Drop, in the child, what only the parent's threads could serve."""


log = logging.getLogger(__name__)

_registered: "weakref.WeakValueDictionary[int, Forkable]" = weakref.WeakValueDictionary()
"""By ``id``, not a WeakSet: owners may compare equal by value (two ArrayStores of one array
version), and each must be renewed."""


def renew_after_fork(owner: Forkable) -> None:
    """Call ``owner.after_fork()`` in every child forked while ``owner`` lives."""
    _registered[id(owner)] = owner


def _in_child() -> None:
    for owner in list(_registered.values()):
        try:
            owner.after_fork()
        except Exception:  # one owner's failure must not leave the others' dead pools in place
            log.exception("renewing %r after a fork failed", owner)


os.register_at_fork(after_in_child=_in_child)
