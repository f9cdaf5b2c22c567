"""slixmpp signs up in-band (XEP-0077 §3) before authenticating, then logs in.

usage: slix_signup.py JID PASSWORD HOST PORT CAFILE
Prints REGISTERED when the registration IQ succeeded, RESULT error COND when
it failed, and READY once the new account's session started. Exits 0 on
READY.
"""
import asyncio
import logging
import sys

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0004")
        self.register_plugin("xep_0077")
        self["xep_0077"].force_registration = True
        # slixmpp 1.8.3 queues every IQ before session start, including its
        # own XEP-0077 registration IQ ("NOT SENT"); this lets it through.
        self._always_send_everything = True
        self.result = asyncio.get_event_loop().create_future()
        self.add_event_handler("register", self.signup)
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("failed_auth", self.failed)

    def finish(self, line, ok):
        if not self.result.done():
            print(line, flush=True)
            self.result.set_result(ok)

    async def signup(self, iq):
        resp = self.Iq()
        resp["type"] = "set"
        resp["register"]["username"] = self.boundjid.user
        resp["register"]["password"] = self.password
        try:
            await resp.send(timeout=60)
            print("REGISTERED", flush=True)
        except IqError as e:
            self.finish("RESULT error " + e.iq["error"]["condition"], False)
            self.disconnect()
        except IqTimeout:
            self.finish("TIMEOUT", False)

    async def start(self, event):
        self.finish("READY", True)

    def failed(self, event):
        self.finish("AUTHFAIL", False)


def main():
    jid, password, host, port, cafile = sys.argv[1:6]
    c = Client(jid, password)
    c.ca_certs = cafile
    c.connect(address=(host, int(port)))
    loop = asyncio.get_event_loop()
    try:
        ok = loop.run_until_complete(asyncio.wait_for(c.result, 90))  # generous: loaded CI machines
    except asyncio.TimeoutError:
        print("TIMEOUT", flush=True)
        ok = False
    c.disconnect()
    loop.run_until_complete(asyncio.sleep(0.1))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    import os
    logging.basicConfig(level=logging.DEBUG if os.environ.get("SLIX_DEBUG") else logging.ERROR)
    main()
