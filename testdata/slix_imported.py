"""A slixmpp client for chatbx's import tests.

usage: slix_imported.py JID PASSWORD HOST PORT MECH CAFILE
MECH "" lets slixmpp choose. Logs in, prints "ROSTER <jid> <subscription>"
for every roster item and "FN <text>" for the own vCard, then "DONE";
exits 0 on success, 1 on failure (AUTHFAIL on a SASL failure).
"""
import asyncio
import logging
import sys

import slixmpp

WAIT = 90


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, mech):
        super().__init__(jid, password, sasl_mech=mech or None)
        self.register_plugin("xep_0054")
        self.result = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("failed_all_auth", self.failed)

    async def start(self, event):
        await self.get_roster()
        for jid in self.client_roster:
            print("ROSTER %s %s" % (jid, self.client_roster[jid]["subscription"]), flush=True)
        iq = await self.plugin["xep_0054"].get_vcard(self.boundjid.bare)
        print("FN " + iq["vcard_temp"]["FN"], flush=True)
        print("DONE", flush=True)
        self.result.set_result(True)

    def failed(self, event):
        print("AUTHFAIL", flush=True)
        if not self.result.done():
            self.result.set_result(False)


def main():
    jid, password, host, port, mech, cafile = sys.argv[1:7]
    c = Client(jid, password, mech)
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
