"""ops.users through `payops users`: who may sign in, as what, and what the table refuses."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from payops.users import UserError, add_user, find_user
from payops_cli.main import main


def payops(*args: str):
    return CliRunner().invoke(main, list(args))


def test_add_list_disable_and_enable_again(engine):
    assert payops("users", "add", "Ana@Example.com", "--role", "analyst").exit_code == 0
    assert payops("users", "add", "root@example.com", "--role", "admin").exit_code == 0
    listed = payops("users", "list").output.splitlines()
    assert [line.split()[:3] for line in listed] == [["ana@example.com", "analyst", "active"],
                                                    ["root@example.com", "admin", "active"]]

    assert payops("users", "disable", "ANA@example.com").exit_code == 0
    ana = find_user(engine, "ana@example.com")
    assert ana is not None and not ana.active and not ana.is_admin

    # Adding again enables, with the new role; the first adder stays on record.
    add_user(engine, "ana@example.com", "admin", added_by="root@example.com")
    ana = find_user(engine, " Ana@Example.com ")
    assert ana.active and ana.is_admin and ana.added_by.startswith("cli:")


def test_unknown_identities_and_bad_input_are_refused_with_a_line(engine):
    assert find_user(engine, "nobody@example.com") is None
    assert find_user(engine, None) is None

    result = payops("users", "disable", "nobody@example.com")
    assert result.exit_code == 1 and "is not a user" in result.output
    result = payops("users", "add", "not-an-email", "--role", "admin")
    assert result.exit_code == 1 and "not an email address" in result.output
    result = payops("users", "add", "x@example.com", "--role", "owner")
    assert result.exit_code == 2 and "'owner' is not one of" in result.output
    with pytest.raises(UserError):
        add_user(engine, "x@example.com", "owner", added_by="test")


def test_the_table_itself_refuses_unknown_roles_and_mixed_case(engine):
    for email, role in [("y@example.com", "owner"), ("Y@example.com", "analyst")]:
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(sa.text("insert into ops.users (email, role, added_by) values (:e, :r, 'test')"),
                         {"e": email, "r": role})
