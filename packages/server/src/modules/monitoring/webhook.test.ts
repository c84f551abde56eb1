import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deliverWebhook, WebhookAllowList } from "./webhook.js";

describe("WebhookAllowList", () => {
  const list = new WebhookAllowList(["hooks.example.com", "*.corp.internal", "127.0.0.1:9000"]);
  it("allows listed hosts, subdomains of *.domain, and host:port entries only on that port", () => {
    expect(list.allows(new URL("https://hooks.example.com/x"))).toBe(true);
    expect(list.allows(new URL("https://a.b.corp.internal/x"))).toBe(true);
    expect(list.allows(new URL("https://corp.internal/x"))).toBe(false);
    expect(list.allows(new URL("https://evil.com/?hooks.example.com"))).toBe(false);
    expect(list.allows(new URL("https://hooks.example.com.evil.com/"))).toBe(false);
    expect(list.allows(new URL("http://127.0.0.1:9000/"))).toBe(true);
    expect(list.allows(new URL("http://127.0.0.1:9001/"))).toBe(false);
    expect(list.allows(new URL("ftp://hooks.example.com/"))).toBe(false);
    expect(list.allows(new URL("https://user:pw@hooks.example.com/"))).toBe(false);
  });
  it("refuses bad targets with codes, and bad entries when configured", () => {
    expect(() => list.check("not a url")).toThrow(expect.objectContaining({ code: "INVALID_PARAMETER_VALUE" }));
    expect(() => list.check("file:///etc/passwd")).toThrow(expect.objectContaining({ code: "INVALID_PARAMETER_VALUE" }));
    expect(() => list.check("https://elsewhere.org/hook")).toThrow(expect.objectContaining({ code: "PERMISSION_DENIED" }));
    expect(() => new WebhookAllowList(["http://x.com/path"])).toThrow(expect.objectContaining({ code: "INVALID_PARAMETER_VALUE" }));
  });
});

describe("deliverWebhook", () => {
  let server: http.Server;
  let base = "";
  const received: string[] = [];
  let failuresLeft = 0;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        if (req.url === "/flaky" && failuresLeft-- > 0) return void res.writeHead(503).end();
        if (req.url === "/redirect-off") return void res.writeHead(302, { location: "https://elsewhere.org/steal" }).end();
        if (req.url === "/redirect-on") return void res.writeHead(307, { location: "/ok" }).end();
        if (req.url === "/slow") return void setTimeout(() => res.writeHead(200).end(), 600);
        if (req.url === "/bad") return void res.writeHead(400).end();
        received.push(`${req.url} ${body}`);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  const allowList = new WebhookAllowList(["127.0.0.1"]);

  it("posts the payload as JSON", async () => {
    expect(await deliverWebhook(`${base}/ok`, { alert: "drift" }, { allowList })).toEqual({ ok: true, status: 200, attempts: 1 });
    expect(received).toContain('/ok {"alert":"drift"}');
  });
  it("retries 5xx with backoff and gives up after the attempts", async () => {
    failuresLeft = 2;
    expect(await deliverWebhook(`${base}/flaky`, {}, { allowList, backoffMs: 10 })).toMatchObject({ ok: true, attempts: 3 });
    failuresLeft = 5;
    expect(await deliverWebhook(`${base}/flaky`, {}, { allowList, backoffMs: 10 })).toMatchObject({ ok: false, status: 503, attempts: 3 });
  });
  it("does not retry a 4xx", async () => {
    expect(await deliverWebhook(`${base}/bad`, {}, { allowList, backoffMs: 10 })).toMatchObject({ ok: false, status: 400, attempts: 1 });
  });
  it("follows redirects to allowed hosts only", async () => {
    expect(await deliverWebhook(`${base}/redirect-on`, { n: 1 }, { allowList })).toMatchObject({ ok: true, status: 200 });
    const off = await deliverWebhook(`${base}/redirect-off`, {}, { allowList });
    expect(off).toMatchObject({ ok: false, status: 302 });
    expect(off.error).toMatch(/elsewhere\.org.*not on the allow-list/);
  });
  it("times out each attempt", async () => {
    const r = await deliverWebhook(`${base}/slow`, {}, { allowList, timeoutMs: 100, attempts: 2, backoffMs: 10 });
    expect(r).toMatchObject({ ok: false, attempts: 2 });
    expect(r.error).toMatch(/no answer within 100 ms/);
  });
  it("never sends to a host off the list", async () => {
    expect(await deliverWebhook("https://elsewhere.org/hook", {}, { allowList })).toMatchObject({ ok: false, attempts: 0 });
  });
});
