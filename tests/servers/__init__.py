"""Real servers (Dovecot IMAP, aiosmtpd SMTP) for tests and benchmarks."""
