"""Pure business rules: no I/O, no Dagster, no SQLAlchemy, no other room of ours.

Assets, sensors and jobs fetch rows, hand them to these functions as plain records, and
write what comes back; so every rule here is unit-tested without a database or Xero.
"""
