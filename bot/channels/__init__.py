"""Channels: each translates between one platform and the dialog engine.

ChannelError          a channel cannot start (bad token, platform unreachable)
"""


class ChannelError(Exception):
    """A channel cannot start; the message says how to fix it."""
