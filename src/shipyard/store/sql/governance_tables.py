"""Governance tables, on the same ``metadata`` as the other tables: who may do what
(users, API tokens, roles per project) and what was done (the audit log).

``audit_log`` is append-only: the migration adds triggers on SQLite and PostgreSQL that
refuse UPDATE and DELETE of its rows, so not even a bug in Shipyard can rewrite history
(TRUNCATE, a table owner's tool, stays possible for whoever owns the database). Tokens are
stored as the sha256 of the secret (the secret is 32 random bytes, so a slow hash adds
nothing); ``prefix`` is the first characters of the secret, shown in listings.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from shipyard.store.sql.tables import BigId, metadata

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ts_ms", BigInteger, nullable=False),
    Column("actor", String(256), nullable=False),  # user name, or "local:<os user>"
    Column("action", String(64), nullable=False),  # run.create, model.alias.move, ...
    Column("object", String(1024), nullable=False),  # run:<id>, model:churn/3, ...
    Column("summary", Text, nullable=False),  # JSON object: before/after, counts
    Column("request_id", String(64), nullable=True),
    Column("source", String(256), nullable=False),  # client address, or "local"
    # no index besides the key: each one is one more page written (and checkpointed) by
    # every audited commit, which measured +12-33 % on creating runs with one index and
    # +3-8 % without; filters walk the newest entries by id instead (bench_audit.py)
)

users = Table(
    "users",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    Column("kind", String(16), nullable=False),  # user | service
    Column("is_admin", Boolean, nullable=False),  # server admin: every project, users
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("disabled_ms", BigInteger, nullable=True),
    UniqueConstraint("name", name="uq_users_name"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("token_hash", String(64), nullable=False),  # sha256 hex of the secret
    Column("prefix", String(16), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=True),
    Column("revoked_ms", BigInteger, nullable=True),
    Column("last_used_ms", BigInteger, nullable=True),
    UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    Index("ix_api_tokens_user_id", "user_id"),
)

role_bindings = Table(
    "role_bindings",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("project", String(256), nullable=False),  # a project name, or "*" for all
    Column("role", String(16), nullable=False),  # viewer | editor | admin
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("user_id", "project", name="uq_role_bindings_user_id_project"),
)
