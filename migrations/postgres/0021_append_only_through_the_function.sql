-- The service may run under a role that can read the log and append to it only through
-- append_events(), while another role owns the schema and runs `backoffice migrate` (issue
-- 12, ADR 0021; `backoffice db grant --service-role NAME`). For that, append_events() runs
-- with its owner's rights (SECURITY DEFINER), with a search_path fixed to the schema it was
-- made in (and pg_temp last), so that no object a caller makes can stand in for ours.
-- Only roles granted EXECUTE may call it. A one-role set-up (the owner serves) is unchanged.
--
-- A later CREATE OR REPLACE of append_events() resets these attributes: restate them there.
DO $$
BEGIN
    EXECUTE format(
        'ALTER FUNCTION append_events(text[], text[], bigint[], text[], int[], int[], uuid[], '
        'text[], int[], jsonb[], jsonb[]) SECURITY DEFINER SET search_path = %I, pg_temp',
        current_schema());
END
$$;

REVOKE EXECUTE ON FUNCTION append_events(text[], text[], bigint[], text[], int[], int[], uuid[],
    text[], int[], jsonb[], jsonb[]) FROM PUBLIC;
