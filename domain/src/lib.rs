//! Pure domain: ids, money, the Order, Payment and Shipment deciders and their events. No IO.
