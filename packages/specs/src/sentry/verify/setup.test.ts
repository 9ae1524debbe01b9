import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dsnOf, parseSetupOutput, SETUP_MARKER, setupCommand, setupScript } from "./setup.js";

/*
 * The set-up script. Sentry itself cannot run here, so the script runs under a real Python
 * against a stand-in `sentry` package: in-memory models with the calls the script makes
 * (filter/first/order_by, create, get_or_create, Organization.get_default, Project.add_team,
 * ProjectKey.get_default, ApiToken.is_expired; a new project gets a key as Sentry's post_save
 * receiver gives it one). It runs wrapped as `sentry exec -c` wraps a script (sentry 23.12.0
 * src/sentry/runner/commands/exec.py: a header, then the body indented into a try block), twice
 * in one process, to show what the first run makes and that the second makes nothing.
 * What it cannot show: that Sentry's real models accept these calls (see docs/sentry.md).
 */

const python = (() => {
  for (const p of ["python3", "python"]) {
    try {
      execFileSync(p, ["--version"], { stdio: "ignore" });
      return p;
    } catch {}
  }
  return undefined;
})();
if (!python) console.warn("setup.test.ts: running the set-up script is skipped: no python3 here");

const STUB_MODELS = `
import itertools, secrets, datetime
_ids = itertools.count(1)

def _match(o, k, v):
    return getattr(o, k) == v

class QuerySet:
    def __init__(self, items):
        self.items = items
    def filter(self, **kw):
        return QuerySet([o for o in self.items if all(_match(o, k, v) for k, v in kw.items())])
    def order_by(self, field):
        return QuerySet(sorted(self.items, key=lambda o: getattr(o, field)))
    def first(self):
        return self.items[0] if self.items else None

class Manager:
    def __init__(self, model):
        self.model = model
    def filter(self, **kw):
        return QuerySet(list(self.model.store)).filter(**kw)
    def create(self, **kw):
        o = self.model(**kw)
        o.save()
        return o
    def get_or_create(self, defaults=None, **kw):
        found = self.filter(**kw).first()
        if found is not None:
            return found, False
        return self.create(**dict(kw, **(defaults or {}))), True

class Model:
    defaults = {}
    def __init_subclass__(cls):
        cls.store = []
        cls.objects = Manager(cls)
    def __init__(self, **kw):
        self.id = None
        for k, v in dict(self.defaults, **kw).items():
            setattr(self, k, v() if callable(v) else v)
    def save(self):
        if self.id is None:
            self.id = next(_ids)
            type(self).store.append(self)
            CREATED.append(type(self).__name__)
    def delete(self):
        type(self).store.remove(self)

CREATED = []

class Organization(Model):
    @classmethod
    def get_default(cls):
        return cls.store[0]

class Team(Model):
    pass

class ProjectTeam(Model):
    pass

class ProjectKey(Model):
    defaults = {"public_key": lambda: secrets.token_hex(16), "status": 0}
    @classmethod
    def get_default(cls, project):
        return cls.objects.filter(project=project, status=0).first()

class Project(Model):
    def save(self):
        new = self.id is None
        super().save()
        if new:
            ProjectKey.objects.create(project=self, label="Default")
    def add_team(self, team):
        if ProjectTeam.objects.filter(project=self, team=team).first() is not None:
            return False
        ProjectTeam.objects.create(project=self, team=team)
        return True

class User(Model):
    pass

class OrganizationMember(Model):
    pass

class OrganizationMemberTeam(Model):
    pass

class ApiToken(Model):
    defaults = {"token": lambda: secrets.token_hex(32)}
    def is_expired(self):
        return self.expires_at is not None and self.expires_at <= datetime.datetime(2000, 1, 1)
`;

/** The modules the script imports, each re-exporting the stand-in model of its name. */
const MODULES: Record<string, string> = {
  apitoken: "ApiToken",
  organization: "Organization",
  organizationmember: "OrganizationMember",
  organizationmemberteam: "OrganizationMemberTeam",
  project: "Project",
  projectkey: "ProjectKey",
  team: "Team",
  user: "User",
};

const DRIVER = `
import io, sys, json, contextlib
from sentry.models import _stub as m

def wrapped(body):
    # As sentry exec builds it: header lines, then the body indented into a try block.
    header = ["from sentry.runner import configure; configure()", "from django.conf import settings", "from sentry.models import *", "class ScriptError(Exception): pass"]
    return "\\n".join(header) + "\\n\\ntry:\\n    " + body.replace("\\n", "\\n    ") + "\\nexcept Exception:\\n    import traceback\\n    traceback.print_exc()\\n    raise ScriptError('Failed')\\n"

def run(body):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        g = {"__name__": "__main__"}
        exec(compile(wrapped(body), "<string>", "exec"), g, g)
    return out.getvalue()

body = sys.stdin.read()
case = sys.argv[1]
org = m.Organization.objects.create(slug="sentry", name="Sentry")
if case != "no-superuser":
    m.User.objects.create(username="someone@example.com", is_superuser=False, is_active=True)
    admin = m.User.objects.create(username="admin@example.com", is_superuser=True, is_active=True)
m.CREATED.clear()
first = run(body)
made_first = list(m.CREATED)
if case == "expired":
    for t in m.ApiToken.store:
        t.expires_at = __import__("datetime").datetime(1999, 1, 1)
m.CREATED.clear()
second = run(body)
made_second = list(m.CREATED)
tokens = [(t.user_id, t.name, t.scope_list, t.expires_at, t.refresh_token) for t in m.ApiToken.store]
print(json.dumps({"first": first, "second": second, "madeFirst": made_first, "madeSecond": made_second, "tokens": [list(map(str, t)) for t in tokens], "members": [(x.user_id, x.role) for x in m.OrganizationMember.store]}))
`;

