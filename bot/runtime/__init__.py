"""The running bot: the pipeline (inbox → turn → outbox), the scheduler and its leader, and the
CLI, the one place that composes channels and the core."""
