#!/usr/bin/env python3
"""How soon a webhook's effect is readable (issue 16): from the webhook's 2xx answer to the read
model showing it.

Usage: webhook_latency.py BASE_URL TOKEN STRIPE_WEBHOOK_SECRET FIXTURE SAMPLES

For each sample, untimed: an order is placed and a Stripe payment of it requested through the
API. Then Stripe's `payment_intent.succeeded` for that payment (FIXTURE, Stripe's own event,
with the payment's id in its metadata and ids of its own) is delivered signed as Stripe signs,
and `GET /api/v1/payments/{id}` is read every millisecond until it says `captured`: the latency
is from the webhook's answer to the first read that shows it. Prints p50, p90, p99 and max.
Standard library only.
"""
import hashlib
import hmac
import http.client
import json
import sys
import time
import urllib.parse
import uuid

base, token, secret, fixture, samples = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
host = urllib.parse.urlparse(base)
writer = http.client.HTTPConnection(host.hostname, host.port)
reader = http.client.HTTPConnection(host.hostname, host.port)
auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
event_template = json.load(open(fixture))


def call(connection, method, path, body=None, headers=None):
    connection.request(method, path, body=body, headers=headers or auth)
    response = connection.getresponse()
    data = response.read()
    return response.status, (json.loads(data) if data else None)


def paid_by_webhook():
    status, order = call(writer, "POST", "/api/v1/orders", json.dumps({
        "customer_id": str(uuid.uuid4()), "currency": "EUR",
        "lines": [{"sku": "SKU-A", "name": "Mug", "quantity": 1, "unit_price_minor": 2500}],
        "shipping_address": {"recipient": "Ana Lima", "line1": "Hauptstrasse 1", "city": "Berlin", "country": "DE"},
    }))
    assert status == 201, (status, order)
    status, payment = call(writer, "POST", "/api/v1/payments", json.dumps({
        "order_id": order["id"], "amount_minor": 2500, "currency": "EUR", "provider": "stripe"}))
    assert status == 201, (status, payment)
    event = json.loads(json.dumps(event_template))
    event["id"] = f"evt_{uuid.uuid4().hex}"
    intent = event["data"]["object"]
    intent["id"] = f"pi_{uuid.uuid4().hex[:24]}"
    intent["latest_charge"] = f"ch_{uuid.uuid4().hex[:24]}"
    intent.update({"amount": 2500, "amount_received": 2500, "currency": "eur",
                   "metadata": {"payment_id": payment["id"], "order_id": order["id"]}})
    body = json.dumps(event)
    stamp = int(time.time())
    signature = hmac.new(secret.encode(), f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
    status, _ = call(writer, "POST", "/webhooks/stripe", body, {
        "Content-Type": "application/json", "Stripe-Signature": f"t={stamp},v1={signature}"})
    answered = time.perf_counter()
    assert 200 <= status < 300, status
    while True:
        status, read = call(reader, "GET", f"/api/v1/payments/{payment['id']}")
        if status == 200 and read["status"] == "captured":
            return time.perf_counter() - answered
        if time.perf_counter() - answered > 30:
            raise SystemExit(f"payment {payment['id']} not captured 30 s after its webhook")
        time.sleep(0.001)


latencies = sorted(paid_by_webhook() * 1000 for _ in range(samples))


def percentile(p):
    return latencies[min(len(latencies) - 1, int(round(p / 100 * len(latencies) + 0.5)) - 1)]


print(f"RESULT {len(latencies)} {percentile(50):.1f} {percentile(90):.1f} {percentile(99):.1f} {latencies[-1]:.1f}")
