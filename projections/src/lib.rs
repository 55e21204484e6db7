//! Read models, the projection runner, rebuild and read queries.
