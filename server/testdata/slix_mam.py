"""slixmpp reads chatbx's message archive: prefs (XEP-0441), paging (XEP-0059), with filter, reverse, form, metadata, set prefs.

usage: slix_mam.py JID PASSWORD HOST PORT CAFILE
"""
import asyncio, logging, sys
from datetime import datetime, timezone
import slixmpp
from slixmpp import JID

class C(slixmpp.ClientXMPP):
    def __init__(self, jid, pw):
        super().__init__(jid, pw)
        for p in ['xep_0030','xep_0059','xep_0313','xep_0441','xep_0004','xep_0297','xep_0203']:
            self.register_plugin(p)
        self.done = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self.start)
    async def start(self, ev):
        try:
            d, a, n = await self['xep_0441'].get_preferences()
            print("PREFS", d, sorted(a), sorted(n), flush=True)
            bodies = []
            async for m in self['xep_0313'].iterate(rsm={'max': 2}):
                bodies.append(m['mam_result']['forwarded']['stanza']['body'])
                print("STAMP", m['mam_result']['forwarded']['delay']['stamp'], flush=True)
            print("ALL", bodies, flush=True)
            bodies = []
            async for m in self['xep_0313'].iterate(with_jid=JID('carol@chatbx.test'), rsm={'max': 2}):
                bodies.append(m['mam_result']['forwarded']['stanza']['body'])
            print("WITH", bodies, flush=True)
            bodies = []
            async for m in self['xep_0313'].iterate(rsm={'max': 2}, reverse=True):
                bodies.append(m['mam_result']['forwarded']['stanza']['body'])
            print("REV", bodies, flush=True)
            f = await self['xep_0313'].get_fields()
            print("FIELDS", [x for x in f['fields']], flush=True)
            md = await self['xep_0313'].get_archive_metadata()
            print("META", md['mam_metadata']['start']['id'], md['mam_metadata']['end']['timestamp'], flush=True)
            iq = await self['xep_0441'].set_preferences(default='never', always=[JID('carol@chatbx.test')])
            print("SET", iq['mam_prefs']['default'], sorted(iq['mam_prefs']['always']), flush=True)
            self.done.set_result(True)
        except Exception as e:
            import traceback; traceback.print_exc()
            print("ERR", repr(e), flush=True)
            self.done.set_result(False)

jid, pw, host, port, ca = sys.argv[1:6]
c = C(jid, pw); c.ca_certs = ca
c.connect(address=(host, int(port)))
loop = asyncio.get_event_loop()
ok = loop.run_until_complete(asyncio.wait_for(c.done, 90))  # generous: loaded CI machines
c.disconnect(); loop.run_until_complete(asyncio.sleep(0.1))
sys.exit(0 if ok else 1)
