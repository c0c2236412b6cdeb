"""Users, passwords, tokens, sessions, roles, and the throttling of failed logins."""
