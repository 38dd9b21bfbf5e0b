"""Starts the real aiosmtpd server (python3-aiosmtpd) for patchday's notification tests,
with what its command line cannot set: SMTP AUTH.

    smtpd.py HOST PORT MAILDIR [--tlscert CERT --tlskey KEY] [--auth USER:PASSWORD]

Messages go to the Maildir MAILDIR (aiosmtpd.handlers.Mailbox). With --auth, clients must
authenticate (PLAIN or LOGIN) before sending; aiosmtpd allows that only after STARTTLS.
Prints "ready" once it listens; the test kills it when done.
"""
import argparse
import ssl
import time

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("maildir")
    p.add_argument("--tlscert")
    p.add_argument("--tlskey")
    p.add_argument("--auth")
    a = p.parse_args()
    kw = {}
    if a.tlscert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.tlscert, a.tlskey)
        kw.update(tls_context=ctx, require_starttls=True)
    if a.auth:
        user, password = a.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, data):
            ok = (isinstance(data, LoginPassword)
                  and data.login.decode() == user and data.password.decode() == password)
            return AuthResult(success=ok, handled=False)

        kw.update(authenticator=authenticator, auth_required=True)
    c = Controller(Mailbox(a.maildir), hostname=a.host, port=a.port, **kw)
    c.start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
