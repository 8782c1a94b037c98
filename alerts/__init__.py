"""Alerts: subscriptions, broadcast and delivery. Never imports `bot`; see DESIGN.md.

Built in the alerts issue; nothing is public yet.
"""

__all__: list[str] = []
