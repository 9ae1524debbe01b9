/*
 * The verification project, made through Sentry itself: a Python script that `sentry exec -c`
 * runs in the web container (sentry 23.12.0 src/sentry/runner/commands/exec.py: it prepends
 * `configure()` and `from sentry.models import *` and runs the script inside a try block).
 * Nothing here writes Sentry's tables directly: the script uses Sentry's own models, so their
 * save hooks run (a new project gets its DSN key from a post_save receiver, sentry 23.12.0
 * src/sentry/receivers/core.py create_keys_for_project).
 *
 * It is idempotent: every run finds what an earlier run made and makes only what is missing.
 * - the organization: the default one (Organization.get_default(), the single organization of
 *   self-hosted's single-organization mode; sentry 23.12.0 src/sentry/models/organization.py);
 *   a new organization would need the hybrid-cloud provisioning steps of 23.12;
 * - a team `shctl` and a project `shctl-verify` in it (platform "other");
 * - the project's active DSN key (ProjectKey.get_default, or a new one);
 * - an API token (read scopes only, no expiry: ApiToken defaults to 30 days, sentry 23.12.0
 *   src/sentry/models/apitoken.py) named `shctl-verify`, of the first active superuser, who is
 *   made a member of the organization and the team if they are not.
 * It prints one line, MARKER + JSON, with the ids, the key and the token.
 */

export const SETUP_MARKER = "SHCTL-VERIFY-SETUP ";

export interface SetupNames {
  team: string;
  project: string;
  projectName: string;
  keyLabel: string;
  tokenName: string;
  scopes: string[];
}

export const SETUP_NAMES: SetupNames = {
  team: "shctl",
  project: "shctl-verify",
  projectName: "shctl verify",
  keyLabel: "shctl verify",
  tokenName: "shctl-verify",
  // What the event, issue and replay endpoints need (sentry 23.12.0 src/sentry/models/apiscopes.py).
  scopes: ["org:read", "project:read", "team:read", "event:read", "member:read"],
};

export interface VerifySetup {
  org: string;
  project: string;
  projectId: number;
  publicKey: string;
  token: string;
  /** What this run made (empty when everything existed). */
  created: string[];
  /** The superuser the token belongs to. */
  user: string;
}

/**
 * The script. `sentry exec` indents every line of it by four spaces to put it in a try block,
 * so it has no multi-line string literals; its parameters come as one JSON string literal.
 */
export function setupScript(names: SetupNames = SETUP_NAMES): string {
  const params = JSON.stringify(JSON.stringify({ ...names, marker: SETUP_MARKER }));
  return [
    "import json",
    "from sentry.models.apitoken import ApiToken",
    "from sentry.models.organization import Organization",
    "from sentry.models.organizationmember import OrganizationMember",
    "from sentry.models.organizationmemberteam import OrganizationMemberTeam",
    "from sentry.models.project import Project",
    "from sentry.models.projectkey import ProjectKey",
    "from sentry.models.team import Team",
    "from sentry.models.user import User",
    `P = json.loads(${params})`,
    "created = []",
    "org = Organization.get_default()",
    'team = Team.objects.filter(organization=org, slug=P["team"]).first()',
    "if team is None:",
    '    team = Team.objects.create(organization=org, slug=P["team"], name=P["team"])',
    '    created.append("team")',
    'project = Project.objects.filter(organization=org, slug=P["project"]).first()',
    "if project is None:",
    '    project = Project.objects.create(organization=org, slug=P["project"], name=P["projectName"], platform="other")',
    '    created.append("project")',
    "if project.add_team(team):",
    '    created.append("project team")',
    "key = ProjectKey.get_default(project)",
    "if key is None:",
    '    key = ProjectKey.objects.create(project=project, label=P["keyLabel"])',
    '    created.append("key")',
    'user = User.objects.filter(is_superuser=True, is_active=True).order_by("id").first()',
    "if user is None:",
    '    print(P["marker"] + json.dumps({"error": "no-superuser", "created": created}))',
    "else:",
    "    member = OrganizationMember.objects.filter(organization=org, user_id=user.id).first()",
    "    if member is None:",
    '        member = OrganizationMember.objects.create(organization=org, user_id=user.id, role="owner")',
    '        created.append("membership")',
    "    if OrganizationMemberTeam.objects.get_or_create(team=team, organizationmember=member)[1]:",
    '        created.append("team membership")',
    '    token = ApiToken.objects.filter(user_id=user.id, name=P["tokenName"]).order_by("id").first()',
    "    if token is not None and token.is_expired():",
    "        token.delete()",
    "        token = None",
    "    if token is None:",
    '        token = ApiToken.objects.create(user_id=user.id, name=P["tokenName"], scope_list=P["scopes"], refresh_token=None, expires_at=None)',
    '        created.append("token")',
    '    print(P["marker"] + json.dumps({"org": org.slug, "project": project.slug, "project_id": project.id, "public_key": key.public_key, "token": token.token, "created": created, "user": user.username}))',
  ].join("\n");
}

/** The command that runs the script in the web container. */
export function setupCommand(names: SetupNames = SETUP_NAMES): string[] {
  return ["sentry", "exec", "-c", setupScript(names)];
}

/** An error the set-up reports, with what to do about it. */
export class SetupError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/** Reads the script's output (its marker line among whatever else Sentry printed). */
export function parseSetupOutput(exitCode: number, output: string, stack: string): VerifySetup {
  const line = output
    .split("\n")
    .map((l) => l.trim())
    .find((l) => l.startsWith(SETUP_MARKER));
  const lastLines = output.trim().split("\n").slice(-3).join(" | ");
  if (!line) {
    throw new SetupError(
      `sentry exec exited ${exitCode} without the set-up's answer${lastLines ? `: ${lastLines}` : ""}`,
      "web must be able to run `sentry exec` (it reads /etc/sentry and reaches postgres): `shctl logs web`",
    );
  }
  const v = JSON.parse(line.slice(SETUP_MARKER.length)) as Record<string, unknown>;
  if (v.error === "no-superuser") {
    throw new SetupError(
      "Sentry has no active superuser to own verify's API token",
      `create the first user: set admin.email and admin.password in shctl.yaml and run \`shctl apply\`, or run \`docker exec -it ${stack}-web sentry createuser --superuser\``,
    );
  }
  const { org, project, project_id: projectId, public_key: publicKey, token, created, user } = v;
  if (
    typeof org !== "string" ||
    typeof project !== "string" ||
    typeof projectId !== "number" ||
    typeof publicKey !== "string" ||
    typeof token !== "string"
  ) {
    throw new SetupError(
      `the set-up answered something unexpected: ${Object.keys(v).join(", ")}`,
      "report this",
    );
  }
  return {
    org,
    project,
    projectId,
    publicKey,
    token,
    created: Array.isArray(created) ? created.map(String) : [],
    user: typeof user === "string" ? user : "",
  };
}

/** The DSN of the verification project, as an SDK is given it. */
export function dsnOf(origin: string, setup: Pick<VerifySetup, "publicKey" | "projectId">): string {
  const u = new URL(origin);
  return `${u.protocol}//${setup.publicKey}@${u.host}/${setup.projectId}`;
}
