"""The request path (pipeline, router, note) and the Slack app."""
