"""The roles people choose from when they sign up, for training or for alerts: content/copy.yaml's
`roles`, else `ROLES`; stored in English, shown in the language being written in."""

from __future__ import annotations

from bot import languages

# The roles offered when content/copy.yaml lists none (it normally does: `roles`)
ROLES = ("Imam", "Rabbi", "Priest or minister", "Granthi", "Pandit or temple priest", "Chair", "Trustee", "Secretary",
         "Safeguarding lead", "Security lead", "Volunteer")  # fmt: skip


def shown_roles(roles: tuple[str, ...]) -> tuple[str, ...]:
    """The roles to choose from, as the person reads them (the English is what is stored)."""
    value = languages.translated(lambda t: t.texts.get("roles"))
    return value if isinstance(value, tuple) and len(value) == len(roles) else roles
