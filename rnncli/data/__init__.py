"""Data: vocabularies, tokenizers, readers and batching. Never imports models."""
