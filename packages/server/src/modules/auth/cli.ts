import { InvalidArgumentError, type Command } from "commander";
import { ProjectRole, type ApiToken, type User } from "@cairn/contract";
import { action, clientFor, formatTime, printJson, printKeyValues, printTable, usageErrorsExit2, wantsJson } from "../../cli/output.js";

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };

/** `30d`, `12h`, `90m`, `1y` or plain seconds → seconds. */
export function parseLifetime(v: string): number {
  const m = /^(\d+)([smhdwy]?)$/.exec(v.trim());
  if (!m || Number(m[1]) < 1) throw new InvalidArgumentError("expected a lifetime such as 30d, 12h, 90m or 1y");
  return Number(m[1]) * UNITS[m[2] || "s"]!;
}

function role(v: string): ProjectRole {
  const r = ProjectRole.safeParse(v);
  if (!r.success) throw new InvalidArgumentError(`must be one of ${ProjectRole.options.join(", ")}`);
  return r.data;
}

const tokenRows = (tokens: ApiToken[], now = Date.now()) =>
  tokens.map((t) => [t.id, t.user, t.name, formatTime(t.createdAt), t.expiresAt === null ? "never" : formatTime(t.expiresAt), t.revokedAt !== null ? "revoked" : t.expiresAt !== null && t.expiresAt <= now ? "expired" : "live", formatTime(t.lastUsedAt)]);
const TOKEN_HEAD = ["ID", "USER", "NAME", "CREATED", "EXPIRES", "STATE", "LAST USED"];
const roleText = (u: Pick<User, "roles">) => Object.entries(u.roles).map(([p, r]) => `${p}:${r}`).join(", ");

