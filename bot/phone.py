"""Phone numbers as WhatsApp and Twilio want them: E.164 ("+447911123456")."""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "GB"  # a number written without +44 is taken as a UK number


def e164(address: str, region: str | None = None, *, valid: bool = False) -> str | None:
    """A number or WhatsApp address ("whatsapp:+447911123456") in E.164, or None if it isn't one.

    `region` ("GB") reads numbers written without a country code; `valid` also requires a number
    that can exist (not just one of a possible length), for numbers people type into a file.
    """
    number = address.removeprefix("whatsapp:").strip()
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    ok = phonenumbers.is_valid_number(parsed) if valid else phonenumbers.is_possible_number(parsed)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) if ok else None
