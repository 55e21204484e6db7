//! The read models and the projection that maintains each: one subscriber of the log per read
//! model, writing either the live tables or, during a rebuild, their shadow copies.

use std::{
    any::{Any, TypeId},
    collections::HashMap,
    sync::Arc,
};

use eventlog::{EventLog, HandlerError, LogTransaction, Projection, RecordedEvent};

use crate::{
    attention, daily_sales,
    fold::Folds,
    orders, payments, shipments,
    table::{Backend, Table, Writes, SHADOW},
};

/// Declares every read model once: its variant, the name its projection's checkpoint and status
/// go by, the module that holds its tables and writes, and the aggregate whose events it
/// follows. Adding a read model is its module and one line here.
macro_rules! read_models {
    ($($(#[$doc:meta])* $variant:ident => $name:literal in $module:ident follows $aggregate:expr,)*) => {
        /// A read model: a set of tables one projection maintains.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ReadModel {
            $($(#[$doc])* $variant,)*
        }

        const COUNT: usize = [$($name),*].len();

        impl ReadModel {
            /// Every read model.
            pub const ALL: [Self; COUNT] = [$(Self::$variant),*];

            /// Its name, which its projection's checkpoint and status go by.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// The aggregate type whose events it follows: no other event changes its rows.
            pub const fn follows(self) -> &'static str {
                match self {
                    $(Self::$variant => $aggregate,)*
                }
            }

            /// Its tables.
            pub(crate) const fn tables(self) -> &'static [&'static Table] {
                match self {
                    $(Self::$variant => $module::TABLES,)*
                }
            }

            /// What this read model writes for `batch`.
            async fn writes(self, batch: &Batch<'_>) -> Result<Writes, HandlerError> {
                match self {
                    $(Self::$variant => $module::writes(batch).await,)*
                }
            }
        }
    };
}

read_models! {
    /// `orders` and `order_lines`.
    Orders => "orders" in orders follows orders::ORDER,
    /// `payments`.
    Payments => "payments" in payments follows payments::PAYMENT,
    /// `shipments`, `shipment_lines` and `shipment_tracking`.
    Shipments => "shipments" in shipments follows shipments::SHIPMENT,
    /// `daily_sales`, for reporting.
    DailySales => "daily_sales" in daily_sales follows orders::ORDER,
    /// `attention_items`: what needs a person.
    Attention => "attention" in attention follows attention::ATTENTION,
}

impl ReadModel {
    /// The read model called `name`.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|model| model.name() == name)
    }
}

/// The projection that maintains one read model's tables; during a rebuild, the one that
/// fills the shadow tables of several read models in one pass over the log.
#[derive(Debug, Clone)]
pub struct ReadModelProjection {
    log: EventLog,
    models: Vec<ReadModel>,
    name: String,
    suffix: &'static str,
    folds: Arc<AllFolds>,
}

impl ReadModelProjection {
    /// The projection of `model` into its live tables.
    pub fn new(log: EventLog, model: ReadModel) -> Self {
        Self {
            log,
            models: vec![model],
            name: model.name().to_owned(),
            suffix: "",
            folds: Arc::default(),
        }
    }

    /// The projection of `models` into a rebuild's shadow tables, under a checkpoint of its
    /// own (`orders+payments__rebuild`).
    pub(crate) fn shadow(log: EventLog, models: &[ReadModel]) -> Self {
        let names: Vec<&str> = models.iter().map(|m| m.name()).collect();
        Self {
            log,
            models: models.to_vec(),
            name: format!("{}{SHADOW}", names.join("+")),
            suffix: SHADOW,
            folds: Arc::default(),
        }
    }
}

impl Projection for ReadModelProjection {
    fn name(&self) -> &str {
        &self.name
    }

    fn concerns(&self, event: &RecordedEvent) -> bool {
        let aggregate = event.stream.aggregate_type.as_str();
        self.models.iter().any(|model| model.follows() == aggregate)
    }

    async fn apply(
        &self,
        tx: &mut LogTransaction,
        events: &[RecordedEvent],
    ) -> Result<(), HandlerError> {
        let batch = Batch {
            log: &self.log,
            backend: tx.backend(),
            events,
            suffix: self.suffix,
            folds: &self.folds,
        };
        // While the database executes one read model's statements, the next one's rows are
        // folded and serialized (measured: docs/benchmarks.md).
        let mut pending = Writes::default();
        for &model in &self.models {
            let (written, next) = tokio::join!(pending.execute(tx), model.writes(&batch));
            written?;
            pending = next?;
        }
        pending.execute(tx).await?;
        Ok(())
    }
}

/// A batch of events being applied, and where to.
#[derive(Debug)]
pub(crate) struct Batch<'a> {
    pub log: &'a EventLog,
    /// The backend the statements are for.
    pub backend: Backend,
    pub events: &'a [RecordedEvent],
    /// The table-name suffix: empty for the live tables.
    pub suffix: &'a str,
    /// The states the projection remembers.
    pub folds: &'a AllFolds,
}

/// The states a projection remembers, per folded state type (a read model that folds an
/// aggregate asks for its own: `batch.folds.of::<Option<PaymentState>>()`); two read models
/// folding the same aggregate the same way share what they remember.
#[derive(Debug, Default)]
pub(crate) struct AllFolds {
    by_state: std::sync::Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl AllFolds {
    /// The remembered states of type `S`.
    pub(crate) fn of<S: Default + Clone + Send + Sync + 'static>(&self) -> Arc<Folds<S>> {
        let mut by_state = self.by_state.lock().unwrap_or_else(|e| e.into_inner());
        let folds = by_state
            .entry(TypeId::of::<S>())
            .or_insert_with(|| Arc::new(Folds::<S>::default()));
        Arc::clone(folds)
            .downcast::<Folds<S>>()
            .unwrap_or_else(|_| Arc::new(Folds::default()))
    }
}
