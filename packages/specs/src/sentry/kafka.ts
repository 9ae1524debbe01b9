import type { StackConnections } from "@sh/core";
import { Kafka, logLevel } from "kafkajs";

/** Where the broker listens on the stack network, and advertises itself (KAFKA_ADVERTISED_LISTENERS). */
export const KAFKA_BROKER = "kafka:9092";

/**
 * A kafkajs client that reaches the broker the way shctl reaches any container: `kafka:9092` (the
 * name the broker advertises, which only the stack network resolves) goes through the stack
 * connections, straight to the container or through the engine (Docker Desktop, a remote engine).
 */
export function kafkaClient(
  conn: Pick<StackConnections, "socket">,
  clientId = "shctl",
  broker: string = KAFKA_BROKER,
): Kafka {
  return new Kafka({
    clientId,
    brokers: [broker],
    connectionTimeout: 3000,
    requestTimeout: 10000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
    socketFactory: ({ host, port, onConnect }) => {
      const socket = conn.socket(host, port, onConnect);
      socket.setKeepAlive(true, 60_000);
      return socket;
    },
  });
}
