// The delivery console: one local page over the ledger and the dead-letter queue, for the on-call
// engineer. Plain server-rendered HTML and no script: every value is escaped by the `html` tag,
// the one action that writes (the redrive) takes a confirmation step, a per-process CSRF token
// and a same-origin check, and every request must name this server's own host (a page elsewhere
// cannot reach it through DNS rebinding). Nothing secret is read, so nothing secret can show.
import { randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type SQSClient,
  StartMessageMoveTaskCommand,
} from "@aws-sdk/client-sqs";
import type { BrowsableLedger, Clock, DeliveryState, HistoryEntry, LedgerRecord } from "../lambda/ports";

export interface ConsoleSources {
  readonly ledger: BrowsableLedger;
  readonly sqs: SQSClient;
  readonly deadLetterQueueUrl: string;
  readonly deadLetterQueueArn: string;
  readonly retryQueueArn: string;
  readonly clock: Clock;
  /** Where the data comes from, shown in the header (a stack name, or "local"). */
  readonly label: string;
}

export interface RunningConsole {
  readonly url: string;
  close(): Promise<void>;
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** Records read for the day's list and chart: enough for a relay's day, bounded for a busy one. */
export const RECENT_LIMIT = 2_000;
const ROWS_SHOWN = 200;
/** The runbook's rate: OPS-COM has just recovered. */
const REDRIVE_RATE_PER_SECOND = 5;
const STATES: readonly DeliveryState[] = [
  "deleted",
  "not_found",
  "rejected",
  "dead_lettered",
  "queued",
  "in_progress",
];
const STATE_COLOURS: Record<DeliveryState, string> = {
  deleted: "#2e7d32",
  not_found: "#7cb342",
  rejected: "#c62828",
  dead_lettered: "#6a1b9a",
  queued: "#f9a825",
  in_progress: "#1e88e5",
};

// ---- escaping ------------------------------------------------------------------------------

class Html {
  constructor(readonly text: string) {}
}

const escapeHtml = (value: unknown): string =>
  String(value).replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );

/** A template whose interpolations are escaped unless they are `Html` already (or lists of it). */
function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  const part = (v: unknown): string =>
    v instanceof Html ? v.text : Array.isArray(v) ? v.map(part).join("") : escapeHtml(v ?? "");
  return new Html(strings.reduce((out, s, i) => out + s + (i < values.length ? part(values[i]) : ""), ""));
}

// ---- the server ----------------------------------------------------------------------------

