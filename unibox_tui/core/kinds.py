"""The allowed values of the model's enumerations, importable without SQLModel (the TUI's
read path starts without loading the ORM)."""

# fallback: an address the hub receives mail at itself (SMTP), replies through a relay.
CHANNEL_KINDS = ("email", "chat", "messenger", "whatsapp", "form", "fallback")
IDENTITY_KINDS = ("email", "messenger", "whatsapp", "chat", "phone")
# Which identity a reply on each channel kind goes to (a form is answered by e-mail).
REPLY_IDENTITY = {
    "email": "email",
    "form": "email",
    "fallback": "email",
    "chat": "chat",
    "messenger": "messenger",
    "whatsapp": "whatsapp",
}
# Kinds that cannot send: their conversations are answered on the inbox's channel of this
# kind (core/answering.py).
ANSWERED_BY = {"form": "email"}
# When an inbox has no channel of a kind, one of these kinds answers in its place: an inbox
# whose mail arrives only at the fallback address replies (and answers forms) through it.
STANDS_IN = {"email": ("fallback",)}
STATUSES = ("open", "snoozed", "closed")
MESSAGE_KINDS = ("incoming", "outgoing", "comment", "activity")
# Outgoing messages only; NULL otherwise. uncertain: it may have arrived (outbox.py);
# delivered and read: the provider said so later (Messenger, WhatsApp status callbacks).
DELIVERY_STATES = ("queued", "sent", "delivered", "read", "failed", "uncertain")
AVAILABILITY = ("available", "away")
# How new conversations are assigned (core/routing.py): a chain tried in order; none is "off".
ROUTING_RULES = ("owner", "round_robin")
ROLES = ("admin", "agent")  # admins change agents, teams, inboxes, access, channels, pipelines
INBOX_ACCESS = ("everyone", "listed")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
TICKET_STATUSES = ("open", "closed")
NOTIFICATION_KINDS = ("mention", "assigned", "new_conversation")
OUTBOX_STATES = ("pending", "sending", "sent", "failed", "uncertain")
CHATFLOW_KINDS = ("live_chat", "bot")
BOT_SESSION_STATES = ("active", "completed", "handed_off", "abandoned")
