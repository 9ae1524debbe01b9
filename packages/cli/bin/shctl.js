#!/usr/bin/env node
// The `shctl` command npm links (node_modules/.bin/shctl, so `npx shctl` works in a checkout).
// npm links it at install time, before anything is built, so it is a committed file that runs the
// built CLI (dist/main.js) and says what to do when the build is missing.
import { existsSync } from "node:fs";

const main = new URL("../dist/main.js", import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    "error: shctl is not built yet\nhint: run `npm run build` in the repository (or ./start.sh, which also installs and applies)\n",
  );
  process.exit(1);
}
await import(main.href);
