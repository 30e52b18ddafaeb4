// The OPS-COM sandbox of the throughput run, in a process of its own so neither the load
// generator nor the relay pays for its work. The parent drives it through /__sandbox/*.
import { startOpscomSandbox } from "../../local/opscom-sandbox";

async function main(): Promise<void> {
  const token = process.env.BENCH_OPSCOM_TOKEN as string;
  const clientCode = process.env.BENCH_CLIENT_CODE as string;
  const sandbox = await startOpscomSandbox({ clients: { [clientCode]: { tokens: [token] } } });
  process.send?.({ url: sandbox.url });
  process.on("disconnect", () => process.exit(0));
}

void main();
