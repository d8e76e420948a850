"""Adapters that implement `moderation.domain.scoring.Scorer`."""
