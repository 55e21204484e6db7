//! The domain stays pure: cargo is told of no IO crate, so none can creep into a decider.

#[test]
fn the_domain_depends_on_no_io_crate() {
    let manifest = include_str!("../../Cargo.toml");
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .unwrap();
    for io_crate in [
        "tokio",
        "sqlx",
        "axum",
        "reqwest",
        "hyper",
        "async-std",
        "tower",
    ] {
        let listed = dependencies
            .lines()
            .any(|line| line.trim_start().starts_with(io_crate));
        assert!(!listed, "domain must not depend on {io_crate}");
    }
}
