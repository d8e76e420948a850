"""moderation: self-hosted comments and linkbacks, scored for spam, moderated, served fast."""

__version__ = "0.1.0"
