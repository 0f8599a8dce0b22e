"""Xero Accounting API resources (`/api.xro/2.0`): Contacts, Invoices, Quotes, Accounts."""
