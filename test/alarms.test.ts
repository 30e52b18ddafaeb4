// Every alarm of the synthesized stack, evaluated over the metrics real scenarios produce: the
// real handlers against the OPS-COM sandbox over HTTP and the local AWS endpoints, in simulated
// time (see test/support/alarm-scenario.ts). Each scenario says which alarms go to ALARM, by
// when, and that every other alarm stays OK. An alarm whose metric name, namespace or
// dimensions differ from what the handlers or AWS write never sees a datapoint, so renaming a
// metric or changing a dimension fails here.
import { Match } from "aws-cdk-lib/assertions";
import { afterEach, describe, expect, it } from "vitest";
import { generateSigningSecret } from "../local/vendor-kit";
import { buildStack } from "../testkit/cdk";
import { startScenario } from "./support/alarm-scenario";
import { type AlarmState, alarmsFromTemplate, evaluateAlarm, MetricStore } from "./support/cloudwatch";
import { CLIENT_CODE, startWorld, type TestWorld, TOKEN_SECRET, VENDOR_PREFIX } from "./support/relay";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
// The vendors the scenarios' worlds may post as: each gets its own signature-failure alarm.
const VENDORS = ["acme", "parkfast"];
const { stack, template } = buildStack({
  alarmEmail: "oncall@example.com",
  vendors: VENDORS.map((id) => ({ id })),
});
const relay = stack.relay;
const alarms = alarmsFromTemplate(template.findResources("AWS::CloudWatch::Alarm"));
const ingest = Object.values(
  template.findResources("AWS::Lambda::Function", {
    Properties: { Description: Match.stringLikeRegexp("verifies vendor webhooks") },
  }),
)[0];
const functionEnv = ingest?.Properties.Environment.Variables as Record<string, string>;
const RETRY_MAX_ATTEMPTS = Number(functionEnv.RETRY_MAX_ATTEMPTS);

let world: TestWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

async function scenario(
  options: Omit<
    Parameters<typeof startScenario>[0],
    "world" | "store" | "stack" | "relay" | "functionEnv" | "retryMaxAttempts"
  > = {},
  vendorIds = ["acme"],
) {
  world = await startWorld(vendorIds);
  const store = new MetricStore();
  const run = await startScenario({
    world,
    store,
    stack,
    relay,
    functionEnv,
    retryMaxAttempts: RETRY_MAX_ATTEMPTS,
    ...options,
  });
  let last = run.start;
  /** Each alarm's timeline over the scenario so far. */
  const verdicts = () =>
    new Map([...alarms].map(([id, alarm]) => [id, evaluateAlarm(alarm, store, run.start, last)] as const));
  const runUntil = async (ms: number, traffic?: { everyMs: number }) => {
    await run.run(ms, traffic);
    last = run.start + ms;
  };
  return { run, store, runUntil, verdicts };
}

type Timeline = { t: number; state: AlarmState }[];
const firstAlarm = (timeline: Timeline) => timeline.find((p) => p.state === "ALARM")?.t;
const stateAt = (timeline: Timeline, t: number) => [...timeline].reverse().find((p) => p.t <= t)?.state;
const raised = (verdicts: Map<string, Timeline>) =>
  [...verdicts]
    .filter(([, timeline]) => firstAlarm(timeline) !== undefined)
    .map(([id]) => id)
    .sort();

describe("the alarms read from the synthesized template", () => {
  it("are all understood by the evaluator, and each relay alarm reads a metric the handlers write", () => {
    // Twelve for the relay, one per configured vendor.
    expect(alarms.size).toBe(12 + VENDORS.length);
    for (const alarm of alarms.values()) expect(alarm.periodMs).toBeGreaterThan(0);
  });
});

