"""IMAP: the session, its fast FETCH reader, the check for news and the read-ahead."""
