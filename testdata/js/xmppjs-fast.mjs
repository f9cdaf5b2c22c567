// xmppjs-fast.mjs: xmpp.js (@xmpp/client) logs in over SASL2 and FAST
// (XEP-0388, XEP-0484), driven by TestXMPPJSFAST in the repository root
// (e2e_javascript_test.go).
//
// 1. Logs in with the password (SCRAM over SASL2, Bind2) and receives a
//    FAST token for its user-agent id.
// 2. Reconnects with the token only (the password it is given is wrong,
//    so only the token can log it in).
// 3. Prints {"event":"need-password-change"}, waits for a line on stdin
//    (the test changes the password meanwhile), and connects with the
//    token and the new password: the token fails, xmpp.js drops it and
//    falls back to SCRAM, which succeeds and brings a new token.
//
// Every event is one JSON line on stdout; the last is {"event":"done"} or
// {"event":"fail"}. Environment: WEB_HOST, DOMAIN, USERNAME, PASSWORD,
// NEW_PASSWORD, TIMEOUT_MS. Run with node --experimental-websocket (Node
// 20) and NODE_EXTRA_CA_CERTS naming the test CA.

import { client, xml } from "@xmpp/client";
import { createInterface } from "node:readline";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const say = (event, fields = {}) =>
  process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");

// One device: the same user-agent id on every connection.
const userAgentID = globalThis.crypto.randomUUID();
let stored = null; // the client's token store

async function session(phase, password) {
  const xmpp = client({
    service: `wss://${env("WEB_HOST")}/xmpp-websocket`,
    domain: env("DOMAIN"),
    username: env("USERNAME"),
    password,
    resource: "fastjs",
    userAgent: xml("user-agent", { id: userAgentID }, xml("software", {}, "chatbx-test")),
  });
  xmpp.reconnect.stop();
  xmpp.fast.fetchToken = async () => stored;
  xmpp.fast.saveToken = async (t) => {
    stored = t;
    say("token", { phase, mechanism: t.mechanism, expiry: t.expiry, length: t.token.length });
  };
  xmpp.fast.deleteToken = async () => {
    stored = null;
    say("token-deleted", { phase });
  };
  xmpp.on("send", (el) => {
    if (el.name === "authenticate" && el.attrs.xmlns === "urn:xmpp:sasl:2") {
      say("auth", { phase, mechanism: el.attrs.mechanism });
    }
  });
  xmpp.on("element", (el) => {
    if (el.name === "failure" && el.attrs.xmlns === "urn:xmpp:sasl:2") {
      const c = el.children.find((c) => typeof c !== "string" && c.attrs.xmlns === "urn:ietf:params:xml:ns:xmpp-sasl");
      say("sasl2-failure", { phase, condition: c?.name });
    }
  });
  xmpp.on("error", (err) => say("error", { phase, message: String(err?.message ?? err) }));
  const address = await xmpp.start();
  say("online", { phase, jid: address.toString() });
  // One round trip on the bound session.
  await xmpp.iqCaller.get(xml("ping", "urn:xmpp:ping"));
  await xmpp.stop();
}

async function waitLine() {
  const rl = createInterface({ input: process.stdin });
  for await (const _ of rl) {
    rl.close();
    return;
  }
  throw new Error("stdin closed");
}

async function main() {
  await session("password", env("PASSWORD"));
  if (!stored) throw new Error("no FAST token after the password login");
  await session("token", "wrong-password-only-the-token-works");
  say("need-password-change");
  await waitLine();
  await session("after-change", env("NEW_PASSWORD"));
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
