"""Channels: each translates between one platform and the dialog engine."""
