import type { NetworkInterfaceInfo } from "node:os";
import { describe, expect, it } from "vitest";
import { UsageError } from "./errors.js";
import { decideMode, describeFacts, inCidr, ipBytes, type ReachFacts, reachSetting } from "./reach-mode.js";

const iface = (cidr: string): NetworkInterfaceInfo =>
  ({
    cidr,
    address: cidr.split("/")[0],
    family: cidr.includes(":") ? "IPv6" : "IPv4",
  }) as NetworkInterfaceInfo;

const local: ReachFacts = {
  setting: "auto",
  engineWhere: "unix:///var/run/docker.sock",
  engineOs: "Debian GNU/Linux 12 (bookworm)",
  interfaces: {
    lo: [iface("127.0.0.1/8"), iface("::1/128")],
    eth0: [iface("10.1.2.3/24")],
    "br-1a2b": [iface("172.18.0.1/16"), iface("fd00:1::1/64")],
  },
};

describe("inCidr / ipBytes", () => {
  it.each([
    ["172.18.0.2", "172.18.0.1/16", true],
    ["172.19.0.2", "172.18.0.1/16", false],
    ["10.1.2.200", "10.1.2.3/24", true],
    ["10.1.3.1", "10.1.2.3/24", false],
    ["10.1.3.1", "10.1.2.3/23", true],
    ["1.2.3.4", "0.0.0.0/0", true],
    ["fd00:1::2", "fd00:1::1/64", true],
    ["fd00:2::2", "fd00:1::1/64", false],
    ["::ffff:172.18.0.9", "172.18.0.1/16", true],
    ["172.18.0.2", "fd00:1::1/64", false],
    ["not-an-ip", "172.18.0.1/16", false],
  ])("%s in %s: %s", (ip, cidr, want) => {
    expect(inCidr(ip, cidr)).toBe(want);
  });

  it("expands IPv6 forms", () => {
    expect(ipBytes("::1")).toEqual([...new Array(15).fill(0), 1]);
    expect(ipBytes("fd00::1:2")?.slice(12)).toEqual([0, 1, 0, 2]);
    expect(ipBytes("::ffff:1.2.3.4")).toEqual([1, 2, 3, 4]);
    expect(ipBytes("64:ff9b::10.0.0.1")?.slice(12)).toEqual([10, 0, 0, 1]);
    expect(ipBytes("fe80::1%eth0")?.[0]).toBe(0xfe);
  });
});

describe("reachSetting", () => {
  it("reads SHCTL_REACH, auto when unset", () => {
    expect(reachSetting({})).toBe("auto");
    expect(reachSetting({ SHCTL_REACH: "" })).toBe("auto");
    expect(reachSetting({ SHCTL_REACH: "Engine" })).toBe("engine");
    expect(reachSetting({ SHCTL_REACH: "direct" })).toBe("direct");
    expect(() => reachSetting({ SHCTL_REACH: "tunnel" })).toThrow(UsageError);
  });
});

describe("decideMode", () => {
  it("goes direct to an address on one of this process's interfaces, with a local engine", () => {
    expect(decideMode(local, "172.18.0.5")).toEqual({
      mode: "direct",
      why: "172.18.0.5 is on this machine's interface br-1a2b",
    });
    expect(decideMode(local, "fd00:1::5").mode).toBe("direct");
  });

  it("goes through the engine for an address on none of them (a VM, another namespace)", () => {
    expect(decideMode(local, "172.30.0.5")).toEqual({
      mode: "engine",
      why: "172.30.0.5 is on none of this process's network interfaces",
    });
    // An isolated namespace: only loopback.
    expect(decideMode({ ...local, interfaces: { lo: [iface("127.0.0.1/8")] } }, "172.18.0.5").mode).toBe(
      "engine",
    );
  });

  it("goes through the engine for a remote engine or Docker Desktop, whatever the address", () => {
    const remote = decideMode({ ...local, engineWhere: "http://10.1.2.9:2375" }, "172.18.0.5");
    expect(remote.mode).toBe("engine");
    expect(remote.why).toContain("http://10.1.2.9:2375");
    const desktop = decideMode({ ...local, engineOs: "Docker Desktop" }, "172.18.0.5");
    expect(desktop.mode).toBe("engine");
    expect(desktop.why).toContain("Docker Desktop");
  });

  it("obeys SHCTL_REACH over everything", () => {
    expect(decideMode({ ...local, setting: "engine" }, "172.18.0.5")).toEqual({
      mode: "engine",
      why: "SHCTL_REACH=engine",
    });
    expect(decideMode({ ...local, setting: "direct", engineOs: "Docker Desktop" }, "172.30.0.5").mode).toBe(
      "direct",
    );
  });

  it("describes the setting in one line", () => {
    expect(describeFacts(local)).toMatch(/^auto: directly to container addresses on this machine's networks/);
    expect(describeFacts({ ...local, engineOs: "Docker Desktop" })).toMatch(
      /^auto: through the engine \(Docker Desktop/,
    );
    expect(describeFacts({ ...local, setting: "engine" })).toBe("engine (SHCTL_REACH=engine)");
  });
});
