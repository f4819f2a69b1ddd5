"""The bot's contract with the rest of the app: one Protocol per feature."""
