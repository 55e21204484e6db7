-- A pull that lists with `If-None-Match` (the ERP's catalog, docs/integrations/erp.md "Catalog
-- pull") keeps the `ETag` of the list it last read, from `next_since`: the next run sends it
-- and, answered `304 Not Modified`, stores nothing. Null for the others, and when there is none.
ALTER TABLE provider_pulls ADD COLUMN etag text;
