"""The trigger layer's jobs django-q2 runs: thin wrappers that call one service each."""

from integrations import services


def fire_schedule(schedule_id: int, slot: str, **_options) -> str:
    result = services.fire_schedule(schedule_id=schedule_id, slot=slot)
    if result is None:
        return "inactive"
    return "replayed" if result.replayed else result.inbound_event_id


def purge_rejections(**_options) -> str:
    return f"purged {services.purge_rejections()} rejections"
