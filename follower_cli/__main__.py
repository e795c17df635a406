"""``python -m follower_cli`` runs the same command as ``follower``."""
from follower_cli.main import main

main()
