// `npm start`: the relay on 127.0.0.1:$RELAY_PORT (default 3000) against the built-in OPS-COM
// sandbox on 127.0.0.1:$OPSCOM_SANDBOX_PORT (default 4010), with demo secrets kept in .relay/.
// What runs is the synthesized stack: its bundles, environment, timeouts, queues and throttle.
import { DEMO_VENDOR, loadOrCreateLocalSecrets, startDeployedRelay } from "../local/harness";

const LOCAL_SECRETS_FILE = ".relay/local.json";
/** Where `npm run send` posts when it is given no `--url` and no RELAY_PORT. */
const DEFAULT_RELAY_URL = "http://127.0.0.1:3000";

async function main(): Promise<void> {
  const secrets = loadOrCreateLocalSecrets(LOCAL_SECRETS_FILE);
  process.stdout.write(
    "Synthesizing the stack (cached in .cache/assembly until lib/, lambda/ or cdk.json change)…\n",
  );
  const relay = await startDeployedRelay({
    secrets,
    relayPort: Number(process.env.RELAY_PORT ?? 3000),
    sandboxPort: Number(process.env.OPSCOM_SANDBOX_PORT ?? 4010),
  });
  const permits = [1, 2, 3].map(() => relay.sandbox.createPermit());
  // The send command is run from another shell, which may not have RELAY_PORT: on any port but
  // the CLI's default it names the relay itself.
  const urlFlag = relay.url === DEFAULT_RELAY_URL ? "" : `--url ${relay.url} `;
  const lines = [
    "",
    "opscom-permit-relay is running locally, as the synthesized stack deploys it",
    `  assembly        ${relay.assembly.directory} (${relay.assembly.synthesized ? `synthesized in ${(relay.assembly.milliseconds / 1000).toFixed(1)} s` : "cached"})`,
    `  functions       the bundles' index.js, environment and timeouts from the template; retry queue dead-letters after ${relay.shape.retryQueue.maxReceiveCount} receives`,
    `  relay           ${relay.url}/webhooks/${DEMO_VENDOR}`,
    `  OPS-COM sandbox ${relay.sandbox.url} (client code ${relay.sandbox.defaultClientCode}; faults: POST /__sandbox/faults)`,
    `  demo vendor     ${DEMO_VENDOR} (signing secret in ${LOCAL_SECRETS_FILE})`,
    "  sandbox permits",
    ...permits.map((p) => `    ${p}`),
    "",
    "Delete one (run it twice to see the duplicate answer):",
    `  npm run send -- ${urlFlag}--reference ${permits[0]} --id demo-${(permits[0] as string).slice(0, 8)}`,
    "An unsigned post is refused:",
    `  curl -i -X POST ${relay.url}/webhooks/${DEMO_VENDOR} -H 'content-type: application/json' -d '{}'`,
    "",
    "Ctrl-C stops it.",
    "",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  const stop = () => {
    relay.close().finally(() => process.exit(0));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`npm start failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
