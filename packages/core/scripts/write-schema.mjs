// Writes stack.schema.json from the zod schema, so editors can complete and check stack YAML files.
// Run after the build: `node packages/core/scripts/write-schema.mjs` (the `build` script does it).
import { writeFileSync } from "node:fs";
import { stackJsonSchema } from "../dist/validate.js";

const schema = { ...stackJsonSchema(), title: "shctl stack", $id: "https://shctl.dev/stack.schema.json" };
writeFileSync(new URL("../stack.schema.json", import.meta.url), `${JSON.stringify(schema, null, 2)}\n`);
