"""Channel infrastructure operation: health reports, heartbeats and traffic volume folded
into one status per channel (pure; the shell is ``stream/channels.py``)."""
