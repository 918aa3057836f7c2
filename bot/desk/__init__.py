"""The desk part of the bank: login links and sessions of the web pages (service), and the chat
commands that hand the links out (flow)."""
