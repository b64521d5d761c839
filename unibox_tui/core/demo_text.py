"""Word pools for the demo workspace: people from many languages, and what customers write."""

FIRST = [
    "Ana",
    "José",
    "Zhang",
    "Mariam",
    "Søren",
    "Ngozi",
    "Łukasz",
    "Ayşe",
    "Priya",
    "Olga",
    "Kenji",
    "Chiara",
    "Mateo",
    "Fatima",
    "Liam",
    "Aiko",
    "Dmitri",
    "Chloé",
    "Tomás",
    "Ingrid",
    "Rahul",
    "Amara",
    "Hiroshi",
    "Lucía",
    "Jonas",
    "Yasmin",
    "Pedro",
    "Elif",
    "Sven",
    "Nadia",
    "王芳",
    "佐藤",
    "Björn",
    "Zoë",
    "Thandiwe",
    "Renée",
    "Kwame",
    "Saoirse",
    "Mehmet",
    "Anaïs",
]
LAST = [
    "Lima",
    "Álvarez",
    "Wei",
    "Haddad",
    "Østergaard",
    "Adeyemi",
    "Wójcik",
    "Yılmaz",
    "Sharma",
    "Ivanova",
    "Tanaka",
    "Rossi",
    "García",
    "Zahra",
    "O'Brien",
    "Suzuki",
    "Petrov",
    "Dubois",
    "Fernández",
    "Larsen",
    "Gupta",
    "Okafor",
    "Nakamura",
    "Moreno",
    "Müller",
    "Karimi",
    "Souza",
    "Demir",
    "Lindqvist",
    "Haddad",
    "健",
    "花子",
    "Nguyen",
    "Kowalski",
    "Mensah",
    "Ní Bhriain",
]
COMPANIES = [
    "Acme Foods",
    "Nordlicht GmbH",
    "Lumen Labs",
    "Sakura Trading",
    "Casa Verde",
    "Blue Fjord",
    "Kite & Co",
    "Orbital Bikes",
    "Papelaria Sol",
    "Atlas Freight",
    None,
    None,
    None,
    None,
]
AGENTS = [
    ("Ana Lima", "ana"),
    ("Bo Chen", "bo"),
    ("Chiara Rossi", "chiara"),
    ("Dmitri Ivanov", "dmitri"),
    ("Emeka Okafor", "emeka"),
    ("Fatima Zahra", "fatima"),
    ("Jonas Müller", "jonas"),
    ("Yuki Tanaka", "yuki"),
]
# What a conversation is about, in the language the customer writes in. Each story is one
# thread that reads right from top to bottom: the question, the agent's answers in the same
# language, the customer's follow-ups, and the thanks at the end. {n} is an order or
# invoice number. (The demo picks one story and one language per conversation.)
STORIES: list[dict[str, dict[str, object]]] = [
    {
        "en": {
            "subject": "Order #{n} hasn't arrived",
            "ask": "I ordered on Monday and the tracking page for order #{n} still says "
            "'label created'. Can you check where it is?",
            "answers": [
                "Thanks for reaching out! I've checked order #{n}: it left our warehouse this "
                "morning and the carrier's scan should show up within a few hours.",
                "The carrier confirms it is out for delivery today. If it hasn't arrived by "
                "tomorrow evening, tell me and I'll send a replacement.",
            ],
            "follows": [
                "The tracking page still hasn't changed. Is there another number I can use?",
                "Got it, I'll keep an eye on it.",
            ],
            "thanks": "It arrived this afternoon. Thank you!",
        },
        "es": {
            "subject": "Pedido #{n} atrasado",
            "ask": "Hice el pedido #{n} hace dos semanas y sigue sin llegar. ¿Pueden revisarlo?",
            "answers": [
                "¡Gracias por escribirnos! He revisado el pedido #{n}: salió de nuestro almacén "
                "esta mañana y llegará en 2 o 3 días.",
                "La transportista confirma que hoy está en reparto. Si mañana no ha llegado, "
                "avíseme y le enviamos otro.",
            ],
            "follows": ["El seguimiento no se ha actualizado todavía. ¿Es normal?"],
            "thanks": "Ya lo he recibido. ¡Muchas gracias!",
        },
        "ja": {
            "subject": "注文 #{n} について",
            "ask": "注文 #{n} の配送状況を教えていただけますか？まだ届いていません。",
            "answers": [
                "お問い合わせありがとうございます。注文 #{n} は本日倉庫から発送されました。",
                "配送業者によると、本日中にお届けの予定です。",
            ],
            "follows": ["追跡番号を教えていただけますか？"],
            "thanks": "無事に届きました。ありがとうございました！",
        },
    },
    {
        "en": {
            "subject": "Charged twice this month",
            "ask": "I was charged twice for this month's subscription, on the 1st and again "
            "on the 3rd. Invoice {n} is one of them.",
            "answers": [
                "Sorry about that! I can see the second charge; it came from a retry after "
                "your bank declined the first one, which then went through anyway.",
                "I've refunded the second charge in full. It takes 3–5 business days to "
                "show on your statement.",
            ],
            "follows": ["Thanks. Will this happen again next month?"],
            "thanks": "I can see the refund now. Thanks for sorting it out so quickly.",
        },
        "de": {
            "subject": "Doppelte Abbuchung, Rechnung {n}",
            "ask": "Sie haben diesen Monat zweimal abgebucht. Rechnung {n} ist eine davon. "
            "Bitte erstatten Sie den zweiten Betrag.",
            "answers": [
                "Das tut mir leid! Die zweite Abbuchung kam durch einen automatischen "
                "Wiederholungsversuch zustande.",
                "Ich habe den doppelten Betrag vollständig erstattet; er ist in 3–5 "
                "Werktagen auf Ihrem Konto.",
            ],
            "follows": ["Danke. Passiert das nächsten Monat wieder?"],
            "thanks": "Die Erstattung ist da. Vielen Dank!",
        },
    },
    {
        "en": {
            "subject": "Can't log in to my account",
            "ask": "Since yesterday's update the app logs me out every few minutes, on both "
            "my phone and my laptop.",
            "answers": [
                "Thanks for telling us. I've reset your sessions on our side; could you sign "
                "in again and let me know if it still happens?",
                "Our engineers found the cause: a cookie setting in yesterday's release. A "
                "fix is live now, so you should stay signed in.",
            ],
            "follows": ["Still happening on the laptop, the phone is fine now."],
            "thanks": "Works on both now. Thanks!",
        },
        "fr": {
            "subject": "Problème de connexion",
            "ask": "Je n'arrive plus à me connecter depuis la mise à jour d'hier.",
            "answers": [
                "Merci de nous avoir prévenus. J'ai réinitialisé vos sessions ; pouvez-vous "
                "essayer de vous reconnecter ?",
                "Nos ingénieurs ont corrigé le problème ce matin. Vous devriez pouvoir vous "
                "connecter normalement.",
            ],
            "follows": ["Toujours pareil sur mon ordinateur portable."],
            "thanks": "Ça marche maintenant, merci beaucoup !",
        },
    },
    {
        "en": {
            "subject": "Bulk discount for 50 seats?",
            "ask": "We'd like to move our whole team, about 50 people, to the Pro plan. "
            "Is there a discount for annual billing?",
            "answers": [
                "Great to hear! Annual billing comes with two months free, and from 25 seats "
                "we add a volume discount of 10%. I've sent you a quote.",
                "Yes, you can add seats at any time; they're prorated to the end of your "
                "billing year.",
            ],
            "follows": ["Can we add more seats later in the year?"],
            "thanks": "Perfect, we'll sign the quote this week.",
        },
        "pt": {
            "subject": "Desconto para 50 licenças",
            "ask": "Queremos passar a equipa toda (50 pessoas) para o plano Pro. Há desconto "
            "na faturação anual?",
            "answers": [
                "Ótimo! A faturação anual inclui dois meses grátis e, a partir de 25 "
                "licenças, 10% de desconto. Já lhe enviei uma proposta.",
                "Sim, pode adicionar licenças a qualquer momento, com valor proporcional.",
            ],
            "follows": ["Podemos adicionar licenças mais tarde?"],
            "thanks": "Perfeito, vamos assinar a proposta esta semana.",
        },
    },
    {
        "en": {
            "subject": "Damaged package",
            "ask": "The package arrived today but the box was crushed and the lid of the "
            "blender jar is cracked. Photo attached.",
            "answers": [
                "I'm so sorry it arrived like that. I've sent a replacement jar by express "
                "shipping; no need to return the damaged one.",
                "The replacement is on its way: it should be with you on Thursday.",
            ],
            "follows": ["Thank you. Do you need anything else from me for the claim?"],
            "thanks": "The new jar arrived in one piece. Great service!",
        },
        "pt": {
            "subject": "Produto com defeito",
            "ask": "O produto chegou com defeito, a tampa está partida. Gostaria de trocar.",
            "answers": [
                "Lamento muito! Já enviei uma tampa nova por correio expresso; não precisa "
                "de devolver a partida.",
                "A substituição chega na quinta-feira.",
            ],
            "follows": ["Obrigado. Precisam de mais alguma informação?"],
            "thanks": "Chegou tudo bem. Obrigado!",
        },
    },
    {
        "en": {
            "subject": "Invoice {n} shows the wrong VAT number",
            "ask": "Invoice {n} has our old VAT number on it. Could you send a corrected "
            "copy? Our accounting needs it by Friday.",
            "answers": [
                "Of course. Could you send me the VAT number it should show?",
                "Thanks! I've issued a corrected invoice {n} with the new VAT number and "
                "attached it as a PDF.",
            ],
            "follows": ["It's DE 298 114 520. Please also update it for future invoices."],
            "thanks": "Received, and the accountant is happy. Thanks!",
        },
        "de": {
            "subject": "Rechnung {n} fehlt",
            "ask": "Die Rechnung {n} fehlt in meinem Kundenkonto. Können Sie sie mir schicken?",
            "answers": [
                "Gerne! Ich habe Ihnen die Rechnung {n} als PDF angehängt.",
                "Sie finden künftige Rechnungen auch unter Konto → Rechnungen.",
            ],
            "follows": ["Danke. Wo finde ich künftig meine Rechnungen?"],
            "thanks": "Alles da, vielen Dank!",
        },
    },
    {
        "en": {
            "subject": "API rate limit errors since this morning",
            "ask": "We keep hitting 429 errors from the API since about 9:00 UTC, even though "
            "our traffic hasn't changed.",
            "answers": [
                "Thanks for the report. I've raised your limit for the next 24 hours while "
                "we look into it.",
                "We found it: a misconfigured limit on one of our gateways counted requests "
                "twice. It's fixed, and your normal limit applies again.",
            ],
            "follows": ["Errors are down but not gone. Anything else we can check?"],
            "thanks": "No 429s since the fix. Thanks for the quick turnaround.",
        },
    },
    {
        "en": {
            "subject": "Export to CSV is empty",
            "ask": "Our export to CSV has the headers but no rows since yesterday's update.",
            "answers": [
                "Thanks for letting us know; I can reproduce it and have passed it to our "
                "engineers.",
                "The export bug is fixed: running the export again should include every row.",
            ],
            "follows": ["Any news? We need the export for a report today."],
            "thanks": "The export works again. Thanks!",
        },
    },
    {
        "en": {
            "subject": "Change delivery address for #{n}",
            "ask": "Can I change the delivery address for order #{n}? I'm moving next week.",
            "answers": [
                "Sure! What's the new address?",
                "Done: order #{n} will go to the new address.",
            ],
            "follows": ["It's Rua das Flores 12, 4050-262 Porto."],
            "thanks": "Great, thank you!",
        },
    },
    {
        "en": {
            "subject": "Do you ship to Norway?",
            "ask": "Do you ship to Norway, and are import duties included in the price?",
            "answers": [
                "We do! Shipping to Norway takes 4–6 working days, and duties are included "
                "at checkout, so nothing is due on delivery.",
                "Orders over 1,000 NOK ship free to Norway.",
            ],
            "follows": ["And is shipping free above a certain amount?"],
            "thanks": "Perfect, placing my order now.",
        },
    },
]
# What a customer adds to a conversation they opened earlier (the live demo stream).
FOLLOW_UPS = {
    "en": [
        "Any update on this? It's been two days.",
        "Here is the order number you asked for.",
        "Thanks, that worked! One more question though.",
    ],
    "es": ["¿Alguna novedad?"],
    "de": ["Gibt es schon Neuigkeiten?"],
    "fr": ["Avez-vous du nouveau ?"],
    "pt": ["Alguma novidade?"],
    "ja": ["その後いかがでしょうか？"],
}
# Chat lines are short: the first message of a chat is one of these, in the story's place.
CHAT_ASKS = {
    "en": [
        "hi, quick question",
        "hello! is anyone there?",
        "hey, can you help me with my order?",
    ],
    "es": ["hola, ¿hay alguien?"],
    "de": ["hallo, kurze Frage"],
    "fr": ["bonjour, une petite question"],
    "pt": ["olá, alguém me pode ajudar?"],
    "ja": ["すみません、質問があります"],
}
# A chat agent's first line, and what any agent says once the story's answers are told.
CHAT_HELLO = {
    "en": "Hi! Sure, what can I do for you?",
    "es": "¡Hola! Claro, ¿en qué puedo ayudarle?",
    "de": "Hallo! Gern, worum geht es?",
    "fr": "Bonjour ! Bien sûr, je vous écoute.",
    "pt": "Olá! Claro, em que posso ajudar?",
    "ja": "こんにちは！どうされましたか？",
}
MORE_HELP = {
    "en": "Glad that's sorted. Anything else I can do for you?",
    "es": "Me alegro de que esté resuelto. ¿Algo más en lo que pueda ayudarle?",
    "de": "Schön, dass es geklappt hat. Kann ich sonst noch helfen?",
    "fr": "Ravi que ce soit réglé. Puis-je faire autre chose pour vous ?",
    "pt": "Ainda bem que ficou resolvido. Posso ajudar em mais alguma coisa?",
    "ja": "解決してよかったです。ほかに何かございますか？",
}
GREETING = {
    "en": ("Hi {first},", "Best regards,\n{agent}"),
    "es": ("Hola {first}:", "Un saludo,\n{agent}"),
    "de": ("Hallo {first},", "Viele Grüße\n{agent}"),
    "fr": ("Bonjour {first},", "Bien cordialement,\n{agent}"),
    "pt": ("Olá {first},", "Com os melhores cumprimentos,\n{agent}"),
    "ja": ("{first} 様", "{agent}"),
}
# How a mail client introduces the quoted message in a reply.
WROTE = {
    "en": "On {date}, {name} wrote:",
    "es": "El {date}, {name} escribió:",
    "de": "Am {date} schrieb {name}:",
    "fr": "Le {date}, {name} a écrit :",
    "pt": "Em {date}, {name} escreveu:",
    "ja": "{date} {name} さんは書きました:",
}
COMMENTS = [
    "@{h} can you take a look? Looks like the same carrier issue as last week.",
    "Refund approved. @{h} please double-check the VAT line.",
    "@{h} this customer is on the enterprise plan, handle with care.",
    "Escalating to @{h}: billing system shows two charges.",
    "Waiting for the warehouse to confirm. cc @{h}",
]
SNIPPETS = [
    ("greeting", "Hi {{contact.first_name}},\n\nThanks for getting in touch!\n"),
    ("refund", "I've issued a full refund; you'll see it in 3–5 business days."),
    ("shipping", "Your order is on its way; tracking updates within 24 hours."),
    ("signoff", "Best regards,\n{{agent.first_name}} from Acme support"),
    ("followup", "Hi {{contact.first_name}}, just checking in: is everything working now?"),
]
# A few customers type things a terminal could misread; the demo shows them literally.
HOSTILE = [
    (
        "[bold red]URGENT[/] refund now",
        "Please [link=http://evil.example]click here[/link] \x1b[31mnow\x1b[0m",
    ),
    ("\x1b]0;pwned\x07Order status", "Bidi \u202etxt.exe\u202c and a C1 control \x9b31m here."),
]
