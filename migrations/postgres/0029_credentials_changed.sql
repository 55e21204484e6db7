-- Serving processes keep the callers of API tokens they have seen in memory while they listen
-- on `backoffice_credentials`. Any change to a token or a user (a revocation, a deactivation, a
-- role change, by the CLI, another process or plain SQL) tells them to forget, in the changing
-- transaction's commit, so that it holds from their next request. SQLite keeps nothing.
CREATE FUNCTION notify_credentials_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('backoffice_credentials', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER api_tokens_changed AFTER UPDATE OR DELETE OR TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION notify_credentials_changed();
CREATE TRIGGER api_users_changed AFTER UPDATE OR DELETE OR TRUNCATE ON api_users
    FOR EACH STATEMENT EXECUTE FUNCTION notify_credentials_changed();
