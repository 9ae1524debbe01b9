import { z } from "zod";
import { parseDuration } from "../duration.js";

/* The stack schema's values: names, durations, commands, environment, mounts, healthchecks, ports. */

const NAME_RE = /^[a-z0-9][a-z0-9_.-]*$/;
const nameMessage = "use lowercase letters, digits, '.', '_' or '-', starting with a letter or digit";
export const ResourceName = z.string().regex(NAME_RE, { message: nameMessage });

export const Duration = z
  .string({ error: 'expected a duration like "30s"' })
  .refine((s) => parseDuration(s) !== undefined, {
    message: 'expected a duration like "30s", "500ms" or "1m30s"',
  });

const Owner = z
  .string()
  .regex(/^\d+:\d+$/, { message: 'expected "uid:gid" with numbers, e.g. "999:999"' })
  .describe('Numeric owner of a created directory, "uid:gid"');
const Mode = z
  .string()
  .regex(/^0?[0-7]{3}$/, { message: 'expected an octal mode as a string, e.g. "0755"' })
  .describe('Permission bits of a created directory, e.g. "0700"');

/** A command: a list of words, or one string split on whitespace (quotes keep words together). */
export const Command = z.union([z.array(z.string()), z.string()]);

/** Environment values; a secret is never printed (shown as "(sensitive)") nor stored in labels. */
export const EnvValue = z.union([
  z.string(),
  z.number(),
  z.boolean(),
  z.strictObject({ value: z.union([z.string(), z.number()]), secret: z.boolean().default(false) }),
  z.strictObject({
    fromEnv: z.string().describe("Name of a variable in shctl's own environment"),
    default: z.string().optional(),
    secret: z.boolean().default(false),
  }),
]);

export const HostPath = z.strictObject({
  path: z.string().min(1),
  root: z.enum(["data", "project"]).default("data").describe("Relative to the data root or the project dir"),
});

export const BindMount = z.strictObject({
  type: z.literal("bind").default("bind"),
  source: z.string().min(1).describe("Path relative to `root`; must stay inside it"),
  root: z.enum(["data", "project"]).default("data"),
  target: z.string().startsWith("/", { message: "expected an absolute path inside the container" }),
  readOnly: z.boolean().default(false),
  kind: z.enum(["dir", "file"]).default("dir").describe("A dir is created when missing; a file must exist"),
  owner: Owner.optional(),
  mode: Mode.optional(),
  selinux: z.enum(["z", "Z"]).optional().describe("SELinux relabel flag"),
});

export const TmpfsMount = z.strictObject({
  type: z.literal("tmpfs"),
  target: z.string().startsWith("/", { message: "expected an absolute path inside the container" }),
  sizeBytes: z.number().int().positive().optional(),
});

export const Mount = z.union([TmpfsMount, BindMount]);

export const Healthcheck = z.strictObject({
  test: Command.describe('A list is run as-is (exec form); a string runs in "/bin/sh -c"'),
  interval: Duration.default("30s"),
  timeout: Duration.default("30s"),
  retries: z.number().int().min(0).default(3),
  startPeriod: Duration.default("0s"),
});

const PORT_SHAPE =
  /^(?:(?:(\d{1,3}(?:\.\d{1,3}){3})|\[[0-9a-fA-F:]+\]):)?(\d{1,5}):(\d{1,5})(?:\/(?:tcp|udp))?$/;
const inPortRange = (n: string | undefined) => n !== undefined && Number(n) >= 1 && Number(n) <= 65535;

export const PortSpec = z.union([
  z.string().superRefine((p, ctx) => {
    const m = PORT_SHAPE.exec(p);
    if (!m) {
      ctx.addIssue({
        code: "custom",
        message: 'expected "HOST:CONTAINER", "IP:HOST:CONTAINER" or with "/udp", e.g. "9006:80"',
      });
    } else if (
      !inPortRange(m[2]) ||
      !inPortRange(m[3]) ||
      (m[1] ?? "").split(".").some((x) => Number(x) > 255)
    ) {
      ctx.addIssue({ code: "custom", message: "ports must be 1-65535 and an IPv4 address's parts 0-255" });
    }
  }),
  z.strictObject({
    host: z.number().int().min(1).max(65535),
    container: z.number().int().min(1).max(65535),
    hostIp: z.string().optional(),
    protocol: z.enum(["tcp", "udp"]).default("tcp"),
  }),
]);
