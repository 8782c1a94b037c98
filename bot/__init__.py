"""Faith Safety Bot: safety answers, training sessions and alerts for faith communities."""

__version__ = "0.1.0"
