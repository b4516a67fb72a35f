"""The HTTP surface: health, metrics, the web console, and (when configured) Slack."""
