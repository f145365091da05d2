"""The SQL that makes an audit table append-only on PostgreSQL, for the migrations that install it.

A trigger refuses every UPDATE and DELETE of the table's rows. A table that holds drills'
synthetic rows may let a DELETE through for those rows only (a drill's purge), named by a
condition on the row (``OLD``). On other databases nothing is installed: the hash chain
(``portal.audit``) still shows any change.
"""

from __future__ import annotations

from typing import Any

REFUSE = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % of a row of % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
"""

DRILL_ONLY = """
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS ({drill_row}) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: % of a row of % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
"""

TRIGGER = """
DROP TRIGGER IF EXISTS {table}_append_only ON {table};
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {function}();
"""


def installer(table: str, *, drill_row: str = "") -> tuple[Any, Any]:
    """(install, uninstall) for ``migrations.RunPython``: the trigger on ``table``.

    ``drill_row``: a query that finds a row when ``OLD`` belongs to drill data, whose DELETE is let through.
    """
    function = f"{table}_guard" if drill_row else "audit_refuse_change"

    def install(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        if drill_row:
            schema_editor.execute(DRILL_ONLY.format(function=function, drill_row=drill_row), params=None)
        else:
            schema_editor.execute(REFUSE, params=None)
        schema_editor.execute(TRIGGER.format(table=table, function=function), params=None)

    def uninstall(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};", params=None)
        if drill_row:
            schema_editor.execute(f"DROP FUNCTION IF EXISTS {function}();", params=None)

    return install, uninstall
