import { describe, expect, it } from "vitest";
import { createColors } from "./colors.js";
import { cleanView, renderError, usageErrorJson } from "./error.js";

describe("errors", () => {
  it("renders message, details (a multi-line one keeps its indent) and hint", () => {
    expect(
      renderError(
        { name: "UsageError", message: "bad", details: ["a", "  b\nc"], hint: "fix it", exitCode: 2 },
        createColors(false),
      ),
    ).toBe("error: bad\n  a\n    b\n    c\nhint: fix it");
  });

  it("drops colour codes that came with foreign text, and detail lines only they made", () => {
    expect(
      cleanView({
        name: "StepFailedError",
        message: "image app: build failed",
        details: ["last build output:", "  \u001b[91mfatal: missing thing", "  \u001b[0m", "", "  done"],
        hint: "fix it",
        exitCode: 1,
      }),
    ).toEqual({
      name: "StepFailedError",
      message: "image app: build failed",
      details: ["last build output:", "  fatal: missing thing", "", "  done"],
      hint: "fix it",
      exitCode: 1,
    });
  });

  it("turns commander's usage text into the JSON error object, suggestions as details", () => {
    expect(
      usageErrorJson(
        "error: unknown command 'aply'\n(Did you mean apply?)\n(add --help for usage and examples)\n",
      ),
    ).toEqual({
      type: "error",
      error: "UsageError",
      message: "unknown command 'aply'",
      details: ["Did you mean apply?"],
      hint: "run the command with --help for its options and examples",
      exitCode: 2,
    });
    expect(usageErrorJson("")).toMatchObject({ message: "invalid usage", details: [], exitCode: 2 });
  });
});
