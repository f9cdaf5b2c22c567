"""A slixmpp client for chatbx's interop tests.

usage: slix_client.py JID PASSWORD HOST PORT MECH CAFILE recv BODY
       slix_client.py JID PASSWORD HOST PORT MECH CAFILE send TO BODY
       slix_client.py JID PASSWORD HOST PORT MECH CAFILE smresume BODY1 BODY2
Prints READY after session start, GOT <body> when BODY arrives (recv), and
exits 0 on success, 1 on failure (AUTHFAIL on a SASL failure).

smresume uses stream management (XEP-0198, slixmpp's xep_0198 plugin):
after BODY1 it drops its TCP connection (CUT), reconnects and resumes
(RESUMED), and waits for BODY2; a second session start prints FRESH and
fails, a duplicate message prints DUP.
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
        self.started = False
        self.seen = set()
        if mode == "smresume":
            self.register_plugin("xep_0198")
            self.add_event_handler("session_resumed", self.resumed)

    async def start(self, event):
        if self.started:
            print("FRESH", flush=True)
            self.result.set_result(False)
            return
        self.started = True
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

    def resumed(self, event):
        print("RESUMED", flush=True)

    def lost(self, event):
        # Reconnect at once; the plugin resumes the stream.
        self.connect(address=self.address)

    def message(self, msg):
        if self.mode == "smresume":
            body = msg["body"]
            if body in self.seen:
                print("DUP " + body, flush=True)
                self.result.set_result(False)
                return
            self.seen.add(body)
            print("GOT " + body, flush=True)
            if body == self.args[0]:
                # Drop the connection without closing the stream.
                self.add_event_handler("disconnected", self.lost, disposable=True)
                self.transport.abort()
                print("CUT", flush=True)
            elif body == self.args[1] and not self.result.done():
                self.result.set_result(True)
            return
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
    c.address = (host, int(port))
    c.connect(address=c.address)
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