export async function startConsole(
  sources: ConsoleSources,
  options: { port?: number } = {},
): Promise<RunningConsole> {
  const csrf = randomBytes(32).toString("base64url");
  const view = (title: string, body: Html, query = "") => page(title, body, query, sources.label);
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      // The name only: an SDK message may quote a request, never worth the risk on a page.
      const name = error instanceof Error ? error.name : "Error";
      send(res, 500, view("Error", html`<p class="error">Could not read the relay's data: ${name}.</p>`));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  const hosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!hosts.has(req.headers.host ?? ""))
      return send(res, 421, view("Wrong host", html`<p>Wrong host.</p>`));
    const url = new URL(req.url ?? "/", origin);
    if (req.method === "POST" && url.pathname === "/dlq/redrive") return redrive(req, res);
    if (req.method !== "GET") return send(res, 405, view("Not allowed", html`<p>Method not allowed.</p>`));
    switch (url.pathname) {
      case "/":
        return send(res, 200, await overview(url.searchParams));
      case "/search":
        return send(res, 200, await search(url.searchParams.get("q") ?? ""));
      case "/webhook":
        return send(
          res,
          200,
          await webhook(url.searchParams.get("vendor") ?? "", url.searchParams.get("id") ?? ""),
        );
      case "/dlq":
        return send(res, 200, await deadLetters(url.searchParams.get("moved")));
      case "/dlq/redrive":
        return send(res, 200, await confirmRedrive());
      default:
        return send(res, 404, view("Not found", html`<p>No such page.</p>`));
    }
  }

  async function overview(params: URLSearchParams): Promise<Html> {
    const now = sources.clock.now();
    const records = await sources.ledger.recent(now - DAY_MS, now, RECENT_LIMIT);
    const state = params.get("state") ?? "";
    const vendor = params.get("vendor") ?? "";
    const vendors = [...new Set(records.map((r) => r.vendorId))].sort();
    const shown = records.filter((r) => (!state || r.state === state) && (!vendor || r.vendorId === vendor));
    const capped =
      records.length >= RECENT_LIMIT
        ? html`<p class="note">Showing the latest ${RECENT_LIMIT} webhooks of the day.</p>`
        : html``;
    return view(
      "Last 24 hours",
      html`<h2>Outcomes per hour, last 24 hours</h2>
      ${chart(records, now)}
      ${capped}
      <h2>Webhooks</h2>
      <form method="get" action="/" class="filters">
        <label>State <select name="state"><option value="">any</option>${STATES.map(
          (s) => html`<option value="${s}"${s === state ? html` selected` : html``}>${s}</option>`,
        )}</select></label>
        <label>Vendor <select name="vendor"><option value="">any</option>${vendors.map(
          (v) => html`<option value="${v}"${v === vendor ? html` selected` : html``}>${v}</option>`,
        )}</select></label>
        <button type="submit">Filter</button>
      </form>
      <p class="note">${shown.length} of ${records.length} webhooks${shown.length > ROWS_SHOWN ? html`, the latest ${ROWS_SHOWN} shown` : html``}.</p>
      ${recordTable(shown.slice(0, ROWS_SHOWN))}`,
    );
  }

  async function search(query: string): Promise<Html> {
    const q = query.trim();
    let records: LedgerRecord[] = [];
    if (q.includes("/")) {
      const slash = q.indexOf("/");
      const record = await sources.ledger.get({ vendorId: q.slice(0, slash), webhookId: q.slice(slash + 1) });
      records = record ? [record] : [];
    } else if (q !== "") {
      records = await sources.ledger.byReference(q);
    }
    return view(
      "Search",
      html`<h2>Search: ${q}</h2>
      ${records.length === 0 ? html`<p class="empty">No webhook matches <code>${q}</code>. Search by <code>vendor/webhookId</code> or by reference ID.</p>` : recordTable(records)}`,
      q,
    );
  }

  async function webhook(vendorId: string, webhookId: string): Promise<Html> {
    const record = await sources.ledger.get({ vendorId, webhookId });
    if (!record) return view("Webhook", html`<p class="empty">No record of ${vendorId}/${webhookId}.</p>`);
    return view(
      `${vendorId}/${webhookId}`,
      html`<h2>Webhook <code>${vendorId}/${webhookId}</code></h2>
      <dl class="facts">
        <dt>Reference ID</dt><dd><a href="/search?q=${encodeURIComponent(record.referenceId)}">${record.referenceId}</a></dd>
        <dt>State</dt><dd>${badge(record.state)}</dd>
        <dt>OPS-COM attempts</dt><dd>${record.attempts}</dd>
        <dt>Received</dt><dd>${record.createdAt}</dd>
        <dt>Last change</dt><dd>${record.updatedAt}</dd>
        ${record.opscomErrorCode === undefined ? html`` : html`<dt>OPS-COM code</dt><dd>${record.opscomErrorCode}</dd>`}
        ${record.lastError === undefined ? html`` : html`<dt>Last error</dt><dd>${record.lastError}</dd>`}
      </dl>
      <h2>History</h2>
      ${
        record.history.length === 0
          ? html`<p class="empty">This record was written before the ledger kept a history.</p>`
          : html`<ol class="history">${describeHistory(record.history).map(
              (step) =>
                html`<li class="step ${step.state}"><time>${new Date(step.at).toISOString()}</time> ${badge(step.state)} <span>${step.text}</span></li>`,
            )}</ol>`
      }`,
    );
  }

  async function queueDepth(): Promise<number> {
    const { Attributes } = await sources.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: sources.deadLetterQueueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
      }),
    );
    return (
      Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
      Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
    );
  }

  async function deadLetters(moved: string | null): Promise<Html> {
    const depth = await queueDepth();
    // Looked at, not taken: a zero visibility timeout leaves each message where it was.
    const seen = new Map<string, { body: string; sentAt: string }>();
    for (let round = 0; round < 5 && seen.size < depth; round++) {
      const { Messages } = await sources.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: sources.deadLetterQueueUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 0,
          WaitTimeSeconds: 0,
          MessageSystemAttributeNames: ["SentTimestamp"],
        }),
      );
      if (!Messages?.length) break;
      for (const m of Messages) {
        if (m.MessageId) {
          const sent = Number(m.Attributes?.SentTimestamp);
          seen.set(m.MessageId, {
            body: m.Body ?? "",
            sentAt: Number.isFinite(sent) ? new Date(sent).toISOString() : "-",
          });
        }
      }
    }
    const rows = [...seen.values()].map(({ body, sentAt }) => {
      const m = parseBody(body);
      if (!m)
        return html`<tr><td colspan="5" class="error">A message that is not the relay's (${body.length} bytes)</td></tr>`;
      return html`<tr><td>${sentAt}</td><td><a href="/webhook?vendor=${encodeURIComponent(m.vendorId)}&amp;id=${encodeURIComponent(m.webhookId)}">${m.vendorId}/${m.webhookId}</a></td><td>${m.referenceId}</td><td>${m.attempt}</td><td>${m.firstSeenAt}</td></tr>`;
    });
    return view(
      "Dead-letter queue",
      html`<h2>Dead-letter queue</h2>
      ${moved === null ? html`` : html`<p class="ok">Redrive started: ${moved} message(s) are moving back to the retry queue. Each starts a fresh set of attempts; the history of each webhook shows what OPS-COM answers.</p>`}
      <p>${depth} message(s) waiting. These webhooks used up their retries; their permits are <strong>not</strong> deleted in OPS-COM.</p>
      ${
        rows.length === 0
          ? html`<p class="empty">The dead-letter queue is empty.</p>`
          : html`<table><thead><tr><th>Dead-lettered</th><th>Webhook</th><th>Reference ID</th><th>Attempts before parking</th><th>First seen</th></tr></thead><tbody>${rows}</tbody></table>
      <p><a class="button" href="/dlq/redrive">Redrive…</a></p>`
      }`,
    );
  }

  async function confirmRedrive(): Promise<Html> {
    const depth = await queueDepth();
    return view(
      "Confirm redrive",
      html`<h2>Redrive the dead-letter queue?</h2>
      <p>This moves <strong>${depth}</strong> message(s) back to the retry queue at ${REDRIVE_RATE_PER_SECOND} a second. The retry worker calls OPS-COM for each webhook the ledger does not show settled. Fix the cause first (OPS-COM outage over, token replaced).</p>
      <form method="post" action="/dlq/redrive">
        <input type="hidden" name="csrf" value="${csrf}">
        <input type="hidden" name="expected" value="${depth}">
        <button type="submit" class="danger">Move ${depth} message(s) back</button>
        <a href="/dlq">Cancel</a>
      </form>`,
    );
  }

  async function redrive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = new URLSearchParams(await readBody(req));
    const sameOrigin = req.headers.origin === undefined || req.headers.origin === origin;
    const given = Buffer.from(body.get("csrf") ?? "");
    const expected = Buffer.from(csrf);
    if (!sameOrigin || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return send(
        res,
        403,
        view(
          "Refused",
          html`<p class="error">Refused: the form did not come from this console. Reload the page and try again.</p>`,
        ),
      );
    }
    await sources.sqs.send(
      new StartMessageMoveTaskCommand({
        SourceArn: sources.deadLetterQueueArn,
        DestinationArn: sources.retryQueueArn,
        MaxNumberOfMessagesPerSecond: REDRIVE_RATE_PER_SECOND,
      }),
    );
    const moved = Number(body.get("expected") ?? "0");
    res.writeHead(303, { location: `/dlq?moved=${Number.isInteger(moved) ? moved : 0}` });
    res.end();
  }

  return {
    url: origin,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

// ---- what the pages are made of ------------------------------------------------------------

function send(res: ServerResponse, status: number, body: Html): void {
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    // No script at all; styles and the chart are inline.
    "content-security-policy":
      "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    // Not no-referrer: with it Chromium sends `Origin: null` and the redrive's origin check fails.
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
  });
  res.end(body.text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      // The form is two short fields; anything bigger is not it.
      if (size > 4096) req.destroy(new Error("body too large"));
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function parseBody(
  body: string,
):
  | { vendorId: string; webhookId: string; referenceId: string; attempt: number; firstSeenAt: string }
  | undefined {
  try {
    const m = JSON.parse(body) as Record<string, unknown>;
    if (
      typeof m.vendorId === "string" &&
      typeof m.webhookId === "string" &&
      typeof m.referenceId === "string"
    ) {
      return {
        vendorId: m.vendorId,
        webhookId: m.webhookId,
        referenceId: m.referenceId,
        attempt: typeof m.attempt === "number" ? m.attempt : 0,
        firstSeenAt: typeof m.firstSeenAt === "string" ? m.firstSeenAt : "-",
      };
    }
  } catch {
    // Not JSON: shown as not the relay's.
  }
  return undefined;
}

const badge = (state: DeliveryState) =>
  html`<span class="badge" style="background:${STATE_COLOURS[state]}">${state.replace("_", " ")}</span>`;

function recordTable(records: readonly LedgerRecord[]): Html {
  if (records.length === 0) return html`<p class="empty">No webhooks.</p>`;
  return html`<table><thead><tr><th>Received</th><th>Webhook</th><th>Reference ID</th><th>State</th><th>Attempts</th><th>Last error</th></tr></thead><tbody>${records.map(
    (r) =>
      html`<tr><td class="time">${r.createdAt}</td><td><a href="/webhook?vendor=${encodeURIComponent(r.vendorId)}&amp;id=${encodeURIComponent(r.webhookId)}">${r.vendorId}/${r.webhookId}</a></td><td>${r.referenceId}</td><td>${badge(r.state)}</td><td>${r.attempts}</td><td>${r.lastError ?? ""}</td></tr>`,
  )}</tbody></table>`;
}

/** One line per history entry, in an on-call engineer's words. */
export function describeHistory(
  history: readonly HistoryEntry[],
): Array<{ at: number; state: DeliveryState; text: string }> {
  let attemptsBefore = 0;
  return history.map((entry, i) => {
    const previous = history[i - 1];
    const prefix = previous?.state === "dead_lettered" ? "Redriven from the dead-letter queue. " : "";
    const n = entry.attempts;
    const tried =
      n === undefined || n <= attemptsBefore
        ? ""
        : n - attemptsBefore === 1
          ? `OPS-COM attempt ${n}`
          : `OPS-COM attempts ${attemptsBefore + 1}–${n}`;
    if (n !== undefined) attemptsBefore = Math.max(attemptsBefore, n);
    const code = entry.opscomErrorCode === undefined ? "" : ` (OPS-COM code ${entry.opscomErrorCode})`;
    const answer = entry.note ? `: ${entry.note}${code}` : code;
    const said = tried ? `${tried}${answer}` : answer.replace(/^: /, "");
    const join = (what: string) => `${prefix}${said ? `${said} → ` : ""}${what}`;
    let text: string;
    switch (entry.state) {
      case "in_progress":
        text = i === 0 ? "Received and claimed" : join("claimed again");
        break;
      case "queued":
        text = join("parked for retry");
        break;
      case "dead_lettered":
        text = join("dead-lettered: retries used up");
        break;
      case "deleted":
        text = join("permit deleted: settled");
        break;
      case "not_found":
        text = join("no such permit: settled");
        break;
      case "rejected":
        text = join("refused by OPS-COM: settled");
        break;
    }
    return { at: entry.at, state: entry.state, text };
  });
}

/** Stacked bars, one per hour, coloured by each webhook's state now. */
function chart(records: readonly LedgerRecord[], now: number): Html {
  const firstHour = Math.floor(now / HOUR_MS) - 23;
  const counts = Array.from({ length: 24 }, () => new Map<DeliveryState, number>());
  for (const r of records) {
    const slot = Math.floor(Date.parse(r.createdAt) / HOUR_MS) - firstHour;
    const bucket = counts[slot];
    if (bucket) bucket.set(r.state, (bucket.get(r.state) ?? 0) + 1);
  }
  const max = Math.max(1, ...counts.map((c) => [...c.values()].reduce((a, b) => a + b, 0)));
  const W = 960;
  const H = 200;
  const left = 40;
  const barW = (W - left) / 24;
  const bars = counts.flatMap((bucket, i) => {
    let y = H - 20;
    return STATES.flatMap((state) => {
      const count = bucket.get(state) ?? 0;
      if (count === 0) return [];
      const h = (count / max) * (H - 40);
      y -= h;
      return [
        html`<rect x="${(left + i * barW + 2).toFixed(1)}" y="${y.toFixed(1)}" width="${(barW - 4).toFixed(1)}" height="${h.toFixed(1)}" fill="${STATE_COLOURS[state]}"><title>${String((firstHour + i) % 24).padStart(2, "0")}:00 UTC: ${count} ${state}</title></rect>`,
      ];
    });
  });
  const labels = counts.map((_, i) =>
    i % 3 === 0
      ? html`<text x="${(left + i * barW + barW / 2).toFixed(1)}" y="${H - 4}" text-anchor="middle">${String((firstHour + i) % 24).padStart(2, "0")}h</text>`
      : html``,
  );
  const legend = STATES.map(
    (s) =>
      html`<span class="legend"><span class="swatch" style="background:${STATE_COLOURS[s]}"></span>${s.replace("_", " ")}</span>`,
  );
  return html`<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="Outcomes per hour">
    <line x1="${left}" y1="${H - 20}" x2="${W}" y2="${H - 20}" stroke="#999"/>
    <text x="${left - 6}" y="24" text-anchor="end">${max}</text><text x="${left - 6}" y="${H - 22}" text-anchor="end">0</text>
    ${bars}${labels}</svg><div class="legends">${legend}</div>`;
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1b1f23;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center;flex-wrap:wrap}
header h1{font-size:16px;margin:0}header a{color:#fff;text-decoration:none;margin-right:14px}
header .source{color:#aab;font-size:12px}
header form{margin-left:auto;display:flex;gap:6px}header input{width:320px;padding:5px 8px;border-radius:4px;border:0}
main{padding:16px 24px;max-width:1200px}h2{font-size:15px;margin:20px 0 8px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e1e4e8;vertical-align:top;word-break:break-word}
th{background:#eef1f4;font-weight:600}td.time{white-space:nowrap;font-family:ui-monospace,monospace;font-size:12px}
.badge{color:#fff;border-radius:10px;padding:1px 8px;font-size:12px;white-space:nowrap}
.chart{width:100%;max-width:960px;background:#fff;border:1px solid #e1e4e8;font-size:11px;fill:#555}
.legends{margin:6px 0}.legend{margin-right:14px;font-size:12px}.swatch{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
.filters{display:flex;gap:12px;align-items:center;margin-bottom:6px}
.note,.empty{color:#57606a}.error{color:#c62828}.ok{background:#e6f4ea;border:1px solid #2e7d32;padding:8px 12px;border-radius:4px}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;background:#fff;padding:12px;border:1px solid #e1e4e8}
.facts dt{color:#57606a}.facts dd{margin:0}
.history{list-style:none;padding:0;border-left:3px solid #d0d7de;margin-left:8px}
.history li{padding:6px 12px;position:relative}.history time{color:#57606a;font-family:ui-monospace,monospace;font-size:12px;margin-right:6px}
.button,button{display:inline-block;background:#24292f;color:#fff;border:0;border-radius:4px;padding:6px 14px;text-decoration:none;cursor:pointer;font:inherit}
button.danger{background:#c62828}form a{margin-left:12px}
`;

function page(title: string, body: Html, query: string, label: string): Html {
  return html`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title} · relay console</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${new Html(STYLE)}</style></head>
<body><header><h1>Permit relay console</h1><span class="source">${label}</span><nav><a href="/">Last 24 hours</a><a href="/dlq">Dead-letter queue</a></nav>
<form method="get" action="/search" role="search"><input name="q" value="${query}" placeholder="vendor/webhookId or reference ID" aria-label="Search"><button type="submit">Search</button></form></header>
<main>${body}</main></body></html>`;
}
