"""The teams part of the bank: its rules (service), its dialog (flow) and its jobs."""
