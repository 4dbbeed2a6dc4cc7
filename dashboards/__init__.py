"""The Dash dashboard: a reader of the query API (see issue 6)."""
