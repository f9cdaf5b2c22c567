"""A slixmpp client for chatbx's interop tests.

usage: slix_client.py JID PASSWORD HOST PORT MECH CAFILE recv BODY
       slix_client.py JID PASSWORD HOST PORT MECH CAFILE send TO BODY
Prints READY after session start, GOT <body> when BODY arrives (recv), and
exits 0 on success, 1 on failure (AUTHFAIL on a SASL failure).
"""
import asyncio
import logging
import sys

import slixmpp

# Generous: the tests run on loaded two-core machines (the Go side waits
# longer than this).
WAIT = 90


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, mech, mode, args):
        super().__init__(jid, password, sasl_mech=mech)
        self.mode, self.args = mode, args
        self.result = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("message", self.message)
        self.add_event_handler("failed_auth", self.failed)

    async def start(self, event):
        self.send_presence()
        await self.get_roster()
        print("READY", flush=True)
        if self.mode == "send":
            to, body = self.args
            self.send_message(mto=to, mbody=body, mtype="chat")
            # The server handles a stream in order: once this IQ is
            # answered, the message was routed and may be disconnected from.
            await self.get_roster()
            self.result.set_result(True)

    def message(self, msg):
        if self.mode == "recv" and msg["body"] == self.args[0]:
            print("GOT " + msg["body"], flush=True)
            if not self.result.done():
                self.result.set_result(True)

    def failed(self, event):
        print("AUTHFAIL", flush=True)
        if not self.result.done():
            self.result.set_result(False)


def main():
    jid, password, host, port, mech, cafile, mode = sys.argv[1:8]
    c = Client(jid, password, mech, mode, sys.argv[8:])
    c.ca_certs = cafile
    c.connect(address=(host, int(port)))
    loop = asyncio.get_event_loop()
    try:
        ok = loop.run_until_complete(asyncio.wait_for(c.result, WAIT))
    except asyncio.TimeoutError:
        print("TIMEOUT", flush=True)
        ok = False
    c.disconnect()
    loop.run_until_complete(asyncio.sleep(0.1))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    main()
