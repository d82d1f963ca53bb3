"""raw.stripe_events partitioned by month of the event's `created` (UTC), converted in place.

Why `created`, and how deduplication survives (docs/decisions.md, "Raw events partitioned by the event's
month"): a partitioned table's unique index must contain the partition key, so the primary key becomes
(event_id, created_at). Stripe never changes an event once made, so one event id always arrives with the same
`created`: the pair is as unique as the id, every loader's conflict target names the pair, and a re-delivery
lands in the same partition and collides there. Partitioning by arrival (`received_at`) would put two
deliveries of one event in two partitions where no index could see both.

Months get their partitions ahead of time (raw.ensure_stripe_events_partitions, called here and by the
daily Dagster schedule `maintain_stripe_event_partitions`); an event for a month without one lands in the
default partition and is moved into its month when the month's partition is made, so ingest never fails for a
missing partition.

The foreign key from ops.webhook_event_log to the events goes: it could only name the (event_id, created_at)
pair, which the log does not carry, and it would stop `payops archive` detaching a month. Every loader writes
an event and its log row in one transaction, which is what the key checked.

Views on raw.stripe_events (ours and any dbt built) are read from the catalog, dropped, and made again on the
new table, so they keep working whatever other migrations added.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

MONTHS_AHEAD = 3

ENSURE_PARTITIONS = """
create or replace function raw.ensure_stripe_events_partitions(first_month date, last_month date)
returns integer language plpgsql as $$
declare
    partition_month date;
    partition_name text;
    lower_bound timestamptz;
    upper_bound timestamptz;
    made integer := 0;
begin
    -- The months asked for, and every month with events waiting in the default partition unless it was archived
    -- (a late event of an archived month stays there, still seen by processing and the marts).
    for partition_month in
        select date_trunc('month', series)::date
        from generate_series(first_month::timestamp, last_month::timestamp, interval '1 month') as series
        union
        select distinct date_trunc('month', created_at at time zone 'UTC')::date from raw.stripe_events_default
        except
        select archived.month from ops.archived_stripe_event_months as archived
        order by 1
    loop
        partition_name := 'stripe_events_' || to_char(partition_month, 'YYYY_MM');
        continue when to_regclass('raw.' || partition_name) is not null;
        lower_bound := partition_month::timestamp at time zone 'UTC';
        upper_bound := (partition_month + interval '1 month')::timestamp at time zone 'UTC';
        execute format('create table raw.%I (like raw.stripe_events including defaults including constraints)',
                       partition_name);
        -- Events of this month that waited in the default partition move in first, so the attach's check of
        -- the default partition finds none of them there.
        execute format('with moved as (delete from raw.stripe_events_default where created_at >= $1'
                       ' and created_at < $2 returning *) insert into raw.%I select * from moved', partition_name)
            using lower_bound, upper_bound;
        execute format('alter table raw.stripe_events attach partition raw.%I for values from (%L) to (%L)',
                       partition_name, lower_bound, upper_bound);
        made := made + 1;
    end loop;
    return made;
end
$$
"""

DEPENDENT_VIEWS = """
with recursive dependents (oid, depth) as (
    select rewrite.ev_class, 1
    from pg_depend as dep
    join pg_rewrite as rewrite on rewrite.oid = dep.objid
    where dep.refobjid = 'raw.stripe_events'::regclass and rewrite.ev_class <> dep.refobjid
    union
    select rewrite.ev_class, dependents.depth + 1
    from dependents
    join pg_depend as dep on dep.refobjid = dependents.oid
    join pg_rewrite as rewrite on rewrite.oid = dep.objid
    where rewrite.ev_class <> dep.refobjid
)
select dependents.oid::regclass::text as name, view.relkind, pg_get_viewdef(dependents.oid) as definition,
       obj_description(dependents.oid, 'pg_class') as comment, max(depth) as depth
from dependents
join pg_class as view on view.oid = dependents.oid
group by dependents.oid, view.relkind
order by depth, name
"""


def _dependent_views(conn) -> list[tuple[str, str, str, str | None]]:
    return [(row.name, row.relkind, row.definition, row.comment) for row in conn.exec_driver_sql(DEPENDENT_VIEWS)]


def _drop_views(views) -> None:
    for name, relkind, _, _ in reversed(views):
        op.execute(f"drop {'materialized view' if relkind == 'm' else 'view'} {name}")


def _create_views(views) -> None:
    for name, relkind, definition, comment in views:
        op.execute(f"create {'materialized view' if relkind == 'm' else 'view'} {name} as {definition}")
        if comment is not None:
            op.execute(f"comment on {'materialized view' if relkind == 'm' else 'view'} {name} is "
                       f"'{comment.replace(chr(39), chr(39) * 2)}'")


def _secondary_indexes(conn) -> list[str]:
    """CREATE INDEX statements of the table's indexes other than the primary key, to make on the new table."""
    rows = conn.exec_driver_sql("""
        select pg_get_indexdef(index.indexrelid)
        from pg_index as index
        where index.indrelid = 'raw.stripe_events'::regclass and not index.indisprimary
    """)
    return [definition for (definition,) in rows]


