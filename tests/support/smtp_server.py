"""A real SMTP server for the smtp adapter's tests (aiosmtpd).

Usage: python3 smtp_server.py FOLDER [--starttls CERT KEY | --tls CERT KEY]

With --starttls the server offers STARTTLS (and accepts mail only after it); with --tls it
speaks TLS from the first byte (implicit TLS, as on port 465). CERT and KEY are PEM files.

Listens on 127.0.0.1 on a free port and prints `listening PORT` once ready. Each message
received is written to FOLDER as N.eml (the raw content) and N.json (the envelope, and the
message as Python's email parser reads it: headers, text body, attachments in base64).

Recipients whose local part starts with a code answer it instead of accepting:
`reject451...` gets 451 at RCPT, `reject550...` gets 550 at RCPT, and `drop...` has its
message read and then the connection closed without a reply.
"""

import asyncio
import base64
import email
import email.policy
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP


class Handler:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("reject451"):
            return "451 4.3.0 Try again later"
        if local.startswith("reject550"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = os.path.join(self.folder, str(self.count))
        raw = envelope.original_content or envelope.content
        with open(name + ".eml", "wb") as f:
            f.write(raw)
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        body = parsed.get_body(preferencelist=("plain",))
        attachments = [
            {
                "filename": part.get_filename(),
                "content_type": part.get_content_type(),
                "base64": base64.b64encode(part.get_payload(decode=True)).decode(),
            }
            for part in parsed.iter_attachments()
        ]
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": {k.lower(): str(v) for k, v in parsed.items()},
            "text": body.get_content() if body is not None else None,
            "attachments": attachments,
        }
        with open(name + ".json.tmp", "w") as f:
            json.dump(record, f)
        os.replace(name + ".json.tmp", name + ".json")

        if any(r.split("@", 1)[0].lower().startswith("drop") for r in envelope.rcpt_tos):
            # Hang up before answering; the reply below goes nowhere.
            server.transport.abort()
        return "250 2.0.0 Ok: queued as M%d" % self.count


async def main(folder, mode=None, cert=None, key=None):
    handler = Handler(folder)
    loop = asyncio.get_running_loop()
    context = None
    if mode is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
    starttls = mode == "--starttls"
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname="relay.test",
            decode_data=False,
            tls_context=context if starttls else None,
            require_starttls=starttls,
        ),
        host="127.0.0.1",
        port=0,
        ssl=context if mode == "--tls" else None,
    )
    port = server.sockets[0].getsockname()[1]
    print("listening %d" % port, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[2] in ("--starttls", "--tls"):
        asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]))
    elif len(sys.argv) == 2:
        asyncio.run(main(sys.argv[1]))
    else:
        sys.exit(__doc__)
