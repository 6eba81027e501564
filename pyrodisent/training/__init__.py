"""Training: the SVI trainer and its schedules, auxiliary objectives trained beside it, devices and
seeding, and the run directory it writes (lock, atomic files, CSV log, checkpoints)."""