/** Adds `cairn auth whoami|user|token|project|member …`: users, API tokens, projects and roles on a server with auth on. */
export function registerAuthCommands(program: Command): void {
  const auth = usageErrorsExit2(program.command("auth").description("users, API tokens, projects and roles (on a server started with --auth)"));

  auth
    .command("whoami")
    .description("show who the current token belongs to and its roles")
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const me = await clientFor(cmd).client.api.whoAmI({});
        if (wantsJson(cmd)) return printJson(me);
        printKeyValues([["user", me.user], ["admin", me.admin], ["roles", roleText(me) || "-"], ["auth", me.authEnabled ? "on" : "off (every request acts as 'anonymous')"]]);
      }),
    );

  const user = usageErrorsExit2(auth.command("user").description("create, list, disable and enable users (admins)"));
  user
    .command("create")
    .argument("<name>", "user name")
    .option("--admin", "give the user the global admin role", false)
    .action(
      action(async (name: string, o: { admin: boolean }, cmd: Command) => {
        const { user: u } = await clientFor(cmd).client.api.createUser({ body: { name, admin: o.admin } });
        if (wantsJson(cmd)) return printJson({ user: u });
        process.stdout.write(`Created user '${u.name}'${u.admin ? " (admin)" : ""}. Create a token for it with: cairn auth token create --user ${u.name} --name <purpose>\n`);
      }),
    );
  user
    .command("list")
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const { users } = await clientFor(cmd).client.api.listUsers({});
        if (wantsJson(cmd)) return printJson({ users });
        printTable(["NAME", "ADMIN", "ROLES", "CREATED", "STATE"], users.map((u) => [u.name, u.admin ? "yes" : "", roleText(u), formatTime(u.createdAt), u.disabledAt === null ? "active" : "disabled"]));
      }),
    );
  for (const [verb, patch] of [["disable", { disabled: true }], ["enable", { disabled: false }], ["grant-admin", { admin: true }], ["revoke-admin", { admin: false }]] as const) {
    user
      .command(verb)
      .argument("<name>", "user name")
      .action(
        action(async (name: string, _o: unknown, cmd: Command) => {
          const { user: u } = await clientFor(cmd).client.api.updateUser({ params: { name }, body: patch });
          if (wantsJson(cmd)) return printJson({ user: u });
          process.stdout.write(`User '${u.name}': ${u.disabledAt === null ? "active" : "disabled"}${u.admin ? ", admin" : ""}\n`);
        }),
      );
  }

  const token = usageErrorsExit2(auth.command("token").description("create, list and revoke API tokens"));
  token
    .command("create")
    .description("create a token; its secret is printed once")
    .requiredOption("--name <name>", "what the token is for")
    .option("--user <name>", "whose token (admins only; default: yours)")
    .option("--expires <lifetime>", "lifetime such as 30d, 12h or 1y (default: never)", parseLifetime)
    .action(
      action(async (o: { name: string; user?: string; expires?: number }, cmd: Command) => {
        const body: { name: string; user?: string; expiresInSeconds?: number } = { name: o.name };
        if (o.user) body.user = o.user;
        if (o.expires) body.expiresInSeconds = o.expires;
        const out = await clientFor(cmd).client.api.createToken({ body });
        if (wantsJson(cmd)) return printJson(out);
        process.stdout.write(`Token ${out.info.id} for '${out.info.user}'${out.info.expiresAt ? `, expires ${formatTime(out.info.expiresAt)}` : ""}. Shown once:\n\n  ${out.token}\n\n`);
      }),
    );
  token
    .command("list")
    .option("--user <name>", "another user's tokens (admins)")
    .action(
      action(async (o: { user?: string }, cmd: Command) => {
        const { tokens } = await clientFor(cmd).client.api.listTokens({ query: o.user ? { user: o.user } : {} });
        if (wantsJson(cmd)) return printJson({ tokens });
        printTable(TOKEN_HEAD, tokenRows(tokens));
      }),
    );
  token
    .command("revoke")
    .argument("<id>", "token id (the part after cairn_, as `token list` shows)")
    .action(
      action(async (id: string, _o: unknown, cmd: Command) => {
        const { token: t } = await clientFor(cmd).client.api.revokeToken({ params: { id } });
        if (wantsJson(cmd)) return printJson({ token: t });
        process.stdout.write(`Revoked token ${t.id} of '${t.user}'.\n`);
      }),
    );

  const project = usageErrorsExit2(auth.command("project").description("create and list projects, and manage their members"));
  project
    .command("create")
    .argument("<name>", "project name")
    .option("--description <text>", "what the project holds", "")
    .action(
      action(async (name: string, o: { description: string }, cmd: Command) => {
        const out = await clientFor(cmd).client.api.createProject({ body: { name, description: o.description } });
        if (wantsJson(cmd)) return printJson(out);
        process.stdout.write(`Created project '${name}'. Experiments and models join it with the tag cairn.project=${name}.\n`);
      }),
    );
  project
    .command("list")
    .action(
      action(async (_o: unknown, cmd: Command) => {
        const { projects } = await clientFor(cmd).client.api.listProjects({});
        if (wantsJson(cmd)) return printJson({ projects });
        printTable(["NAME", "CREATED", "DESCRIPTION"], projects.map((p) => [p.name, formatTime(p.createdAt), p.description]));
      }),
    );
  project
    .command("members")
    .argument("<project>", "project name")
    .action(
      action(async (name: string, _o: unknown, cmd: Command) => {
        const { members } = await clientFor(cmd).client.api.listMembers({ params: { project: name } });
        if (wantsJson(cmd)) return printJson({ members });
        printTable(["USER", "ROLE"], members.map((m) => [m.user, m.role]));
      }),
    );
  project
    .command("grant")
    .description("give a user a role in a project (viewer, editor, approver or owner)")
    .argument("<project>", "project name")
    .argument("<user>", "user name")
    .argument("<role>", "viewer|editor|approver|owner", role)
    .action(
      action(async (name: string, userName: string, r: ProjectRole, _o: unknown, cmd: Command) => {
        const { members } = await clientFor(cmd).client.api.setMember({ params: { project: name, name: userName }, body: { role: r } });
        if (wantsJson(cmd)) return printJson({ members });
        process.stdout.write(`'${userName}' is now ${r} in '${name}'.\n`);
      }),
    );
  project
    .command("revoke")
    .description("remove a user's role in a project")
    .argument("<project>", "project name")
    .argument("<user>", "user name")
    .action(
      action(async (name: string, userName: string, _o: unknown, cmd: Command) => {
        const { members } = await clientFor(cmd).client.api.removeMember({ params: { project: name, name: userName } });
        if (wantsJson(cmd)) return printJson({ members });
        process.stdout.write(`'${userName}' holds no role in '${name}' any more.\n`);
      }),
    );
}
