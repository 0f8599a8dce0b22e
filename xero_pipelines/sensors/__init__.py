"""Sensors that turn `pending` CRM request rows into runs and mark them `queued`."""
