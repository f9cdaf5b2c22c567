"""Three slixmpp clients (xep_0045) use a chatbx group chat: create and
configure (members-only, moderated), join, groupchat with stanza-ids,
subject, nick change, private message, mediated and direct invitations,
self-ping before and after leaving, kick and ban with status codes,
destroy. Prints "OK <step>" per step and "RESULT ok" at the end.

usage: slix_muc.py DOMAIN MUCDOMAIN HOST PORT CAFILE
"""
import asyncio, logging, sys
import slixmpp
from slixmpp import JID
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

NS_USER = '{http://jabber.org/protocol/muc#user}'


class C(slixmpp.ClientXMPP):
    def __init__(self, jid, pw):
        super().__init__(jid, pw)
        for p in ['xep_0030', 'xep_0004', 'xep_0045', 'xep_0199', 'xep_0249', 'xep_0359', 'xep_0059', 'xep_0297', 'xep_0313']:
            self.register_plugin(p)
        self.ready = asyncio.get_event_loop().create_future()
        self.seen = []
        self.changed = asyncio.Event()
        self.add_event_handler('session_start', self.start)
        for kind in ('presence', 'message'):
            self.register_handler(Callback('all-' + kind, MatchXPath('{jabber:client}' + kind), self.keep))

    async def start(self, ev):
        self.send_presence()
        if not self.ready.done():
            self.ready.set_result(True)

    def keep(self, st):
        self.seen.append(st)
        self.changed.set()

    async def wait(self, what, pred, timeout=60):
        """Waits for a stanza (seen before or after the call) matching pred."""
        loop = asyncio.get_event_loop()
        end = loop.time() + timeout
        i = 0
        while True:
            while i < len(self.seen):
                st = self.seen[i]
                i += 1
                if pred(st):
                    return st
            self.changed.clear()
            left = end - loop.time()
            if left <= 0:
                raise TimeoutError(what)
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:
                raise TimeoutError(what)

    def mark(self):
        return len(self.seen)


def codes(st):
    x = st.xml.find(NS_USER + 'x')
    if x is None:
        return set()
    return {s.get('code') for s in x.findall(NS_USER + 'status')}


def presence_from(frm, typ, *want):
    def p(st):
        return (st.name == 'presence' and str(st['from']) == frm and
                (st['type'] == 'unavailable') == (typ == 'unavailable') and set(want) <= codes(st))
    return p


