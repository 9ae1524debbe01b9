import { describe, expect, it } from "vitest";
import { createUi } from "../ui.js";
import { colorEnabled, createColors, fit, isCI, visibleWidth } from "./colors.js";
import { renderError } from "./error.js";

describe("colours", () => {
  it("are on for a terminal only", () => {
    expect(colorEnabled({ isTTY: true, env: {} })).toBe(true);
    expect(colorEnabled({ isTTY: false, env: {} })).toBe(false);
    expect(colorEnabled({ isTTY: undefined, env: {} })).toBe(false);
    expect(colorEnabled({ isTTY: true, env: { TERM: "dumb" } })).toBe(false);
  });

  it("are off with NO_COLOR, even on a terminal", () => {
    expect(colorEnabled({ isTTY: true, env: { NO_COLOR: "1" } })).toBe(false);
    expect(colorEnabled({ isTTY: true, env: { NO_COLOR: "1", FORCE_COLOR: "1" } })).toBe(false);
    // An empty NO_COLOR does not count (no-color.org).
    expect(colorEnabled({ isTTY: true, env: { NO_COLOR: "" } })).toBe(true);
    const ui = createUi({}, { NO_COLOR: "1", FORCE_COLOR: "1" });
    expect(ui.c.red("x")).toBe("x");
    expect(ui.ce.red("x")).toBe("x");
  });

  it("are off with --no-color", () => {
    expect(colorEnabled({ isTTY: true, env: {}, flag: false })).toBe(false);
    const ui = createUi({ color: false }, { FORCE_COLOR: "1" });
    expect(renderError({ name: "E", message: "m", details: [], hint: "h", exitCode: 1 }, ui.ce)).toBe(
      "error: m\nhint: h",
    );
  });

  it("can be forced where there is no terminal", () => {
    expect(colorEnabled({ isTTY: false, env: { FORCE_COLOR: "1" } })).toBe(true);
    expect(colorEnabled({ isTTY: false, env: { FORCE_COLOR: "0" } })).toBe(false);
    expect(createUi({}, { FORCE_COLOR: "1" }).c.red("x")).toBe("\u001b[31mx\u001b[39m");
  });

  it("are never used for --json", () => {
    expect(createUi({ json: true }, { FORCE_COLOR: "1" }).c.red("x")).toBe("x");
  });
});

describe("CI", () => {
  it("is set by any value but empty, 0 and false", () => {
    expect(isCI({ CI: "true" })).toBe(true);
    expect(isCI({ CI: "1" })).toBe(true);
    expect(isCI({ CI: "false" })).toBe(false);
    expect(isCI({ CI: "0" })).toBe(false);
    expect(isCI({})).toBe(false);
  });
});

describe("fit", () => {
  it("cuts to a visible width, counting neither escapes nor wide code points twice", () => {
    const c = createColors(true);
    expect(fit("abcdef", 10)).toBe("abcdef");
    expect(fit("abcdef", 4)).toBe("abc…");
    const coloured = `${c.red("abc")}def`;
    expect(visibleWidth(coloured)).toBe(6);
    expect(fit(coloured, 4)).toBe("\u001b[31mabc…\u001b[0m");
    expect(fit("⠋⠙⠹⠸", 3)).toBe("⠋⠙…");
  });
});
