import type { DoctorFinding } from "@sh/core";
import { describe, expect, it } from "vitest";
import { createColors } from "./colors.js";
import { renderDoctorSummary, renderFinding } from "./doctor.js";

const plain = createColors(false);

const finding = (f: Partial<DoctorFinding>): DoctorFinding => ({
  id: "x",
  title: "x",
  source: "builtin",
  status: "ok",
  detail: "fine",
  elapsedMs: 1,
  ...f,
});

describe("renderFinding", () => {
  it("marks each status and shows the detail, its lines, the fix and the commands", () => {
    expect(renderFinding(finding({ title: "engine", detail: "Docker 24" }), plain)).toBe(
      "✓ engine: Docker 24",
    );
    expect(renderFinding(finding({ status: "skipped", title: "t", detail: "d" }), plain)).toBe("- t: d");
    expect(
      renderFinding(
        finding({
          status: "failure",
          title: "data directories (owner, mode)",
          detail: "1 of 3 data directories differ from the spec",
          lines: ["postgres (postgres): owner 0:0, the spec says 999:999"],
          fix: "give them the owner and mode the stack states",
          commands: ["sudo chown 999:999 /srv/data/postgres"],
        }),
        plain,
      ),
    ).toBe(
      [
        "✗ data directories (owner, mode): 1 of 3 data directories differ from the spec",
        "    postgres (postgres): owner 0:0, the spec says 999:999",
        "    fix: give them the owner and mode the stack states",
        "      sudo chown 999:999 /srv/data/postgres",
      ].join("\n"),
    );
    expect(renderFinding(finding({ status: "warning", title: "clock", detail: "off" }), plain)).toBe(
      "! clock: off",
    );
  });

  it("sums up", () => {
    expect(renderDoctorSummary({ ok: 9, warning: 1, failure: 0, skipped: 2 }, plain)).toBe(
      "\n9 ok, 1 warning, 0 failed, 2 skipped",
    );
    expect(renderDoctorSummary({ ok: 3, warning: 0, failure: 2, skipped: 0 }, plain)).toBe(
      "\n3 ok, 0 warnings, 2 failed",
    );
  });
});
