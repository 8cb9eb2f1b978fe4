/**
 * The part of the WHATWG WebSocket the client uses: what browsers, Node 22's global `WebSocket` and the `ws`
 * package all provide. Keeping to it keeps `client/` free of Node imports.
 */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open', listener: (ev: unknown) => void): void;
  addEventListener(type: 'message', listener: (ev: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (ev: { code: number; reason: string | { toString(): string } }) => void): void;
  addEventListener(type: 'error', listener: (ev: unknown) => void): void;
}

/** A WebSocket class: `globalThis.WebSocket`, or `ws`'s default export in Node 20. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** `readyState` of an open socket. */
export const OPEN = 1;

/** The injected constructor, else the global one; throws when neither exists (Node 20 without `ws`). */
export function webSocketClass(injected?: WebSocketConstructor): WebSocketConstructor {
  const found = injected ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!found) {
    throw new TypeError("no WebSocket: pass the 'ws' package's WebSocket as the WebSocket option (Node < 22)");
  }
  return found;
}
