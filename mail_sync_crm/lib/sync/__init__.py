"""A mailbox's turn: the engine, its store protocol, date order, held messages."""
