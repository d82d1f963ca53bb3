"""Who may see what: the sign-in gate against ops.users (AppTest), and the read-only role the app reads through."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest
from streamlit_fixtures import ADMIN, ANALYST, APP_PATH, DISABLED, UNKNOWN, SeededWarehouse, signed_in

from payops import db
from payops.settings import Settings

pytest_plugins = ["streamlit_fixtures"]

PAGES = ["overview", "revenue", "failures", "disputes", "refunds", "transactions", "students", "reconciliation",
         "fraud", "webhooks", "system_health"]
SEEDED_FIGURE = "2,280.49 USD"
"""The usd gross of the default range: a figure only a signed-in, active user may see."""


def visit(email: str | None, page: str = "overview") -> AppTest:
    at = AppTest.from_file(APP_PATH, default_timeout=60)
    at.user = signed_in(email)
    at.run()
    if page != "overview" and at.user.get("is_logged_in"):
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def everything_shown(at: AppTest) -> str:
    return "\n".join(str(getattr(node, "value", "")) for node in at.main) + "\n".join(
        f"{m.label} {m.value}" for m in at.metric)


def test_an_anonymous_visitor_sees_only_the_sign_in_page(warehouse_env: SeededWarehouse) -> None:
    at = visit(None)
    assert [title.value for title in at.title] == ["payops"]
    assert not at.metric and not at.dataframe
    assert SEEDED_FIGURE not in everything_shown(at)


@pytest.mark.parametrize("email", [UNKNOWN, DISABLED])
def test_unknown_and_disabled_identities_are_told_to_ask_an_admin(warehouse_env: SeededWarehouse, email) -> None:
    at = visit(email)
    [warning] = at.warning
    assert "Ask an admin for access" in warning.value and email in warning.value
    assert not at.metric and not at.dataframe and not at.sidebar.date_input
    assert SEEDED_FIGURE not in everything_shown(at)


def test_an_analyst_sees_the_figures_but_no_admin_control(warehouse_env: SeededWarehouse) -> None:
    at = visit(ANALYST)
    assert SEEDED_FIGURE in everything_shown(at)
    assert "admin-refresh" not in [button.key for button in at.sidebar.button]
    assert any(ANALYST in caption.value for caption in at.sidebar.caption)


def test_an_admin_also_gets_the_refresh_button(warehouse_env: SeededWarehouse) -> None:
    at = visit(ADMIN)
    assert "admin-refresh" in [button.key for button in at.sidebar.button]


def test_disabling_a_user_takes_effect_at_their_next_click(warehouse_env: SeededWarehouse) -> None:
    from payops.users import add_user, disable_user

    eng = db.engine(Settings.from_env())
    add_user(eng, "leaving@example.com", "analyst", added_by="tests")
    at = visit("leaving@example.com")
    assert at.metric
    disable_user(eng, "leaving@example.com")
    at.run()
    assert not at.metric and "Ask an admin" in at.warning[0].value


def test_the_global_filters_come_from_the_url_and_go_back_to_it(warehouse_env: SeededWarehouse) -> None:
    from datetime import date

    at = AppTest.from_file(APP_PATH, default_timeout=60)
    at.user = signed_in(ANALYST)
    at.query_params.update({"mode": "live", "from": "2026-03-28", "to": "2026-03-30", "currency": "eur"})
    at.run()
    assert at.sidebar.date_input[0].value == (date(2026, 3, 28), date(2026, 3, 30))
    assert [node.key for node in at.main if (getattr(node, "key", None) or "").startswith("currency-")] == [
        "currency-eur"]
    assert at.query_params["currency"] == "eur" and at.query_params["from"] == "2026-03-28"


def test_the_app_role_can_read_the_marts_and_nothing_can_be_written(warehouse_env: SeededWarehouse) -> None:
    settings = Settings.from_env()
    reader = sa.create_engine(db.warehouse_url(settings).set(username="payops_app_reader", password=None))
    try:
        with reader.connect() as conn:
            assert conn.execute(sa.text("select count(*) from analytics.payments_daily")).scalar() > 0
            assert conn.execute(sa.text("select count(*) from ops.users")).scalar() >= 3
        for statement in [
            "insert into analytics.currencies (currency, exponent) values ('xxx', 2)",
            "update ops.users set role = 'admin'",
            "delete from analytics.payments_daily",
            "truncate analytics.payments_daily",
            "drop table analytics.payments_daily",
            "create table analytics.planted (id int)",
            "select count(*) from raw.stripe_events",
            "select count(*) from ops.webhook_event_log",
        ]:
            with reader.connect() as conn, pytest.raises(sa.exc.ProgrammingError, match="permission denied|must be"):
                conn.execute(sa.text(statement))
    finally:
        reader.dispose()
