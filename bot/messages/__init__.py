"""What comes in and goes out: the inbox, the outbox and its delivery, send budgets, parked work, downloads."""
