import { describe, expect, it } from "vitest";
import { createColors, stripAnsi } from "./colors.js";
import { columnWidth } from "./format.js";
import {
  formatPlainEvent,
  isMilestone,
  JsonProgress,
  LiveProgress,
  PlainProgress,
  phaseMessage,
} from "./progress.js";

const plain = createColors(false);
const at = new Date("2026-11-24T19:00:00.123Z");

/** A tiny terminal: text, CR, LF, cursor up (ESC[nA) and erase down (ESC[J); other sequences dropped. */
function screen(output: string): string[] {
  const lines: string[] = [""];
  let row = 0;
  let col = 0;
  let i = 0;
  while (i < output.length) {
    const ch = output[i] as string;
    if (ch === "\u001b") {
      // biome-ignore lint/suspicious/noControlCharactersInRegex: parsing escape sequences
      const m = /^\u001b\[(\??)(\d*)([A-Za-z])/.exec(output.slice(i));
      if (m) {
        const n = Number(m[2] || "1");
        if (m[1] === "" && m[3] === "A") row = Math.max(0, row - n);
        if (m[1] === "" && m[3] === "J") {
          lines.length = row + 1;
          lines[row] = (lines[row] as string).slice(0, col);
        }
        i += m[0].length;
        continue;
      }
    }
    if (ch === "\n") {
      row++;
      col = 0;
      if (row >= lines.length) lines.push("");
    } else if (ch === "\r") col = 0;
    else {
      const line = lines[row] as string;
      lines[row] = line.slice(0, col) + ch + line.slice(col + 1);
      col++;
    }
    i++;
  }
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

function sink() {
  const chunks: string[] = [];
  return { chunks, write: (s: string) => chunks.push(s), text: () => chunks.join("") };
}

describe("plain progress lines", () => {
  it("formats a phase with its time", () => {
    expect(
      formatPlainEvent(
        { type: "phase", resource: "service web", phase: "healthy", elapsedMs: 4200 },
        at,
        plain,
      ),
    ).toBe("2026-11-24T19:00:00Z service web: healthy (4.2s)");
  });

  it("adds the message, and leaves out the time when there is none", () => {
    expect(
      formatPlainEvent(
        { type: "phase", resource: "image db", phase: "pulling", message: "postgres:16" },
        at,
        plain,
      ),
    ).toBe("2026-11-24T19:00:00Z image db: pulling — postgres:16");
    expect(
      formatPlainEvent(
        {
          type: "phase",
          resource: "job migrate",
          phase: "failed",
          message: "exited with code 1",
          elapsedMs: 850,
        },
        at,
        plain,
      ),
    ).toBe("2026-11-24T19:00:00Z job migrate: failed — exited with code 1 (850ms)");
  });

  it("formats output and warnings, and drops pull progress bars", () => {
    expect(
      formatPlainEvent({ type: "output", resource: "image app", line: "Step 2/5 : RUN make" }, at, plain),
    ).toBe("2026-11-24T19:00:00Z image app | Step 2/5 : RUN make");
    expect(
      formatPlainEvent(
        { type: "output", resource: "image db", line: "Downloading [==>      ]  1.2MB/50MB" },
        at,
        plain,
      ),
    ).toBeUndefined();
    expect(formatPlainEvent({ type: "warning", message: "took over a stale lock" }, at, plain)).toBe(
      "2026-11-24T19:00:00Z warning: took over a stale lock",
    );
  });

  it("drops the colour codes build output brings, and lines only they made", () => {
    expect(
      formatPlainEvent(
        { type: "output", resource: "image app", line: "\u001b[91mfatal: missing thing\n" },
        at,
        plain,
      ),
    ).toBe("2026-11-24T19:00:00Z image app | fatal: missing thing");
    expect(formatPlainEvent({ type: "output", resource: "image app", line: "\u001b[0m" }, at, plain)).toBe(
      undefined,
    );
    const out = sink();
    const live = new LiveProgress(Object.assign(out, { columns: 80, rows: 24 }), plain, "applying", () => 0);
    live.event({ type: "phase", resource: "image app", phase: "building" });
    live.event({ type: "output", resource: "image app", line: "\u001b[91mfatal: missing thing" });
    live.event({ type: "output", resource: "image app", line: "\u001b[0m" });
    expect(live.frameText()).not.toContain("\u001b[91m");
    expect(screen(out.text() + live.frameText()).join("\n")).toContain("fatal: missing thing");
  });

  it("writes one line per event", () => {
    const out = sink();
    const p = new PlainProgress(out, plain, () => at);
    p.event({ type: "phase", resource: "service web", phase: "creating" });
    p.note("finishing the steps in flight");
    expect(out.text()).toBe(
      "2026-11-24T19:00:00Z service web: creating\n2026-11-24T19:00:00Z finishing the steps in flight\n",
    );
  });
});

describe("JSON progress", () => {
  it("writes each event as one JSON line", () => {
    const out = sink();
    const p = new JsonProgress(out);
    p.event({ type: "phase", resource: "service web", phase: "healthy", elapsedMs: 12 });
    p.note("interrupted");
    expect(
      out
        .text()
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { type: "phase", resource: "service web", phase: "healthy", elapsedMs: 12 },
      { type: "warning", message: "interrupted" },
    ]);
  });
});

describe("live progress", () => {
  it("keeps finished resources above and redraws those in progress in place", () => {
    const out = sink();
    let now = 0;
    const live = new LiveProgress(
      Object.assign(out, { columns: 80, rows: 24 }),
      plain,
      "applying",
      () => now,
    );
    live.expect(["service web", "job migrate"]);
    live.event({ type: "phase", resource: "job migrate", phase: "running" });
    live.event({ type: "output", resource: "job migrate", line: "applying 0042_users" });
    live.event({ type: "phase", resource: "service web", phase: "creating" });
    now = 1500;
    live.frameText();
    const mid = out.chunks.length;
    out.write(live.frameText());
    expect(screen(out.text())).toEqual([
      "  ⠙ job migrate  running      1.5s  applying 0042_users",
      "  ⠙ service web  creating     1.5s",
      "  applying · 1.5s · 2 in progress, 0 finished",
    ]);
    expect(mid).toBe(0); // frameText only builds text; nothing is written without a timer
    live.event({
      type: "phase",
      resource: "job migrate",
      phase: "done",
      message: "completed",
      elapsedMs: 2000,
    });
    live.event({ type: "phase", resource: "service web", phase: "running", elapsedMs: 2100 });
    now = 2100;
    live.event({ type: "phase", resource: "service web", phase: "waiting" });
    now = 4000;
    out.write(live.frameText());
    expect(screen(out.text())).toEqual([
      "  ✔ job migrate  done         2.0s  completed",
      "  ✔ service web  running      2.1s",
      "  ⠹ service web  waiting      1.9s",
      // web is back in progress: it counts once, not as both finished and in progress.
      "  applying · 4.0s · 1 in progress, 1 finished",
    ]);
    live.event({ type: "phase", resource: "service web", phase: "healthy", elapsedMs: 4200 });
    live.stop();
    expect(screen(out.text())).toEqual([
      "  ✔ job migrate  done         2.0s  completed",
      "  ✔ service web  running      2.1s",
      "  ✔ service web  healthy      4.2s",
    ]);
  });

  it("cuts lines to the terminal width and never grows past its height", () => {
    const out = sink();
    const live = new LiveProgress(Object.assign(out, { columns: 40, rows: 6 }), plain, "applying", () => 0);
    for (let i = 0; i < 10; i++) live.event({ type: "phase", resource: `service s${i}`, phase: "starting" });
    live.event({ type: "output", resource: "service s0", line: "x".repeat(200) });
    out.write(live.frameText());
    const lines = screen(out.text());
    expect(lines.length).toBeLessThanOrEqual(5);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(39);
    expect(lines.at(-2)).toContain("… and 8 more");
  });

  it("treats a job's running as in progress and a service's as a milestone", () => {
    expect(isMilestone("job migrate", "running")).toBe(false);
    expect(isMilestone("service web", "running")).toBe(true);
    expect(isMilestone("image app", "building")).toBe(false);
    expect(isMilestone("image app", "unchanged")).toBe(true);
  });

  it("colours only when colours are on", () => {
    const out = sink();
    const live = new LiveProgress(out, createColors(true), "applying", () => 0);
    live.event({ type: "phase", resource: "service web", phase: "failed", message: "boom" });
    live.stop();
    expect(out.text()).toContain("\u001b[31m");
    expect(stripAnsi(out.text())).toContain("✖ service web  failed");
  });
});

describe("messages and columns", () => {
  it("indents its own notes like the resource lines", () => {
    const out = sink();
    const live = new LiveProgress(Object.assign(out, { columns: 80, rows: 24 }), plain, "applying", () => 0);
    live.event({ type: "phase", resource: "service web", phase: "running", elapsedMs: 10 });
    live.note("finishing the steps in flight");
    live.stop();
    expect(screen(out.text())).toEqual([
      "  ✔ service web  running      10ms",
      "  finishing the steps in flight",
    ]);
  });

  it("cuts a finished resource's long message to one screen line", () => {
    const out = sink();
    const live = new LiveProgress(Object.assign(out, { columns: 60, rows: 24 }), plain, "applying", () => 0);
    live.event({
      type: "phase",
      resource: "service web",
      phase: "failed",
      message: `service web: start failed: ${"driver failed programming external connectivity ".repeat(3)}`,
    });
    live.stop();
    const [line, ...rest] = screen(out.text());
    expect(rest).toEqual([]);
    expect(line).toMatch(/^ {2}✖ service web {2}failed +start failed: driver .*…$/);
    expect(line?.length).toBe(59);
  });

  it("does not repeat the resource a failure message starts with", () => {
    expect(phaseMessage("job migrate", "job migrate: run failed: exited with code 3")).toBe(
      "run failed: exited with code 3",
    );
    expect(phaseMessage("job migrate", "job migrate-2: failed")).toBe("job migrate-2: failed");
    expect(phaseMessage("service web", undefined)).toBeUndefined();
    expect(
      formatPlainEvent(
        {
          type: "phase",
          resource: "job migrate",
          phase: "failed",
          message: "job migrate: run failed: exited with code 3",
        },
        at,
        plain,
      ),
    ).toBe("2026-11-24T19:00:00Z job migrate: failed — run failed: exited with code 3");
  });

  it("sizes a name column by the names that fit under the cap", () => {
    expect(columnWidth(["service web", "network default"], 40)).toBe(15);
    expect(columnWidth(["service web", `service ${"x".repeat(50)}`], 40)).toBe(11);
    expect(columnWidth([], 40)).toBe(0);
  });

  it("keeps the live view's columns tight when one name is very long", () => {
    const out = sink();
    const long = `service ${"a-very-long-service-name-".repeat(2)}x`;
    const live = new LiveProgress(Object.assign(out, { columns: 150, rows: 24 }), plain, "applying", () => 0);
    live.expect(["network default", long, "service web"]);
    live.event({ type: "phase", resource: "network default", phase: "done", elapsedMs: 67 });
    live.event({ type: "phase", resource: "service web", phase: "running", elapsedMs: 491 });
    live.event({ type: "phase", resource: long, phase: "running", elapsedMs: 487 });
    live.stop();
    expect(screen(out.text())).toEqual([
      "  ✔ network default  done         67ms",
      "  ✔ service web      running     491ms",
      `  ✔ ${long}  running     487ms`,
    ]);
  });

  it("shows a failure pushed in after the fact as failed, with the message once", () => {
    const out = sink();
    let now = 0;
    const live = new LiveProgress(
      Object.assign(out, { columns: 150, rows: 24 }),
      plain,
      "applying",
      () => now,
    );
    live.event({ type: "phase", resource: "service db", phase: "waiting" });
    now = 6000;
    live.event({
      type: "phase",
      resource: "service db",
      phase: "failed",
      message: "service db: wait for health failed: not healthy after 6s",
    });
    live.stop();
    expect(screen(out.text())).toEqual([
      "  ✖ service db  failed       6.0s  wait for health failed: not healthy after 6s",
    ]);
  });
});

describe("backup and restore figures", () => {
  const packed = (done: number, files: number, elapsedMs: number) =>
    ({
      type: "progress",
      resource: "archive b.tar.gz",
      what: "backup",
      bytes: { done, total: 100_000_000 },
      files,
      elapsedMs,
    }) as const;

  it("plain lines say the phase, bytes of the total, files, rate and time left, one every 5 s", () => {
    const out = sink();
    let now = at.getTime();
    const p = new PlainProgress(out, plain, () => new Date(now));
    p.event({ type: "phase", resource: "archive b.tar.gz", phase: "packing" });
    for (let i = 1; i <= 12; i++) {
      now += 1000;
      p.event(packed(i * 5_000_000, i * 10, i * 1000));
    }
    const lines = out.text().trimEnd().split("\n");
    const figures = lines.filter((l) => l.includes(" — "));
    expect(figures.length).toBe(2);
    expect(figures[0]).toMatch(
      /archive b\.tar\.gz: packing — 30\.0\/100\.0 MB {2}5\.0 MB\/s {2}~14s {2}60 files$/,
    );
  });

  it("live: the figures on the resource's line", () => {
    const out = sink();
    let now = 0;
    const live = new LiveProgress(
      Object.assign(out, { columns: 120, rows: 24 }),
      plain,
      "backing up",
      () => now,
    );
    live.event({ type: "phase", resource: "archive b.tar.gz", phase: "packing" });
    now = 2000;
    live.event(packed(50_000_000, 7, 2000));
    const lines = screen(live.frameText());
    const row = lines.find((l) => l.includes("archive b.tar.gz"));
    expect(row).toMatch(/packing +2\.0s +\[#{8}-{8}\] +50% +50\.0\/100\.0 MB .*7 files$/);
    live.stop();
  });
});
