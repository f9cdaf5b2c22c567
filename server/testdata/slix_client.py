"""A slixmpp client for chatbx's interop tests.

usage: slix_client.py JID PASSWORD HOST PORT MECH CAFILE recv BODY
       slix_client.py JID PASSWORD HOST PORT MECH CAFILE send TO BODY
       slix_client.py JID PASSWORD HOST PORT MECH CAFILE smresume BODY1 BODY2
       slix_client.py JID PASSWORD HOST PORT MECH CAFILE carbons RECV SENT NICK
       slix_client.py JID PASSWORD HOST PORT MECH CAFILE pepnotify NICK
Prints READY after session start, GOT <body> when BODY arrives (recv), and
exits 0 on success, 1 on failure (AUTHFAIL on a SASL failure).

smresume uses stream management (XEP-0198, slixmpp's xep_0198 plugin):
after BODY1 it drops its TCP connection (CUT), reconnects and resumes
(RESUMED), and waits for BODY2; a second session start prints FRESH and
fails, a duplicate message prints DUP.

carbons enables message carbons (XEP-0280, xep_0280) before READY, prints
CARBON-RECEIVED when a carbon of a message with body RECV to another
resource arrives and CARBON-SENT for one with body SENT sent by another
resource; then it publishes the user nickname NICK (XEP-0172 over PEP,
xep_0172/xep_0163) and prints PUBLISHED.

pepnotify advertises http://jabber.org/protocol/nick+notify through its
caps (xep_0115, xep_0163) and prints NICK <nick> when a PEP notification
with nickname NICK arrives.
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
        if mode == "carbons":
            self.register_plugin("xep_0280")
            self.register_plugin("xep_0172")
            self.add_event_handler("carbon_received", self.carbon_received)
            self.add_event_handler("carbon_sent", self.carbon_sent)
            self.carbons = set()
        if mode == "pepnotify":
            self.register_plugin("xep_0115")
            self.register_plugin("xep_0172")
            self.add_event_handler("user_nick_publish", self.nick)

    async def start(self, event):
        if self.started:
            print("FRESH", flush=True)
            self.result.set_result(False)
            return
        self.started = True
        if self.mode == "pepnotify":
            # The first presence carries the caps with nick+notify.
            await self["xep_0115"].update_caps(broadcast=False)
        if self.mode == "carbons":
            await self["xep_0280"].enable()
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

    def carbon_received(self, msg):
        self.carbon("RECEIVED", msg["carbon_received"], self.args[0])

    def carbon_sent(self, msg):
        self.carbon("SENT", msg["carbon_sent"], self.args[1])

    def carbon(self, kind, fwd, want):
        if fwd["body"] != want or kind in self.carbons:
            return
        self.carbons.add(kind)
        print("CARBON-" + kind, flush=True)
        if len(self.carbons) == 2:
            asyncio.ensure_future(self.publish_nick())

    async def publish_nick(self):
        try:
            await self["xep_0172"].publish_nick(self.args[2])
        except Exception as e:  # an error reply
            print("PUBLISHFAIL " + str(e), flush=True)
            self.result.set_result(False)
            return
        print("PUBLISHED", flush=True)
        self.result.set_result(True)

    def nick(self, msg):
        nick = msg["pubsub_event"]["items"]["item"]["nick"]["nick"]
        print("NICK " + str(nick), flush=True)
        if nick == self.args[0] and not self.result.done():
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
