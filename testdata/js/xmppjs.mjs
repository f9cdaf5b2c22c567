// xmppjs.mjs: an xmpp.js (@xmpp/client) session over WebSocket, driven by
// TestXMPPJS in the repository root (e2e_javascript_test.go).
//
// It discovers the WebSocket URL from the web host's host-meta (XEP-0156),
// logs in with the SASL mechanism xmpp.js picks (over SASL2, XEP-0388,
// since the server offers it), sends available presence,
// a chat message to PEER and one to UNKNOWN (an account that does not
// exist), waits for the error bounce of the latter and for a message from
// PEER whose body is REPLY_BODY, and logs out.
//
// Every event is one JSON line on stdout ({"event": ...}), so the Go test
// can follow along; the last line is {"event":"done"} or {"event":"fail"}.
// Environment: WEB_HOST (host:port of the HTTPS listener), DOMAIN,
// USERNAME, PASSWORD, PEER, UNKNOWN, BODY, REPLY_BODY, TIMEOUT_MS.
// Run with node --experimental-websocket (Node 20) and NODE_EXTRA_CA_CERTS
// naming the test CA.

import { client, xml } from "@xmpp/client";
import { resolve } from "@xmpp/resolve/lib/http.js";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const say = (event, fields = {}) =>
  process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");

async function main() {
  const webHost = env("WEB_HOST");
  const domain = env("DOMAIN");
  const peer = env("PEER");
  const unknown = env("UNKNOWN");
  const body = env("BODY");
  const replyBody = env("REPLY_BODY");

  // XEP-0156 discovery: the same code xmpp.js runs for a bare domain.
  const links = await resolve(webHost);
  say("discovered", { links: links.map((l) => l.href) });
  const ws = links.find((l) => l.method === "websocket");
  if (!ws) throw new Error(`no WebSocket link in https://${webHost}/.well-known/host-meta`);

  const xmpp = client({
    service: ws.href,
    domain,
    username: env("USERNAME"),
    password: env("PASSWORD"),
    resource: "xmppjs",
  });
  // The test decides when to give up, not xmpp.js.
  xmpp.reconnect.stop();

  xmpp.on("error", (err) => say("error", { message: String(err?.message ?? err) }));
  xmpp.on("send", (el) => {
    if (el.name === "auth" && el.attrs.xmlns === "urn:ietf:params:xml:ns:xmpp-sasl") {
      say("auth", { mechanism: el.attrs.mechanism, profile: "sasl" });
    }
    if (el.name === "authenticate" && el.attrs.xmlns === "urn:xmpp:sasl:2") {
      say("auth", { mechanism: el.attrs.mechanism, profile: "sasl2" });
    }
  });

  let gotError, gotReply;
  const bounced = new Promise((r) => (gotError = r));
  const replied = new Promise((r) => (gotReply = r));
  xmpp.on("stanza", (st) => {
    if (!st.is("message")) return;
    const from = st.attrs.from ?? "";
    if (st.attrs.type === "error") {
      const err = st.getChild("error");
      const cond = err?.children.find((c) => typeof c !== "string" && c.attrs.xmlns === "urn:ietf:params:xml:ns:xmpp-stanzas");
      say("message-error", { from, id: st.attrs.id, type: err?.attrs.type, condition: cond?.name });
      if (from === unknown) gotError();
      return;
    }
    const text = st.getChildText("body");
    say("message", { from, body: text });
    if (from.split("/")[0] === peer && text === replyBody) gotReply();
  });

  const address = await xmpp.start();
  say("online", { jid: address.toString(), url: ws.href });
  await xmpp.send(xml("presence"));
  await xmpp.send(xml("message", { to: peer, type: "chat", id: "to-peer" }, xml("body", {}, body)));
  await xmpp.send(xml("message", { to: unknown, type: "chat", id: "to-unknown" }, xml("body", {}, "nobody reads this")));
  await Promise.all([bounced, replied]);
  await xmpp.stop();
  say("done");
}

const timeout = Number(process.env.TIMEOUT_MS || 60000);
const timer = setTimeout(() => {
  say("fail", { message: `timed out after ${timeout} ms` });
  process.exit(1);
}, timeout);

main().then(
  () => {
    clearTimeout(timer);
    process.exit(0);
  },
  (err) => {
    say("fail", { message: String(err?.stack ?? err) });
    process.exit(1);
  },
);
