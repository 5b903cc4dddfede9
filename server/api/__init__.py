"""The REST API under /api/v1, one blueprint per concern."""