def _swap_in(conn, new_table: str, primary_key: str, views) -> None:
    """Copy every event into raw.<new_table>, drop the old table and give the new one its name and indexes."""
    indexes = _secondary_indexes(conn)
    op.execute(f"insert into raw.{new_table} select * from raw.stripe_events")
    _drop_views(views)
    op.execute("drop table raw.stripe_events")
    op.execute(f"alter table raw.{new_table} rename to stripe_events")
    op.execute(f"alter table raw.stripe_events add constraint stripe_events_pkey primary key ({primary_key})")
    for definition in indexes:
        op.execute(definition)
    op.execute("analyze raw.stripe_events")
    _create_views(views)


def upgrade() -> None:
    conn = op.get_bind()
    views = _dependent_views(conn)
    op.execute("alter table ops.webhook_event_log drop constraint if exists webhook_event_log_event_id_fkey")
    # LIKE takes every column other migrations may have added, in order, with defaults and comments.
    op.execute("""
        create table raw.stripe_events_by_month
            (like raw.stripe_events including defaults including constraints including comments)
        partition by range (created_at)
    """)
    op.execute("create table raw.stripe_events_default partition of raw.stripe_events_by_month default")
    # The function names raw.stripe_events, so it is made once the new table has that name; the months are
    # made on the new table under its temporary name here.
    first_month = conn.exec_driver_sql(
        "select coalesce(min(created_at), now()) at time zone 'UTC' from raw.stripe_events").scalar()
    op.execute(f"""
        do $$
        declare month timestamp;
        begin
            for month in select generate_series(date_trunc('month', '{first_month}'::timestamp),
                                                date_trunc('month', now() at time zone 'UTC')
                                                    + interval '{MONTHS_AHEAD} months', interval '1 month')
            loop
                execute format('create table raw.%I partition of raw.stripe_events_by_month'
                               ' for values from (%L) to (%L)', 'stripe_events_' || to_char(month, 'YYYY_MM'),
                               month at time zone 'UTC', (month + interval '1 month') at time zone 'UTC');
            end loop;
        end
        $$
    """)
    _swap_in(conn, "stripe_events_by_month", "event_id, created_at", views)
    op.execute("""
        create table ops.archived_stripe_event_months (
            month date primary key,
            events bigint not null,
            log_rows bigint not null,
            events_path text not null,
            log_path text not null,
            events_sha256 text not null,
            archived_at timestamptz not null default now()
        )
    """)
    op.execute("comment on table ops.archived_stripe_event_months is 'Months of raw.stripe_events detached "
               "and written to Parquet by payops archive: where the files are and what they hold.'")
    op.execute(ENSURE_PARTITIONS)
    # What the foreign key's TRUNCATE ... CASCADE did: emptying the events empties the log that names them (tests and
    # benchmarks start over this way), rather than leaving log rows that would refuse the same events again. A
    # DELETE, not a nested TRUNCATE, which fails when the same statement truncates the log as well.
    op.execute("""
        create function ops.truncate_webhook_event_log() returns trigger language plpgsql as $$
        begin
            delete from ops.webhook_event_log;
            return null;
        end
        $$
    """)
    op.execute("""
        create trigger stripe_events_truncate_log after truncate on raw.stripe_events
        for each statement execute function ops.truncate_webhook_event_log()
    """)
    op.execute("""
        comment on table raw.stripe_events is 'Stripe events, one row per event id, partitioned by the month (UTC) '
            'of the event''s created: raw.stripe_events_YYYY_MM, and raw.stripe_events_default for a month without '
            'its partition yet. Primary key (event_id, created_at): an event id always has the same created.'
    """)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.exec_driver_sql("select count(*) from ops.archived_stripe_event_months").scalar():
        raise RuntimeError("months were archived out of raw.stripe_events; a plain table would not hold them either: "
                           "restore them before downgrading, or drop ops.archived_stripe_event_months knowingly")
    views = _dependent_views(conn)
    op.execute("drop trigger stripe_events_truncate_log on raw.stripe_events")
    op.execute("drop function ops.truncate_webhook_event_log()")
    op.execute("drop table ops.archived_stripe_event_months")
    op.execute("drop function raw.ensure_stripe_events_partitions(date, date)")
    op.execute("create table raw.stripe_events_plain "
               "(like raw.stripe_events including defaults including constraints including comments)")
    _swap_in(conn, "stripe_events_plain", "event_id", views)
    op.execute("""
        alter table ops.webhook_event_log add constraint webhook_event_log_event_id_fkey
            foreign key (event_id) references raw.stripe_events (event_id)
    """)
