"""The kernel every part stands on: settings, the database and its threads, the clock, errors,
message catalogues, text, access rules and the audit trail."""
