# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The lead index of a sync run: which leads an email address belongs to."""

from collections.abc import Mapping


class LeadIndex(Mapping):
    """Normalised email -> lead ids, read from the database when first needed.

    ``load(addresses)`` returns the index restricted to ``addresses`` (all of
    it for None). A run that finds nothing new never reads it; one that finds a
    few new messages (``look_up`` of their addresses before matching) reads
    only their leads; a big run reads the whole index once."""

    # Addresses looked up batch by batch before the whole index is read instead.
    TARGETED_MAX = 1000

    def __init__(self, load):
        self._load = load
        self._index = None
        self._partial = {}
        self._looked_up = set()

    def _data(self):
        if self._index is None:
            self._index = self._load(None)
            self._partial = self._looked_up = None
        return self._index

    def look_up(self, addresses):
        """Read the leads of ``addresses`` (the next batch's candidates)."""
        if self._index is not None:
            return
        new = set(addresses) - self._looked_up
        if not new:
            return
        if len(self._looked_up) + len(new) > self.TARGETED_MAX:
            self._data()
            return
        found = self._load(new)
        self._partial.update((address, found[address]) for address in new & set(found))
        self._looked_up |= new

    def get(self, key, default=None):
        if self._index is None:
            if key in self._looked_up:
                return self._partial.get(key, default)
            self._data()
        return self._index.get(key, default)

    def __getitem__(self, key):
        found = self.get(key, self)
        if found is self:
            raise KeyError(key)
        return found

    def __iter__(self):
        return iter(self._data())

    def __len__(self):
        return len(self._data())
