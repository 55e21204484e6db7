//! The `orders` read model: one row per order and one per order line, for the UI's order list
//! and detail and for reporting tools.

mod query;
mod row;
mod write;

use std::collections::BTreeSet;

use eventlog::{EventLog, HandlerError, LogTransaction, Projection, RecordedEvent, StreamId};

pub use query::{get_order, list_orders, OrderFilter, OrderPage, QueryError};
pub use row::{row_of, LineRow, OrderRow, ORDER};

/// The projection that maintains `orders` and `order_lines`.
#[derive(Debug, Clone)]
pub struct OrdersProjection {
    log: EventLog,
}

impl OrdersProjection {
    /// The projection's name, which its checkpoint and status go by.
    pub const NAME: &'static str = "orders";

    /// Over `log`.
    pub fn new(log: EventLog) -> Self {
        Self { log }
    }
}

impl Projection for OrdersProjection {
    fn name(&self) -> &str {
        Self::NAME
    }

    /// Each order touched by the batch is folded from its history up to the batch's last
    /// position, so that the rows reflect exactly the checkpoint they commit with.
    async fn apply(
        &self,
        tx: &mut LogTransaction,
        events: &[RecordedEvent],
    ) -> Result<(), HandlerError> {
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(());
        };
        let touched: BTreeSet<&str> = events
            .iter()
            .filter(|e| e.stream.aggregate_type == ORDER)
            .map(|e| e.stream.aggregate_id.as_str())
            .collect();
        for id in touched {
            let mut history = self.log.read_stream(&StreamId::new(ORDER, id), 1).await?;
            history.retain(|e| e.position <= last);
            if let Some(row) = row_of(&history)? {
                write::write(tx, &row).await?;
            }
        }
        Ok(())
    }
}
