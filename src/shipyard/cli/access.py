"""`shipyard users|tokens|roles`: who may use a team server, and how.

Run them on the server's own store (SHIPYARD_URI=postgresql://... or the embedded
default) to make the first admin, or against a server (SHIPYARD_URI=http://...) with a
server admin's token afterwards. Every change lands in the audit log.
"""

from __future__ import annotations

import click

from shipyard import governance
from shipyard._clock import from_millis
from shipyard.cli import _output as out
from shipyard.session import current_session

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def _when(ms: int | None) -> str:
    return out.when(from_millis(ms)) if ms is not None else ""


@click.group()
def users() -> None:
    """Users and service accounts of a team server."""


@users.command("create")
@click.argument("name")
@click.option("--service", is_flag=True, help="A service account (for CI jobs, servers).")
@click.option("--admin", is_flag=True, help="A server admin: every project, users, tokens.")
def users_create(name: str, service: bool, admin: bool) -> None:
    """Create a user (or a service account with --service)."""
    user = governance.create_user(name, service=service, admin=admin)
    kind = "server admin" if user.is_admin else user.kind
    click.echo(
        f"created {kind} {user.name}; `shipyard tokens create --user {name}` gives it a token"
    )


@users.command("ls")
@_JSON
def users_ls(as_json: bool) -> None:
    """List users with their kind, admin flag and roles."""
    identity = current_session().store.identity
    found = identity.list_users()
    roles: dict[str, list[str]] = {}
    for binding in identity.list_roles():
        roles.setdefault(binding.user, []).append(f"{binding.role}@{binding.project}")
    if as_json:
        out.print_json([{**out.plain(u), "roles": roles.get(u.name, [])} for u in found])
        return
    grid = out.table(None, ["name", "kind", "admin", "roles", "created", "disabled"])
    for user in found:
        held = ", ".join(roles.get(user.name, []))
        admin = "yes" if user.is_admin else ""
        grid.add_row(
            user.name, user.kind, admin, held, _when(user.created_ms), _when(user.disabled_ms)
        )
    out.console().print(grid)


@users.command("disable")
@click.argument("name")
def users_disable(name: str) -> None:
    """Disable a user: every token of theirs stops working at once."""
    _set_disabled(name, True)


@users.command("enable")
@click.argument("name")
def users_enable(name: str) -> None:
    """Enable a disabled user again."""
    _set_disabled(name, False)


def _set_disabled(name: str, disabled: bool) -> None:
    session = current_session()
    session.store.identity.set_user_disabled(name, disabled, session.now_ms())
    click.echo(f"{'disabled' if disabled else 'enabled'} {name}")


@click.group()
def tokens() -> None:
    """API tokens: shown once, stored hashed, expiring, revocable."""


@tokens.command("create")
@click.option("--user", "user", required=True, help="Whose token it is.")
@click.option("--name", default="", help="What the token is for (shown in listings).")
@click.option(
    "--expires-in",
    "expires_in",
    default="90",
    show_default=True,
    help="Days until it expires, or 'never'.",
)
def tokens_create(user: str, name: str, expires_in: str) -> None:
    """Make a token and print it: it is shown this once and never stored."""
    days = None if expires_in == "never" else _days(expires_in)
    secret, record = governance.create_token(user, name, days)
    until = f"expires {_when(record.expires_ms)}" if record.expires_ms else "never expires"
    click.echo(f"token {record.id} for {user} ({until}); keep it secret, it is not shown again:")
    click.echo(secret)


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a number of days or 'never'") from None
    if not value > 0:
        raise click.BadParameter("a token's lifetime must be a positive number of days")
    return value


@tokens.command("ls")
@click.option("--user", "user", default=None, help="Only this user's tokens.")
@_JSON
def tokens_ls(user: str | None, as_json: bool) -> None:
    """List tokens (their first characters, never the secret)."""
    found = current_session().store.identity.list_tokens(user)
    now = current_session().now_ms()
    if as_json:
        out.print_json([{**out.plain(t), "usable": t.usable(now)} for t in found])
        return
    grid = out.table(
        None, ["id", "user", "name", "prefix", "created", "expires", "last used", "state"]
    )
    for t in found:
        state = "revoked" if t.revoked_ms else ("expired" if not t.usable(now) else "active")
        grid.add_row(
            str(t.id), t.user, t.name, t.prefix + "…", _when(t.created_ms), _when(t.expires_ms),
            _when(t.last_used_ms), state,
        )  # fmt: skip
    out.console().print(grid)


@tokens.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    """Revoke a token: the server refuses it from the next request on."""
    record = governance.revoke_token(token_id)
    click.echo(f"revoked token {record.id} of {record.user}")


@click.group()
def roles() -> None:
    """Roles per project: viewer reads, editor also writes, admin also deletes."""


@roles.command("grant")
@click.argument("user")
@click.argument("role", type=click.Choice(governance.ROLES))
@click.option("--project", default=governance.ALL_PROJECTS, show_default=True,
              help="The project, or * for every project.")  # fmt: skip
def roles_grant(user: str, role: str, project: str) -> None:
    """Give USER the ROLE on a project (replacing the role they had there)."""
    governance.grant_role(user, project, role)
    click.echo(f"{user} is {role} on {project}")


@roles.command("revoke")
@click.argument("user")
@click.option("--project", default=governance.ALL_PROJECTS, show_default=True)
def roles_revoke(user: str, project: str) -> None:
    """Take away USER's role on a project."""
    binding = governance.revoke_role(user, project)
    click.echo(f"{user} is no longer {binding.role} on {project}")


@roles.command("ls")
@click.option("--user", "user", default=None, help="Only this user's roles.")
@_JSON
def roles_ls(user: str | None, as_json: bool) -> None:
    """List role bindings."""
    found = current_session().store.identity.list_roles(user)
    if as_json:
        out.print_json([out.plain(b) for b in found])
        return
    grid = out.table(None, ["user", "project", "role", "since"])
    for b in found:
        grid.add_row(b.user, b.project, b.role, _when(b.created_ms))
    out.console().print(grid)
