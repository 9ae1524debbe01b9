// Writes shctl.schema.json (the options file's JSON Schema) from the zod schema.
// Run after the build; the root `build` script does it.
import { writeFileSync } from "node:fs";
import { z } from "zod";
import { SentryOptions } from "../dist/index.js";

const schema = {
  ...z.toJSONSchema(SentryOptions, { io: "input", unrepresentable: "any", target: "draft-7" }),
  title: "shctl options for the Sentry stack (shctl.yaml)",
};
writeFileSync(new URL("../shctl.schema.json", import.meta.url), `${JSON.stringify(schema, null, 2)}\n`);
