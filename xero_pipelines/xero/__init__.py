"""The Xero client: OAuth2 and the token store, pacing, retries, errors, date/money parsing.

May import `xero_pipelines.db` (token and settings tables) and nothing else of ours.
"""