let dir: string | undefined;
function stubDir(): string {
  if (dir) return dir;
  dir = mkdtempSync(path.join(tmpdir(), "shctl-setup-py-"));
  const pkg = path.join(dir, "sentry");
  mkdirSync(path.join(pkg, "models"), { recursive: true });
  mkdirSync(path.join(pkg, "runner"), { recursive: true });
  mkdirSync(path.join(dir, "django"), { recursive: true });
  writeFileSync(path.join(pkg, "__init__.py"), "");
  writeFileSync(path.join(pkg, "runner", "__init__.py"), "def configure():\n    pass\n");
  writeFileSync(path.join(dir, "django", "__init__.py"), "");
  writeFileSync(path.join(dir, "django", "conf.py"), "settings = object()\n");
  writeFileSync(path.join(pkg, "models", "_stub.py"), STUB_MODELS);
  writeFileSync(path.join(pkg, "models", "__init__.py"), "from sentry.models._stub import *\n");
  for (const [mod, cls] of Object.entries(MODULES))
    writeFileSync(path.join(pkg, "models", `${mod}.py`), `from sentry.models._stub import ${cls}\n`);
  writeFileSync(path.join(dir, "driver.py"), DRIVER);
  return dir;
}

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface DriverResult {
  first: string;
  second: string;
  madeFirst: string[];
  madeSecond: string[];
  tokens: string[][];
  members: [number, string][];
}

function runScript(scenario: "fresh" | "no-superuser" | "expired"): DriverResult {
  const d = stubDir();
  const r = spawnSync(python as string, [path.join(d, "driver.py"), scenario], {
    input: setupScript(),
    env: { ...process.env, PYTHONPATH: d, PYTHONDONTWRITEBYTECODE: "1" },
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`python exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1) as string) as DriverResult;
}

// Each case starts a Python process: slow on a busy machine.
describe("the set-up script", { timeout: 60_000 }, () => {
  it("is what `sentry exec -c` runs in the web container; it has no line that indenting would break", () => {
    const cmd = setupCommand();
    expect(cmd.slice(0, 3)).toEqual(["sentry", "exec", "-c"]);
    expect(cmd[3]).toBe(setupScript());
    // No triple-quoted strings (their content would be indented) and no tabs.
    expect(setupScript()).not.toMatch(/"""|'''|\t/);
  });

  it.skipIf(!python)(
    "first run makes team, project (with its key), memberships and a token; the second makes nothing",
    () => {
      const r = runScript("fresh");
      const first = parseSetupOutput(0, r.first, "s");
      const second = parseSetupOutput(0, r.second, "s");
      expect(first.created).toEqual([
        "team",
        "project",
        "project team",
        "membership",
        "team membership",
        "token",
      ]);
      expect(r.madeFirst).toEqual([
        "Team",
        "Project",
        "ProjectKey",
        "ProjectTeam",
        "OrganizationMember",
        "OrganizationMemberTeam",
        "ApiToken",
      ]);
      expect(second.created).toEqual([]);
      expect(r.madeSecond).toEqual([]);
      expect(second).toMatchObject({
        org: "sentry",
        project: "shctl-verify",
        projectId: first.projectId,
        publicKey: first.publicKey,
        token: first.token,
        user: "admin@example.com",
      });
      expect(first.token).toMatch(/^[0-9a-f]{64}$/);
      // One token, of the superuser, read scopes only, never expiring, no refresh token.
      expect(r.tokens).toEqual([
        [
          "3",
          "shctl-verify",
          "['org:read', 'project:read', 'team:read', 'event:read', 'member:read']",
          "None",
          "None",
        ],
      ]);
      expect(r.members).toEqual([[3, "owner"]]); // the superuser (id 3), not the other user (id 2)
      expect(dsnOf("http://localhost:9006", first)).toBe(
        `http://${first.publicKey}@localhost:9006/${first.projectId}`,
      );
    },
  );

  it.skipIf(!python)("an expired token is replaced", () => {
    const r = runScript("expired");
    const first = parseSetupOutput(0, r.first, "s");
    const second = parseSetupOutput(0, r.second, "s");
    expect(second.created).toEqual(["token"]);
    expect(second.token).not.toBe(first.token);
    expect(r.tokens).toHaveLength(1);
  });

  it.skipIf(!python)("without a superuser it says so (the CLI then says how to make one)", () => {
    const r = runScript("no-superuser");
    expect(() => parseSetupOutput(0, r.first, "mystack")).toThrow(/no active superuser/);
    try {
      parseSetupOutput(0, r.first, "mystack");
    } catch (err) {
      expect((err as { hint: string }).hint).toContain(
        "docker exec -it mystack-web sentry createuser --superuser",
      );
    }
  });

  it("an answer-less output says what sentry exec printed last", () => {
    expect(() =>
      parseSetupOutput(1, "Traceback\nScriptError: Failed to execute script '<string>'\n", "s"),
    ).toThrow(/sentry exec exited 1 without the set-up's answer: Traceback \| ScriptError/);
    expect(SETUP_MARKER.endsWith(" ")).toBe(true);
  });
});
