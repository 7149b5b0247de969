"""What is kept out or hidden: the blocklist and the visibility of synced emails."""
