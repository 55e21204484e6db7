"""Fills the ERP's catalog and the CRM's contacts of the server scripts/schemathesis.sh runs, as
production does: signed Standard Webhooks deliveries, processed by the webhook worker. Their
lists then answer with items, so that schemathesis checks the rows against the document too.

Usage: schemathesis_seed.py BASE_URL, with the secrets the server has in
BACKOFFICE_WEBHOOKS__ERP and BACKOFFICE_WEBHOOKS__CRM and an admin token in SCHEMATHESIS_TOKEN.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.request

AT = "2026-03-01T10:00:00Z"
ERP = [
    {"type": "product.updated", "timestamp": AT, "data": {"sku": sku, "name": f"Product {sku}",
        "price_minor": price, "currency": "EUR", "active": active}}
    for sku, price, active in [("A-10", 500, True), ("A-2", 450, True), ("A.1", 300, True),
                               ("B-2", 200, False), ("a-1", 0, True)]
] + [
    {"type": "stock.updated", "timestamp": AT, "data": {"sku": sku, "warehouse": warehouse,
        "available": available}}
    for sku, warehouse, available in [("A-2", None, 7), ("A-2", "BER-1", 3),
                                      ("A-2", "Lager~Süd", 0), ("A-10", "BER-1", 12)]
]
CRM = [
    {"type": "contact.updated", "timestamp": AT, "data": {
        "customer_id": f"0190e8a0-0000-7000-8000-0000000000c{n}", "name": name,
        "email": f"customer{n}@example.com", "phone": phone}}
    for n, name, phone in [(1, "Jenny Rosen", "+4930123456"), (2, "Ana Lima", None)]
]


def deliver(base, source, secret, message_id, body):
    key = base64.b64decode(secret.removeprefix("whsec_"))
    timestamp = str(int(time.time()))
    data = json.dumps(body).encode()
    signed = f"{message_id}.{timestamp}.".encode() + data
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    request = urllib.request.Request(
        f"{base}/webhooks/{source}", data=data, method="POST",
        headers={"content-type": "application/json", "webhook-id": message_id,
                 "webhook-timestamp": timestamp, "webhook-signature": f"v1,{signature}"})
    with urllib.request.urlopen(request) as response:
        if response.status not in (200, 202):
            sys.exit(f"{source} delivery {message_id}: {response.status}")


def count(base, path):
    request = urllib.request.Request(
        f"{base}{path}", headers={"authorization": f"Bearer {os.environ['SCHEMATHESIS_TOKEN']}"})
    with urllib.request.urlopen(request) as response:
        return len(json.load(response)["items"])


def main():
    base = sys.argv[1]
    for i, body in enumerate(ERP):
        deliver(base, "erp", os.environ["BACKOFFICE_WEBHOOKS__ERP"], f"msg_seed_erp_{i}", body)
    for i, body in enumerate(CRM):
        deliver(base, "crm", os.environ["BACKOFFICE_WEBHOOKS__CRM"], f"msg_seed_crm_{i}", body)
    wanted = "/api/v1/admin/webhooks/deliveries?status=done&limit=200"
    for _ in range(100):
        if count(base, wanted) == len(ERP) + len(CRM):
            return
        time.sleep(0.1)
    sys.exit("the seeded deliveries were not all processed within 10 s")


if __name__ == "__main__":
    main()
