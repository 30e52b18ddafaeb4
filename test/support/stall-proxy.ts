// A TCP stand-in for a dependency that misbehaves below HTTP: in front of a real local endpoint
// it accepts connections and never answers (`stall`), or passes them through, each answer held
// back by `delayMs` (a slow dependency). The mode is read per new connection, so switching a
// stalled proxy to `pass` is an endpoint that recovers.
import net, { type AddressInfo } from "node:net";

export type ProxyMode = { readonly kind: "stall" } | { readonly kind: "pass"; readonly delayMs?: number };

export interface StallProxy {
  /** `http://127.0.0.1:<port>`, for an `AWS_ENDPOINT_URL_<SERVICE>` variable. */
  readonly url: string;
  mode: ProxyMode;
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

export async function startStallProxy(
  target: string,
  initial: ProxyMode = { kind: "stall" },
): Promise<StallProxy> {
  const { hostname, port } = new URL(target);
  const open = new Set<net.Socket>();
  let mode = initial;
  let connections = 0;
  const track = (socket: net.Socket) => {
    open.add(socket);
    socket.on("close", () => open.delete(socket));
    socket.on("error", () => undefined);
  };
  const server = net.createServer((client) => {
    connections++;
    track(client);
    if (mode.kind === "stall") return; // read nothing, answer nothing, keep it open
    const delayMs = mode.delayMs ?? 0;
    const later = (fn: () => void) => (delayMs > 0 ? setTimeout(fn, delayMs) : fn());
    const upstream = net.connect(Number(port), hostname);
    track(upstream);
    client.pipe(upstream);
    upstream.on("data", (chunk: Buffer) => later(() => client.write(chunk)));
    upstream.on("end", () => later(() => client.end()));
    client.on("close", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get mode() {
      return mode;
    },
    set mode(next: ProxyMode) {
      mode = next;
    },
    get connections() {
      return connections;
    },
    close: async () => {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
