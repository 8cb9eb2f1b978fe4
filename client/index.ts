/** herald's browser- and Node-safe client: `import { HeraldClient } from './client'`. See client/README.md. */
export { HeraldClient } from './HeraldClient';
export type { ConnectionState, HeraldClientEvents, HeraldClientOptions, Source, StateChange, SubscribeOptions } from './HeraldClient';
export { HeraldClientError, isRetryable, type ClientErrorCode } from './HeraldClientError';
export { Backoff, type BackoffOptions } from './Backoff';
export type { WireFormat } from './WireFormat';
export type { WebSocketConstructor, WebSocketLike } from './WebSocketLike';
export type { Cursor, EventType, HeraldEvent, Notification, PublishResult, ReadResult, Subscribed, TimelinePage, Tweet, UserId } from './Messages';
