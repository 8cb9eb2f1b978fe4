// The outbound channels (docs/channels.md): re-exports only.
export { CHANNEL_NAMES, deliveryId, maskRecipient, type Channel, type ChannelName, type OutboundMessage, type OutboundNotification } from './Channel';
export { CHANNEL_DEFAULTS, resolveChannelConfig, type ChannelConfig, type EmailOptions, type WebhookOptions } from '../../../core/config/channels';
export { channelsFrom, type ChannelDeps } from './ChannelConfig';
export { CHANNEL_ERROR_CODES, ChannelError, type ChannelErrorCode, type ChannelErrorDetails } from './ChannelError';
export { EmailChannel, type EmailDeps } from './EmailChannel';
export { excerpt, graphemeLength } from './Excerpt';
export { LOCALES, NOTIFICATION_TYPES, type LocaleStrings, type NotificationType, type PartialLocaleStrings } from './Locales';
export { LIMITS, Templates, escapeHtml, interpolate, type EmailContent, type PushContent, type SmsContent, type TemplatesOptions } from './Templates';
export { WebhookChannel, parseRetryAfter, type WebhookDeps, type WebhookPayload } from './WebhookChannel';
export { DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signWebhook, verifyWebhook, type WebhookRequest } from './WebhookSignature';