async def main(domain, muc, host, port, ca):
    clients = {}
    for name in ('alice', 'bob', 'carol'):
        c = C('%s@%s/slix' % (name, domain), 'secret-' + name)
        c.ca_certs = ca
        c.connect(address=(host, int(port)))
        clients[name] = c
    for c in clients.values():
        await asyncio.wait_for(c.ready, 60)
    alice, bob, carol = clients['alice'], clients['bob'], clients['carol']
    room = JID('slix@' + muc)

    # Create (201) and configure: persistent, members-only, moderated.
    pres, _, _, _ = await alice['xep_0045'].join_muc_wait(room, 'alice', timeout=60)
    assert '201' in codes(pres) and '110' in codes(pres), pres
    form = await alice['xep_0045'].get_room_config(room)
    fields = form.get_fields()
    assert 'muc#roomconfig_enablearchiving' in fields, fields.keys()
    sub = alice['xep_0004'].make_form(ftype='submit')
    sub.add_field(var='FORM_TYPE', ftype='hidden', value='http://jabber.org/protocol/muc#roomconfig')
    sub.add_field(var='muc#roomconfig_persistentroom', ftype='boolean', value=True)
    sub.add_field(var='muc#roomconfig_membersonly', ftype='boolean', value=True)
    sub.add_field(var='muc#roomconfig_moderatedroom', ftype='boolean', value=True)
    sub.add_field(var='muc#roomconfig_roomname', value='Slix room')
    await alice['xep_0045'].set_room_config(room, sub)
    print('OK create-configure', flush=True)

    # Not a member yet: registration-required.
    try:
        await bob['xep_0045'].join_muc_wait(room, 'bob', timeout=60)
        raise AssertionError('non-member joined a members-only room')
    except slixmpp.exceptions.PresenceError as e:
        assert e.condition == 'registration-required', e.condition
    print('OK members-only', flush=True)
    await alice['xep_0045'].set_affiliation(room, 'member', jid=JID('bob@' + domain))
    await alice['xep_0045'].set_affiliation(room, 'member', jid=JID('carol@' + domain))

    await bob['xep_0045'].join_muc_wait(room, 'bob', maxstanzas=10, timeout=60)
    await carol['xep_0045'].join_muc_wait(room, 'carol', maxstanzas=10, timeout=60)
    print('OK join-three', flush=True)

    # Groupchat with stanza-ids.
    alice.send_message(mto=room, mbody='hello from slix', mtype='groupchat')
    for c in (bob, carol):
        m = await c.wait('groupchat', lambda st: st.name == 'message' and st['type'] == 'groupchat' and st['body'] == 'hello from slix')
        sid = m.xml.find('{urn:xmpp:sid:0}stanza-id')
        assert sid is not None and sid.get('by') == str(room), m
        assert m.xml.find('{urn:xmpp:occupant-id:0}occupant-id') is not None, m
    print('OK groupchat-stanza-id', flush=True)

    # Subject.
    alice['xep_0045'].set_subject(room, 'slix subject')
    await bob.wait('subject', lambda st: st.name == 'message' and st['subject'] == 'slix subject')
    print('OK subject', flush=True)

    # Nick change: 303.
    mark = carol.mark()
    bob.send_presence(pto='%s/bobby' % room)
    await carol.wait('303', presence_from('%s/bob' % room, 'unavailable', '303'))
    await carol.wait('bobby', presence_from('%s/bobby' % room, ''))
    print('OK nick-change', flush=True)

    # Private message between occupants.
    carol.send_message(mto=JID('%s/bobby' % room), mbody='pm from carol', mtype='chat')
    pm = await bob.wait('pm', lambda st: st.name == 'message' and st['body'] == 'pm from carol')
    assert str(pm['from']) == '%s/carol' % room, pm
    print('OK private-message', flush=True)

    # Mediated invitation (the inviter's real JID) and direct invitation.
    alice['xep_0045'].invite(room, JID('carol@' + domain), reason='come')
    inv = await carol.wait('mediated invite', lambda st: st.name == 'message' and st.xml.find(NS_USER + 'x/' + NS_USER + 'invite') is not None)
    assert inv.xml.find(NS_USER + 'x/' + NS_USER + 'invite').get('from') == 'alice@' + domain, inv
    alice['xep_0249'].send_invitation(JID('bob@' + domain), room, reason='direct')
    await bob.wait('direct invite', lambda st: st.name == 'message' and st.xml.find('{jabber:x:conference}x') is not None)
    print('OK invitations', flush=True)

    # Self-ping while joined.
    await carol['xep_0199'].send_ping(JID('%s/carol' % room), timeout=30)
    print('OK self-ping-joined', flush=True)

    # Kick (307), then self-ping fails.
    await alice['xep_0045'].set_role(room, 'carol', 'none', reason='bye')
    await carol.wait('kicked', presence_from('%s/carol' % room, 'unavailable', '307', '110'))
    try:
        await carol['xep_0199'].send_ping(JID('%s/carol' % room), timeout=30)
        raise AssertionError('self-ping succeeded after kick')
    except slixmpp.exceptions.IqError as e:
        assert e.condition == 'not-acceptable', e.condition
    print('OK kick-307-self-ping-left', flush=True)

    # Ban (301).
    await alice['xep_0045'].set_affiliation(room, 'outcast', jid=JID('bob@' + domain), reason='banned')
    await bob.wait('banned', presence_from('%s/bobby' % room, 'unavailable', '301', '110'))
    try:
        await bob['xep_0045'].join_muc_wait(room, 'bob', timeout=60)
        raise AssertionError('banned user joined')
    except slixmpp.exceptions.PresenceError as e:
        assert e.condition == 'forbidden', e.condition
    print('OK ban-301', flush=True)

    # Destroy with an alternate venue.
    await alice['xep_0045'].destroy(room, reason='done', altroom=JID('next@' + muc))
    gone = await alice.wait('destroyed', presence_from('%s/alice' % room, 'unavailable'))
    d = gone.xml.find(NS_USER + 'x/' + NS_USER + 'destroy')
    assert d is not None and d.get('jid') == 'next@' + muc, gone
    print('OK destroy', flush=True)

    # A room with archiving on: MAM on the room JID, paged by 2.
    logged = JID('slixlog@' + muc)
    await alice['xep_0045'].join_muc_wait(logged, 'alice', timeout=60)
    sub = alice['xep_0004'].make_form(ftype='submit')
    sub.add_field(var='FORM_TYPE', ftype='hidden', value='http://jabber.org/protocol/muc#roomconfig')
    sub.add_field(var='muc#roomconfig_enablearchiving', ftype='boolean', value=True)
    await alice['xep_0045'].set_room_config(logged, sub)
    for i in range(5):
        alice.send_message(mto=logged, mbody='logged %d' % i, mtype='groupchat')
        await alice.wait('reflection', lambda st, i=i: st.name == 'message' and st['body'] == 'logged %d' % i)
    bodies = []
    async for m in alice['xep_0313'].iterate(jid=logged, rsm={'max': 2}):
        bodies.append(m['mam_result']['forwarded']['stanza']['body'])
    assert bodies == ['logged %d' % i for i in range(5)], bodies
    print('OK room-mam', bodies, flush=True)
    for c in clients.values():
        c.disconnect()
    await asyncio.sleep(0.1)


domain, muc, host, port, ca = sys.argv[1:6]
loop = asyncio.get_event_loop()
try:
    loop.run_until_complete(asyncio.wait_for(main(domain, muc, host, port, ca), 240))
    print('RESULT ok', flush=True)
except Exception as e:
    import traceback
    traceback.print_exc()
    print('RESULT fail', repr(e), flush=True)
    sys.exit(1)
