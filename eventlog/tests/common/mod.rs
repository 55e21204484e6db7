//! Shared by the conformance test files: one test, both backends.

/// Instantiates each named test once per backend.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = eventlog::testing::TestDatabase::postgres().await;
                    super::$name(&db, db.log().await).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = eventlog::testing::TestDatabase::sqlite();
                    super::$name(&db, db.log().await).await;
                }
            )*
        }
    };
}
