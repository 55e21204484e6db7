//! The read models and the projection that maintains each: one subscriber of the log per read
//! model, writing either the live tables or, during a rebuild, their shadow copies.

use std::sync::Arc;

use domain::{order::Order, payment::Payment, shipment::Shipment, Decider};

use crate::attention;
use eventlog::{EventLog, HandlerError, LogTransaction, Projection, RecordedEvent};

use crate::{
    daily_sales,
    fold::Folds,
    orders, payments, shipments,
    table::{Backend, Table, Writes, SHADOW},
};

/// A read model: a set of tables one projection maintains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadModel {
    /// `orders` and `order_lines`.
    Orders,
    /// `payments`.
    Payments,
    /// `shipments`, `shipment_lines` and `shipment_tracking`.
    Shipments,
    /// `daily_sales`, for reporting.
    DailySales,
    /// `attention_items`: what needs a person.
    Attention,
}

impl ReadModel {
    /// Every read model.
    pub const ALL: [Self; 5] = [
        Self::Orders,
        Self::Payments,
        Self::Shipments,
        Self::DailySales,
        Self::Attention,
    ];

    /// Its name, which its projection's checkpoint and status go by.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Orders => "orders",
            Self::Payments => "payments",
            Self::Shipments => "shipments",
            Self::DailySales => "daily_sales",
            Self::Attention => "attention",
        }
    }

    /// The read model called `name`.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|model| model.name() == name)
    }

    /// Its tables.
    pub(crate) const fn tables(self) -> &'static [&'static Table] {
        match self {
            Self::Orders => orders::TABLES,
            Self::Payments => payments::TABLES,
            Self::Shipments => shipments::TABLES,
            Self::DailySales => daily_sales::TABLES,
            Self::Attention => attention::TABLES,
        }
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

impl ReadModel {
    /// What this read model writes for `batch`.
    async fn writes(self, batch: &Batch<'_>) -> Result<Writes, HandlerError> {
        match self {
            Self::Orders => orders::writes(batch).await,
            Self::Payments => payments::writes(batch).await,
            Self::Shipments => shipments::writes(batch).await,
            Self::DailySales => daily_sales::writes(batch).await,
            Self::Attention => attention::writes(batch).await,
        }
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

/// The states a projection remembers, per aggregate.
#[derive(Debug, Default)]
pub(crate) struct AllFolds {
    pub orders: Folds<<Order as Decider>::State>,
    pub payments: Folds<<Payment as Decider>::State>,
    pub shipments: Folds<<Shipment as Decider>::State>,
    pub attention: Folds<attention::Folded>,
}
