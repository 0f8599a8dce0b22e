"""For the negative control of tests/e2e/test_celery_import.py only: a Celery worker that
imports this module (`-I`) takes no shared call slot, as if `xero/call_slots.py` were not
there, so its calls are capped by its own process's pacer alone. Imported in the worker's
main process before its pool forks, so every pool process has it."""

from xero_pipelines.xero import call_slots


def _no_shared_slots(engine, tenant_id: str, limit: int = 5) -> call_slots.CallSlots:
    return call_slots.LocalCallSlots()


call_slots.call_slots_for = _no_shared_slots
