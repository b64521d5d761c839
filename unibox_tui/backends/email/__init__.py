"""The team e-mail channel: IMAP in (imap.py), SMTP out (smtp.py), MIME parsing (mime.py),
sender filters (filters.py) and our own Message-ID tokens (tokens.py)."""
