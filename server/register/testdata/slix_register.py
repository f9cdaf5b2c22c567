"""A slixmpp client for chatbx's XEP-0077 interop test.

usage: slix_register.py JID PASSWORD HOST PORT CAFILE passwd NEWPASSWORD
       slix_register.py JID PASSWORD HOST PORT CAFILE remove
Prints READY after session start, then RESULT ok or RESULT error COND for
the registration IQ, or DISCONNECTED when the server closed the stream
first; AUTHFAIL on a SASL failure. Exits 0 when the IQ succeeded.
"""
import asyncio
import logging
import sys

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, mode, args):
        super().__init__(jid, password)
        self.mode, self.args = mode, args
        self.register_plugin("xep_0077")
        self.result = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("failed_auth", self.failed)
        self.add_event_handler("disconnected", self.gone)

    def finish(self, line, ok):
        if not self.result.done():
            print(line, flush=True)
            self.result.set_result(ok)

    async def start(self, event):
        print("READY", flush=True)
        try:
            if self.mode == "passwd":
                await self["xep_0077"].change_password(self.args[0], timeout=60)
            else:
                await self["xep_0077"].cancel_registration(timeout=60)
            self.finish("RESULT ok", True)
        except IqError as e:
            self.finish("RESULT error " + e.iq["error"]["condition"], False)
        except IqTimeout:
            self.finish("TIMEOUT", False)

    def failed(self, event):
        self.finish("AUTHFAIL", False)

    def gone(self, event):
        self.finish("DISCONNECTED", False)


def main():
    jid, password, host, port, cafile, mode = sys.argv[1:7]
    c = Client(jid, password, mode, sys.argv[7:])
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
    logging.basicConfig(level=logging.ERROR)
    main()
