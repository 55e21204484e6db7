//! The demo shop's customers and products: made up, of the shapes the real partners send
//! (the CRM's contacts, the ERP's catalog).

use uuid::Uuid;

/// A customer, as the CRM keeps them and as orders ship to them.
#[derive(Debug, Clone, Copy)]
pub struct Customer {
    /// Their number in this list (their id is made from it).
    pub number: u32,
    pub name: &'static str,
    pub email: &'static str,
    pub phone: &'static str,
    pub line1: &'static str,
    pub postal_code: &'static str,
    pub city: &'static str,
    pub country: &'static str,
    pub currency: &'static str,
}

impl Customer {
    /// Their id: the same in every demo, so that the CRM's contact and the orders agree.
    pub fn id(&self) -> Uuid {
        Uuid::new_v5(
            &Uuid::NAMESPACE_URL,
            format!("https://backoffice.demo/customers/{}", self.number).as_bytes(),
        )
    }

    /// The carrier this customer's parcels go with: USPS at home, DHL abroad.
    pub fn carrier(&self) -> &'static str {
        if self.country == "US" {
            "usps"
        } else {
            "dhl"
        }
    }
}

/// A product of the ERP's catalog.
#[derive(Debug, Clone, Copy)]
pub struct Product {
    pub sku: &'static str,
    pub name: &'static str,
    /// In minor units of the order's currency.
    pub price_minor: i64,
    /// Units in the warehouse when the demo starts.
    pub stock: u32,
}

/// Every customer. The last one's ZIP code does not exist: the carrier refuses their labels.
pub const CUSTOMERS: [Customer; 9] = [
    Customer {
        number: 1,
        name: "Jenny Rosen",
        email: "jenny.rosen@example.com",
        phone: "+4930901820",
        line1: "Torstraße 12",
        postal_code: "10119",
        city: "Berlin",
        country: "DE",
        currency: "EUR",
    },
    Customer {
        number: 2,
        name: "Jonas Becker",
        email: "jonas.becker@example.org",
        phone: "+4940822170",
        line1: "Große Elbstraße 7",
        postal_code: "22767",
        city: "Hamburg",
        country: "DE",
        currency: "EUR",
    },
    Customer {
        number: 3,
        name: "Camille Martin",
        email: "camille.martin@example.net",
        phone: "+33478421500",
        line1: "8 rue de la République",
        postal_code: "69002",
        city: "Lyon",
        country: "FR",
        currency: "EUR",
    },
    Customer {
        number: 4,
        name: "Sanne de Vries",
        email: "sanne.devries@example.com",
        phone: "+31302345678",
        line1: "Oudegracht 140",
        postal_code: "3511 AZ",
        city: "Utrecht",
        country: "NL",
        currency: "EUR",
    },
    Customer {
        number: 5,
        name: "Luca Rossi",
        email: "luca.rossi@example.org",
        phone: "+390287654321",
        line1: "Via Tortona 27",
        postal_code: "20144",
        city: "Milano",
        country: "IT",
        currency: "EUR",
    },
    Customer {
        number: 6,
        name: "Marcus Johnson",
        email: "marcus.johnson@example.com",
        phone: "+15125550143",
        line1: "600 Congress Ave",
        postal_code: "78701",
        city: "Austin",
        country: "US",
        currency: "USD",
    },
    Customer {
        number: 7,
        name: "Emily Chen",
        email: "emily.chen@example.net",
        phone: "+12065550178",
        line1: "1400 Pine St",
        postal_code: "98101",
        city: "Seattle",
        country: "US",
        currency: "USD",
    },
    Customer {
        number: 8,
        name: "Priya Patel",
        email: "priya.patel@example.com",
        phone: "+13125550121",
        line1: "233 S Wacker Dr",
        postal_code: "60606",
        city: "Chicago",
        country: "US",
        currency: "USD",
    },
    Customer {
        number: 9,
        name: "Walter Nowhere",
        email: "walter.nowhere@example.org",
        phone: "+15555550100",
        line1: "1 Missing Way",
        postal_code: "00000",
        city: "Springfield",
        country: "US",
        currency: "USD",
    },
];

/// The customer whose address the carrier cannot verify.
pub const UNDELIVERABLE: usize = CUSTOMERS.len() - 1;

/// The ZIP code the simulated carrier refuses.
pub const UNKNOWN_ZIP: &str = "00000";

/// The catalog.
pub const PRODUCTS: [Product; 8] = [
    Product {
        sku: "MUG-CLASSIC",
        name: "Classic mug, 350 ml",
        price_minor: 1490,
        stock: 180,
    },
    Product {
        sku: "TEE-ORGANIC-M",
        name: "Organic T-shirt, M",
        price_minor: 2490,
        stock: 120,
    },
    Product {
        sku: "HOODIE-GREY-L",
        name: "Grey hoodie, L",
        price_minor: 5990,
        stock: 60,
    },
    Product {
        sku: "BOTTLE-STEEL",
        name: "Steel water bottle, 750 ml",
        price_minor: 2290,
        stock: 90,
    },
    Product {
        sku: "NOTEBOOK-A5",
        name: "Dotted notebook, A5",
        price_minor: 1290,
        stock: 240,
    },
    Product {
        sku: "TOTE-CANVAS",
        name: "Canvas tote bag",
        price_minor: 1590,
        stock: 150,
    },
    Product {
        sku: "CAP-NAVY",
        name: "Navy cap",
        price_minor: 1990,
        stock: 75,
    },
    Product {
        sku: "SOCKS-3PACK",
        name: "Socks, pack of 3",
        price_minor: 1190,
        stock: 300,
    },
];

/// The warehouse the ERP counts stock in.
pub const WAREHOUSE: &str = "main";
