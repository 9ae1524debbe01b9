import { configDefaults, defineConfig } from "vitest/config";
import { RunEndReporter } from "./scripts/run-end-reporter.mjs";

// `vitest run` runs both projects; `vitest run --project unit` runs only the fast ones.
// Integration tests talk to a real Docker Engine (prepared by scripts/test-env.sh) and share it,
// so their files run one at a time.
const exclude = [...configDefaults.exclude, "**/dist/**"];

export default defineConfig({
  test: {
    // The default reporter, then every skipped test by file (a skip in CI is never quiet) and every
    // failed test with the first lines of its error.
    reporters: ["default", new RunEndReporter()],
    projects: [
      {
        test: {
          name: "unit",
          include: ["packages/*/src/**/*.test.ts"],
          exclude,
          environment: "node",
          // Some unit tests run small processes (bash, python3, the C compiler): give them room on a
          // busy 2-core machine instead of the 5 s default.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/**/*.test.ts"],
          exclude,
          environment: "node",
          fileParallelism: false,
          // After each file, what its stacks left on the engine is removed (and said).
          setupFiles: ["test/leftovers.ts"],
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
