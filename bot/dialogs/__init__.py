"""Dialogs: flows written once, presented by every channel. `core` is the vocabulary every flow
speaks (Context, Reply, Option, Command, Table), `parse` reads what people type, `engine`
runs a turn, `state` keeps a person's place in a flow, `flows` is the table of every command and step.

Nothing is imported here: a flow imports `bot.dialogs.core`, and that must not load the engine
(which loads every flow)."""
