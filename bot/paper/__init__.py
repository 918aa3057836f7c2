"""The paper path: monthly statements and event sign-in sheets for people without phones."""
