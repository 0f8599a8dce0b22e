"""Jobs that act on CRM requests (export/update an account, draft an invoice or quote)."""
