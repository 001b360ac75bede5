"""Training: the one Trainer, checkpoints, schedules and resumable state."""
