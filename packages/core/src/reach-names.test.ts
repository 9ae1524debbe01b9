import { describe, expect, it } from "vitest";
import { pickAddress } from "./reach-names.js";

const on = (ip: string, aliases: string[] = [], ipv6 = "") => ({ ip, ipv6, aliases });
type Net = ReturnType<typeof on>;

const containers: { id: string; name: string; networks: Record<string, Net> }[] = [
  {
    id: "aaaaaaaaaaaa1111",
    name: "s-web",
    networks: {
      s_front: on("172.20.0.2", ["web", "www", "aaaaaaaaaaaa"]),
      s_back: on("172.21.0.2", ["web"]),
    },
  },
  { id: "bbbbbbbbbbbb2222", name: "s-queue", networks: { s_back: on("172.21.0.3", ["queue"]) } },
  { id: "cccccccccccc3333", name: "s-v6", networks: { s_back: on("", ["v6"], "fd00::3") } },
  { id: "dddddddddddd4444", name: "other", networks: { elsewhere: on("10.9.0.2", ["queue"]) } },
];

describe("pickAddress", () => {
  it("finds a service by its alias on the first stack network where it answers", () => {
    expect(pickAddress(containers, "web", ["s_front", "s_back"])).toEqual({
      ip: "172.20.0.2",
      network: "s_front",
      container: "aaaaaaaaaaaa1111",
    });
    expect(pickAddress(containers, "web", ["s_back", "s_front"])?.ip).toBe("172.21.0.2");
  });

  it("answers to other aliases, container names and ids (any case), as the engine's DNS does", () => {
    expect(pickAddress(containers, "WWW", ["s_front"])?.ip).toBe("172.20.0.2");
    expect(pickAddress(containers, "s-queue", ["s_back"])?.ip).toBe("172.21.0.3");
    expect(pickAddress(containers, "bbbbbbbbbbbb", ["s_back"])?.ip).toBe("172.21.0.3");
    expect(pickAddress(containers, "bbbbbbbbbbbb2222", ["s_back"])?.ip).toBe("172.21.0.3");
  });

  it("ignores networks that are not the stack's, and short prefixes of ids", () => {
    expect(pickAddress(containers, "queue", ["s_back"])?.ip).toBe("172.21.0.3");
    expect(pickAddress(containers, "queue", ["s_front"])).toBeUndefined();
    expect(pickAddress(containers, "bbbb", ["s_back"])).toBeUndefined();
  });

  it("uses the IPv6 address when a container has no IPv4 one", () => {
    expect(pickAddress(containers, "v6", ["s_back"])?.ip).toBe("fd00::3");
  });

  it("picks the same container every time when several answer", () => {
    const twins = [
      { id: "2", name: "s-b", networks: { n: on("172.22.0.3", ["x"]) } },
      { id: "1", name: "s-a", networks: { n: on("172.22.0.2", ["x"]) } },
    ];
    expect(pickAddress(twins, "x", ["n"])?.ip).toBe("172.22.0.2");
    expect(pickAddress([...twins].reverse(), "x", ["n"])?.ip).toBe("172.22.0.2");
  });
});
