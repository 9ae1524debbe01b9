import net from "node:net";
import { Kafka, logLevel } from "kafkajs";

/**
 * A kafkajs client that reaches the broker from the host. The broker advertises itself as
 * `kafka:9092`, a name only the stack network resolves, so every connection to that name is
 * sent to the address shctl found for the container instead.
 */
export function kafkaClient(address: { host: string; port: number }, clientId = "shctl"): Kafka {
  return new Kafka({
    clientId,
    brokers: [`${address.host}:${address.port}`],
    connectionTimeout: 3000,
    requestTimeout: 10000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
    socketFactory: ({ host, port, onConnect }) => {
      const target = host === "kafka" ? address : { host, port };
      const socket = net.connect({ host: target.host, port: target.port }, onConnect);
      socket.setKeepAlive(true, 60_000);
      return socket;
    },
  });
}
