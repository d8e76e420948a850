"""The pure core: states, scoring, policy. Imports only the standard library and `moderation.errors`."""
