"""Alert rules at work: evaluation per kind, the alert lifecycle, and delivery of notices."""
