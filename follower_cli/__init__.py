"""``follower``: a command-line client of the follower pipeline API (see ``follower --help``)."""
