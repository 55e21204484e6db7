//! Every rule a refusal names, per aggregate: the stable public code (the API's `rule`, an
//! attention item's `rule`) and its message, pinned so that no code changes unnoticed.

use domain::{
    attention::AttentionError, order::OrderError, payment::PaymentError, shipment::ShipmentError,
    user::UserError, Rule,
};
use strum::VariantArray;

fn codes<E: Rule + VariantArray>() -> Vec<String> {
    E::VARIANTS
        .iter()
        .map(|refusal| {
            let missing = if refusal.is_missing() {
                " (missing)"
            } else {
                ""
            };
            format!("{}: {refusal}{missing}", refusal.rule())
        })
        .collect()
}

#[test]
fn every_rule_code_is_pinned() {
    insta::assert_yaml_snapshot!("order", codes::<OrderError>());
    insta::assert_yaml_snapshot!("payment", codes::<PaymentError>());
    insta::assert_yaml_snapshot!("shipment", codes::<ShipmentError>());
    insta::assert_yaml_snapshot!("attention", codes::<AttentionError>());
    insta::assert_yaml_snapshot!("user", codes::<UserError>());
}
