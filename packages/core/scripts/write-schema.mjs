// Writes the JSON Schemas beside the package, from the zod schemas: stack.schema.json (stack files,
// for editors) and plan.schema.json (the plan that `shctl diff --json` and `apply --json` print).
// Run after the build: `node packages/core/scripts/write-schema.mjs` (the `build` script does it).
import { writeFileSync } from "node:fs";
import { z } from "zod";
import { PlanSchema } from "../dist/plan/types.js";
import { PLAN_VERSION } from "../dist/plan/util.js";
import { stackJsonSchema } from "../dist/validate.js";

const write = (name, schema) =>
  writeFileSync(new URL(`../${name}`, import.meta.url), `${JSON.stringify(schema, null, 2)}\n`);

write("stack.schema.json", {
  ...stackJsonSchema(),
  title: "shctl stack",
  $id: "https://shctl.dev/stack.schema.json",
});
write("plan.schema.json", {
  ...z.toJSONSchema(PlanSchema, { io: "output", target: "draft-7" }),
  title: `shctl plan, version ${PLAN_VERSION}`,
  $id: `https://shctl.dev/plan.v${PLAN_VERSION}.schema.json`,
});