describe("alarm scenarios", () => {
  it("a quiet day with 2% transient OPS-COM faults raises none", async () => {
    const s = await scenario();
    world?.sandbox.setFaults({ failureRate: 0.02 });
    await s.runUntil(24 * HOUR, { everyMs: 3 * MINUTE });
    expect(s.run.sent()).toBeGreaterThanOrEqual(479);
    expect(world?.sandbox.stats().faultsInjected).not.toEqual({});
    expect(raised(s.verdicts())).toEqual([]);
  }, 300_000);

  it("OPS-COM down for 2 hours: the outage alarm within 15 minutes, OK again after recovery", async () => {
    const s = await scenario();
    await s.runUntil(30 * MINUTE, { everyMs: 3 * MINUTE });
    world?.sandbox.setFaults({ failureRate: 1, modes: ["http503"] });
    await s.runUntil(150 * MINUTE, { everyMs: 3 * MINUTE });
    world?.sandbox.clearFaults();
    await s.runUntil(5 * HOUR, { everyMs: 3 * MINUTE });
    const verdicts = s.verdicts();
    const outage = verdicts.get("ParkedDeliveryAgeAlarm") as Timeline;
    const detected = (firstAlarm(outage) ?? Number.POSITIVE_INFINITY) - s.run.minutes(30);
    console.log(`OPS-COM outage detected after ${(detected / MINUTE).toFixed(0)} min`);
    expect(detected).toBeGreaterThan(0);
    expect(detected).toBeLessThanOrEqual(15 * MINUTE);
    expect(stateAt(outage, s.run.minutes(150))).toBe("ALARM");
    expect(stateAt(outage, s.run.minutes(150 + 20))).toBe("OK");
    expect(outage.filter((p) => p.t >= s.run.minutes(170)).every((p) => p.state === "OK")).toBe(true);
    // SQS's age metric leaves out messages received 3+ times: it stays blind to the outage.
    expect(raised(verdicts)).toEqual(["ParkedDeliveryAgeAlarm"]);
  }, 300_000);

  it("a revoked token raises TokenRejectedAlarm within 15 minutes", async () => {
    const s = await scenario();
    await s.runUntil(10 * MINUTE, { everyMs: 3 * MINUTE });
    world?.sandbox.setTokens(CLIENT_CODE, ["a-token-nobody-has-0123456789"]);
    await s.runUntil(40 * MINUTE, { everyMs: 3 * MINUTE });
    const verdicts = s.verdicts();
    expectRaisedWithin(verdicts, "TokenRejectedAlarm", s.run.minutes(10), 15 * MINUTE);
    expect(raised(verdicts)).toEqual(["ParkedDeliveryAgeAlarm", "TokenRejectedAlarm"]);
  }, 120_000);

  it("an unreadable token secret raises SecretUnavailableAlarm within 15 minutes", async () => {
    const s = await scenario();
    await s.runUntil(10 * MINUTE, { everyMs: 3 * MINUTE });
    world?.aws.deleteSecret(TOKEN_SECRET);
    await s.runUntil(40 * MINUTE, { everyMs: 3 * MINUTE });
    const verdicts = s.verdicts();
    expectRaisedWithin(verdicts, "SecretUnavailableAlarm", s.run.minutes(10), 15 * MINUTE);
    expect(raised(verdicts)).toEqual(["ParkedDeliveryAgeAlarm", "SecretUnavailableAlarm"]);
  }, 120_000);

  it("a wrong base URL raises OpscomUnrecognisedAlarm within 15 minutes", async () => {
    const s = await scenario({ wrongBaseUrl: true });
    await s.runUntil(30 * MINUTE, { everyMs: 3 * MINUTE });
    const verdicts = s.verdicts();
    expectRaisedWithin(verdicts, "OpscomUnrecognisedAlarm", s.run.start, 15 * MINUTE);
    expect(raised(verdicts)).toEqual(["OpscomUnrecognisedAlarm", "ParkedDeliveryAgeAlarm"]);
  }, 120_000);

  it("a delivery that reaches the dead-letter queue raises DeadLettersAlarm", async () => {
    const s = await scenario();
    world?.sandbox.setFaults({ failureRate: 1, modes: ["http503"] });
    await s.runUntil(MINUTE, { everyMs: HOUR });
    // The retry schedule runs about 27.6 hours before the last attempt; with every delay at
    // its highest jitter (+20%, each capped at 11.5 h) it runs 32.7 hours.
    await s.runUntil(34 * HOUR);
    const verdicts = s.verdicts();
    const dead = verdicts.get("DeadLettersAlarm") as Timeline;
    expect(firstAlarm(dead)).toBeGreaterThan(s.run.minutes(20 * 60));
    expect(stateAt(dead, s.run.minutes(34 * 60))).toBe("ALARM");
    expect(raised(verdicts)).toEqual(["DeadLettersAlarm", "ParkedDeliveryAgeAlarm"]);
  }, 300_000);

  it("the ingest handler failing raises IngestHandledErrorsAlarm, and the 5xx rate once requests are many", async () => {
    // A ledger bug: a claim that is neither won nor names the winner makes the handler throw.
    const s = await scenario({
      ledger: (real) =>
        Object.assign(Object.create(real), {
          claim: async () => ({ claimed: false, existing: undefined }),
        }),
    });
    await s.runUntil(15 * MINUTE, { everyMs: 3 * MINUTE });
    let verdicts = s.verdicts();
    expect(s.run.answers.every((status) => status === 500)).toBe(true);
    expectRaisedWithin(verdicts, "IngestHandledErrorsAlarm", s.run.start, 10 * MINUTE);
    // Five requests in 5 minutes are no rate: the 5xx-rate alarm waits for 20.
    expect(raised(verdicts)).toEqual(["IngestHandledErrorsAlarm"]);
    await s.runUntil(30 * MINUTE, { everyMs: 10_000 });
    verdicts = s.verdicts();
    expect(raised(verdicts)).toEqual(["Api5xxRateAlarm", "IngestHandledErrorsAlarm"]);
  }, 120_000);

  it("a botched rotation raises that vendor's SignatureFailuresAlarm within 15 minutes, no other", async () => {
    const s = await scenario({}, ["acme", "parkfast"]);
    await s.runUntil(10 * MINUTE, { everyMs: 3 * MINUTE });
    // The platform team replaced parkfast's secret instead of adding the new one first.
    world?.aws.putSecret(
      `${VENDOR_PREFIX}parkfast`,
      JSON.stringify({ signingSecrets: [generateSigningSecret()] }),
    );
    await s.runUntil(40 * MINUTE, { everyMs: 3 * MINUTE });
    const verdicts = s.verdicts();
    // Both vendors post every round (acme first). Warm instances keep the old secret until
    // their cache expires; from then on every parkfast webhook is refused.
    const acme = s.run.answers.filter((_, i) => i % 2 === 0);
    const parkfastAnswers = s.run.answers.filter((_, i) => i % 2 === 1);
    expect(acme.every((status) => status === 200)).toBe(true);
    expect(parkfastAnswers.slice(0, 4)).toEqual([200, 200, 200, 200]);
    expect(parkfastAnswers.slice(-6)).toEqual(Array(6).fill(401));
    const parkfast = [...verdicts.keys()].find((id) => id.includes("SignatureFailuresAlarmparkfast"));
    expect(parkfast, "no signature-failure alarm for parkfast").toBeDefined();
    expectRaisedWithin(verdicts, parkfast as string, s.run.minutes(10), 15 * MINUTE);
    expect(raised(verdicts)).toEqual([parkfast]);
  }, 120_000);

  it("an unreadable signing secret raises SecretUnavailableAlarm within 15 minutes", async () => {
    const s = await scenario();
    await s.runUntil(10 * MINUTE, { everyMs: 3 * MINUTE });
    world?.aws.deleteSecret(`${VENDOR_PREFIX}acme`);
    await s.runUntil(40 * MINUTE, { everyMs: 3 * MINUTE });
    const verdicts = s.verdicts();
    expect(s.run.answers.at(-1)).toBe(503);
    expectRaisedWithin(verdicts, "SecretUnavailableAlarm", s.run.minutes(10), 15 * MINUTE);
    expect(raised(verdicts)).toEqual(["SecretUnavailableAlarm"]);
  }, 120_000);
});

function expectRaisedWithin(verdicts: Map<string, Timeline>, id: string, from: number, within: number) {
  const at = firstAlarm(verdicts.get(id) ?? []);
  expect(at, `${id} never went to ALARM`).toBeDefined();
  expect((at as number) - from, `${id} went to ALARM before the fault`).toBeGreaterThan(0);
  expect((at as number) - from, `${id} took longer than allowed`).toBeLessThanOrEqual(within);
}
