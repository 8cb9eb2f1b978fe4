import { createHmac, timingSafeEqual } from 'node:crypto';

/** `sha256=<hex>`: HMAC-SHA256 with the channel's secret over `${timestamp}.${body}`. */
export const SIGNATURE_HEADER = 'X-Herald-Signature';
/** Unix time in seconds when the request was signed; part of the signed string, so a replay cannot refresh it. */
export const TIMESTAMP_HEADER = 'X-Herald-Timestamp';
/** The delivery id, also `id` in the body: the same on every retry of one delivery. */
export const DELIVERY_HEADER = 'X-Herald-Delivery';

/** Signs a webhook body: what herald sends in X-Herald-Signature, and what a provider recomputes to check it. */
export function signWebhook(secret: string, timestamp: number | string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export interface WebhookRequest {
  /** The X-Herald-Signature header. */
  signature: string | undefined;
  /** The X-Herald-Timestamp header. */
  timestamp: string | undefined;
  /** The raw body, exactly as received (before any JSON parsing). */
  body: string;
}

/**
 * A provider's check of a herald webhook (the reference for docs/channels.md): the signature matches, compared in
 * constant time, and the timestamp is within `toleranceSec` of `nowMs`, so a captured request cannot be replayed later.
 */
export function verifyWebhook(secret: string, req: WebhookRequest, toleranceSec = 300, nowMs = Date.now()): boolean {
  if (!req.signature || !req.timestamp || !/^\d{1,12}$/.test(req.timestamp)) return false;
  if (Math.abs(nowMs / 1000 - Number(req.timestamp)) > toleranceSec) return false;
  const expected = Buffer.from(signWebhook(secret, req.timestamp, req.body));
  const given = Buffer.from(req.signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
