// The local relay of the throughput run (in-memory ledger and queue, the real OPS-COM HTTP
// client, the real Powertools telemetry) in a process of its own: the load generator does not
// share its event loop and its resident memory is the relay's alone. The parent sends stdout
// to /dev/null, so every log line and EMF blob is formatted and written, as in Lambda.
import { startLocalRelay } from "../../local/harness";
import type { OpscomSandbox } from "../../local/opscom-sandbox";

async function main(): Promise<void> {
  const relay = await startLocalRelay({
    relayPort: 0,
    secrets: {
      opscomToken: process.env.BENCH_OPSCOM_TOKEN as string,
      vendorSecret: process.env.BENCH_VENDOR_SECRET as string,
    },
    // The sandbox runs in its own process; the harness reads only `url` from a sandbox it did
    // not start (and never closes it).
    sandbox: { url: process.env.BENCH_SANDBOX_URL } as OpscomSandbox,
  });
  process.send?.({ url: relay.url });
  process.on("disconnect", () => process.exit(0));
  // What the heap holds once the garbage is gone (the parent starts this child with
  // --expose-gc): after a run, that is mostly the in-memory ledger.
  process.on("message", (question) => {
    if (question !== "heap") return;
    global.gc?.();
    process.send?.({ heapUsedMiB: process.memoryUsage().heapUsed / 2 ** 20 });
  });
}

void main();
